"""Shared fixtures: one isolated cache, one tiny compiled circuit and real proofs per test session."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests import tiny

# Tests that need a compiled circuit, its keys or a real proof (these session fixtures: a minute or
# more of CPU before the first such test runs) are end-to-end; `pytest -m "not e2e"` is the quick loop.
E2E_FIXTURES = frozenset(
    {
        "tiny_circuit",
        "small_circuit",
        "receipt_file",
        "ceremony_receipt_file",
        "hashed_circuit",
        "hashed_receipt_file",
        "batch_circuits",
        "split_circuit_dir",
        "split_receipt_file",
    }
)


# Every process the test run starts inherits this variable (value: this run's own), so one left
# running at the end is found however far it was reparented (an orphan's parent becomes PID 1).
SESSION_MARK = "ZKINFER_TEST_SESSION"
LEFTOVER_GRACE_S = float(
    os.environ.get("ZKINFER_TEST_LEFTOVER_GRACE_S", "30")
)  # for processes being stopped (a Ray shutdown, a node's last worker)


def pytest_configure(config: pytest.Config) -> None:
    os.environ[SESSION_MARK] = f"{os.getpid()}-{time.time_ns()}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any process it started is still running (then stop them): a stopped node or
    gateway, or a test, leaves none (issue 18: 32 orphans of the gateway tests held 1.6 GB)."""
    from tests import processes

    mark = os.environ.get(SESSION_MARK)
    if mark is None:
        return
    worker = sys.modules.get("zkinfer.core.zkp.ezkl_worker")
    if worker is not None:
        worker.stop()  # this process's own verify worker lives until exit by design: stop it before looking
    # this process's multiprocessing resource tracker (started by a spawn-context pool here, such as the
    # watcher's verifier) also lives until exit, and exits with it: no leftover
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    own = {tracker._resource_tracker._pid} if tracker is not None else set()
    left = processes.wait_gone([p for p in processes.marked(SESSION_MARK, mark) if p not in own], LEFTOVER_GRACE_S)
    if not left:
        return
    lines = [
        f"{len(left)} process(es) started by this test run are still running {LEFTOVER_GRACE_S:.0f} s after its end "
        "(now killed):"
    ]
    lines += [f"  pid {pid}: {processes.command_line(pid)}" for pid in left]
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("\n".join(lines), red=True, bold=True)
    else:
        print("\n".join(lines), file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


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
    from zkinfer.prover.keys import ensure

    circuit = compile_model(tiny_dir / "model.onnx", tiny_dir / "calibration.json", tiny_dir / "circuit", search=False)
    ensure(circuit)
    return circuit.path


@pytest.fixture(scope="session")
def node_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from zkinfer.core.crypto import identity

    path = tmp_path_factory.mktemp("node") / "node.key"
    identity.save_key(identity.new_key(), path)
    return path


@pytest.fixture(scope="session")
def receipt_file(tiny_dir: Path, tiny_circuit: Path, node_key_file: Path) -> Path:
    """A genuine signed receipt for the tiny circuit (tests copy it before tampering)."""
    return prove_signed(tiny_circuit, tiny_dir / "input.json", tiny_dir / "receipt.json", node_key_file)


def prove_signed(
    circuit_dir: Path, input_file: Path, out: Path, key_file: Path, allow_development_srs: bool = True
) -> Path:
    """Prove `input_file` with the circuit, sign with the node key, save the receipt to `out`."""
    from zkinfer.core.crypto import identity
    from zkinfer.core.formats.receipt import save
    from zkinfer.prover.prove import Prover

    prover = Prover(circuit_dir, signer=identity.load_key(key_file), allow_development_srs=allow_development_srs)
    save(prover.prove(prover.load_input(input_file)), out)
    return out


SMALL_DECOMPOSITION = (1024, 3)  # k=12 for the tiny MLP instead of ezkl's default k=15: proofs in ~2 s


def link_tree(src: Path, dst: Path) -> None:
    """Copy a cache directory cheaply (hard links; files are replaced, never edited, in place)."""
    import shutil

    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link)


@pytest.fixture(scope="session")
def ceremony_receipt_file(
    zk_home: Path, tiny_circuit: Path, node_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A genuine signed receipt for another input, proven on a machine where the SRS was imported
    as a ceremony one (`zkinfer srs import`), so it is not marked development."""
    from zkinfer.core.crypto import srs

    folder = tmp_path_factory.mktemp("ceremony")
    link_tree(zk_home, folder / "home")
    (folder / "input.json").write_text(json.dumps({"input_data": [[0.8, 0.2, 0.0, 0.6, 0.9, 0.1, 0.5, 0.3]]}))
    os.environ["ZKINFER_HOME"] = str(folder / "home")
    try:
        for path in sorted((folder / "home" / "srs").glob("*/k*.srs")):
            srs.import_file(path)
        prove_signed(
            tiny_circuit, folder / "input.json", folder / "receipt.json", node_key_file, allow_development_srs=False
        )
    finally:
        os.environ["ZKINFER_HOME"] = str(zk_home)
    return folder / "receipt.json"


@pytest.fixture(scope="session")
def small_circuit(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny MLP (model name "circuit", as `tiny_circuit`) with a small decomposition (k=11 or 12):
    proofs in ~0.5-2 s instead of ~10 s, for the tests that run many nodes and many proofs."""
    from zkinfer import compile_model
    from zkinfer.prover.keys import ensure

    made = compile_model(
        tiny_dir / "model.onnx",
        tiny_dir / "calibration.json",
        tmp_path_factory.mktemp("small-circuit") / "circuit",
        search=False,
        decomposition=SMALL_DECOMPOSITION,
    )
    ensure(made)
    return made.path


@pytest.fixture(scope="session")
def batch_circuits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A circuits folder holding "tiny4": the tiny MLP with a symbolic batch axis, compiled for batch 4
    with the small decomposition (k=11: keys in ~1 s, a batch proof in ~1 s instead of ~8 s at k=15),
    keys set up here, not in the node. Shared by the node's batching tests (test_node, test_node_statements)."""
    from zkinfer import compile_model
    from zkinfer.prover.keys import ensure

    folder = tmp_path_factory.mktemp("batch")
    model = tiny.with_batch_axis(tiny.mlp(folder / "fixed.onnx"), folder / "model.onnx")
    tiny.samples(folder / "calibration.json", n=16, size=8)
    made = compile_model(
        model,
        folder / "calibration.json",
        folder / "circuits" / "tiny4",
        search=False,
        batch_size=4,
        decomposition=SMALL_DECOMPOSITION,
    )
    ensure(made)
    return folder / "circuits"


@pytest.fixture(scope="session")
def hashed_circuit(tiny_dir: Path) -> Path:
    """The tiny MLP with a private input and private weights: both are Poseidon commitments."""
    from zkinfer import Visibility, compile_model
    from zkinfer.prover.keys import ensure

    circuit = compile_model(
        tiny_dir / "model.onnx",
        tiny_dir / "calibration.json",
        tiny_dir / "hashed",
        decomposition=SMALL_DECOMPOSITION,
        visibility=Visibility(input="hashed", params="hashed"),
    )
    ensure(circuit)
    return circuit.path


@pytest.fixture(scope="session")
def hashed_receipt_file(tiny_dir: Path, hashed_circuit: Path, node_key_file: Path) -> Path:
    """A genuine signed receipt from `hashed_circuit` for tiny_dir/input.json."""
    return prove_signed(hashed_circuit, tiny_dir / "input.json", tiny_dir / "hashed_receipt.json", node_key_file)


@pytest.fixture(scope="session")
def split_circuit_dir(tiny_dir: Path) -> Path:
    """The tiny MLP cut at h0 into two segments linked by a Poseidon hash (small decomposition)."""
    from zkinfer.prover.split import compile_split

    options: dict[str, Any] = {"cuts": ["h0"], "search": False, "decomposition": SMALL_DECOMPOSITION}
    sources = (tiny_dir / "model.onnx", tiny_dir / "calibration.json")
    return compile_split(*sources, tiny_dir / "split", link="hashed", **options).path


@pytest.fixture(scope="session")
def split_receipt_file(tiny_dir: Path, split_circuit_dir: Path, node_key_file: Path) -> Path:
    """A genuine signed split receipt (zkinfer.receipt/2) of `split_circuit_dir` for tiny_dir/input.json."""
    from zkinfer.core.crypto import identity
    from zkinfer.core.formats import split_receipt
    from zkinfer.prover.prove import prove_receipt

    receipt = prove_receipt(split_circuit_dir, tiny_dir / "input.json", signer=identity.load_key(node_key_file))
    split_receipt.save(receipt, tiny_dir / "split_receipt.json")
    return tiny_dir / "split_receipt.json"
