"""Shared fixtures: one isolated cache, one tiny compiled circuit and real proofs per test session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import tiny


@pytest.fixture(scope="session", autouse=True)
def zk_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session gets its own empty $ZKINFER_HOME (SRS, keys), like a fresh machine."""
    home = tmp_path_factory.mktemp("zkinfer-home")
    os.environ["ZKINFER_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    tiny.mlp(folder / "model.onnx")
    tiny.samples(folder / "calibration.json", n=16, size=8)
    (folder / "input.json").write_text(json.dumps({"input_data": [[0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]]}))
    return folder


@pytest.fixture(scope="session")
def tiny_circuit(tiny_dir: Path) -> Path:
    """The tiny MLP compiled (no run-args search, to keep the session fast) with keys set up."""
    from zkinfer import compile_model
    from zkinfer.keys import ensure

    circuit = compile_model(tiny_dir / "model.onnx", tiny_dir / "calibration.json", tiny_dir / "circuit", search=False)
    ensure(circuit)
    return circuit.path


@pytest.fixture(scope="session")
def node_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from zkinfer import identity

    path = tmp_path_factory.mktemp("node") / "node.key"
    identity.save_key(identity.new_key(), path)
    return path


@pytest.fixture(scope="session")
def receipt_file(tiny_dir: Path, tiny_circuit: Path, node_key_file: Path) -> Path:
    """A genuine signed receipt for the tiny circuit (tests copy it before tampering)."""
    from zkinfer import identity
    from zkinfer.prove import Prover
    from zkinfer.receipt import save

    prover = Prover(tiny_circuit, signer=identity.load_key(node_key_file))
    path = tiny_dir / "receipt.json"
    save(prover.prove(prover.load_input(tiny_dir / "input.json")), path)
    return path
