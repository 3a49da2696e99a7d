"""The bundled sample models: committed circuits load, committed models do what the README says,
and the MLP's example input proves to a verified receipt naming its label."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from zkinfer import Prover, load_circuit, verify_receipt
from zkinfer.core.crypto.digest import digest_file
from zkinfer.core.formats.circuit import COMPILED_FILE, MANIFEST_FILE, MODEL_FILE, SETTINGS_FILE
from zkinfer.core.formats.inputs import load_sample
from zkinfer.prover.runtime import FastSession

pytestmark = pytest.mark.e2e  # compiles models and proves: not in the quick loop

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
NAMES = ("digits_mlp", "digits_cnn")


def example(name: str) -> list[np.ndarray]:
    circuit = load_circuit(REPO / "circuits" / name)
    return load_sample(MODELS / f"{name}_input.json", circuit.input_specs)


def recorded_label(name: str) -> int:
    """The example input's label as models/README.md states it."""
    match = re.search(rf"`{name}_input\.json`.*label \*\*(\d)\*\*", (MODELS / "README.md").read_text())
    assert match, f"models/README.md records no label for {name}_input.json"
    return int(match.group(1))


@pytest.mark.parametrize("name", NAMES)
def test_committed_circuit_loads_and_is_of_the_committed_model(name: str) -> None:
    folder = REPO / "circuits" / name
    circuit = load_circuit(folder)  # checks every file against the manifest's digests
    assert circuit.manifest.model_digest == digest_file(MODELS / f"{name}.onnx")
    assert {p.name for p in folder.iterdir()} == {
        MODEL_FILE,
        SETTINGS_FILE,
        COMPILED_FILE,
        MANIFEST_FILE,
    }  # no keys, no SRS
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1_000_000
    chosen = [c for c in circuit.manifest.search if c.chosen]
    assert len(chosen) == 1 and chosen[0].logrows == circuit.logrows <= 17
    assert circuit.manifest.calibration_samples == 32


@pytest.mark.parametrize("name", NAMES)
def test_example_input_is_a_test_sample_with_the_recorded_label(name: str) -> None:
    pytest.importorskip("sklearn")
    from models.digits import load_split

    _, x_test, _, y_test = load_split()
    pixels = example(name)[0].ravel()
    index = int(np.flatnonzero((x_test == pixels).all(axis=1))[0])
    assert int(y_test[index]) == recorded_label(name)
    logits = FastSession(MODELS / f"{name}.onnx", prefer_gpu=False).run(example(name))[0]
    assert int(np.argmax(logits)) == recorded_label(name)


@pytest.mark.parametrize("name", NAMES)
def test_committed_onnx_is_accurate_on_the_held_out_split(name: str) -> None:
    pytest.importorskip("sklearn")
    from models.digits import load_split

    _, x_test, _, y_test = load_split()
    circuit = load_circuit(REPO / "circuits" / name)
    session = FastSession(circuit.model_path, prefer_gpu=False)
    shape = circuit.input_specs[0].shape
    predicted = np.array([int(np.argmax(session.run([x.reshape(shape)])[0])) for x in x_test])
    assert float(np.mean(predicted == y_test)) >= 0.9


@pytest.mark.parametrize("name", NAMES)
def test_build_gives_the_committed_onnx_model(name: str) -> None:
    """`zkinfer export models.NAME:build` exports the same trained network as the committed ONNX."""
    torch = pytest.importorskip("torch")
    from zkinfer.prover.export import load_factory

    module = load_factory(f"models.{name}:build")
    sample = example(name)
    with torch.no_grad():
        want = module(torch.from_numpy(sample[0])).numpy()
    got = FastSession(MODELS / f"{name}.onnx", prefer_gpu=False).run(sample)[0]
    assert np.allclose(got, want, atol=1e-5)


def test_missing_weights_name_the_file_and_the_fix(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from models import digits_mlp, weights
    from zkinfer.core.support.errors import ExportError

    with pytest.raises(ExportError, match=r"missing\.npz.*python -m models\.train"):
        weights.load_into(digits_mlp.architecture(), tmp_path / "missing.npz")


# The CNN's SRS, key setup and proof take ~20 s on two busy cores: run it with `-m slow`.
@pytest.mark.parametrize("name", ["digits_mlp", pytest.param("digits_cnn", marks=pytest.mark.slow)])
def test_example_input_proves_to_a_verified_receipt_of_its_label(name: str) -> None:
    prover = Prover(REPO / "circuits" / name, prefer_gpu=False)
    receipt = prover.prove(prover.load_input(MODELS / f"{name}_input.json"))
    verdict = verify_receipt(receipt)
    assert verdict.verified, verdict.summary
    assert int(np.argmax(receipt.output.tensors[0].values)) == recorded_label(name)
    assert receipt.model.model_digest == digest_file(MODELS / f"{name}.onnx")
