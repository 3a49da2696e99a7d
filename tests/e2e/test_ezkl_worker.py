"""The ezkl worker processes (`zkinfer.core.zkp.ezkl_worker`): ezkl on untrusted input, away from the caller.

What a user of the module relies on: the verify worker checks a real receipt's proof, is started once
and reused, is replaced after it died (killed between calls, or while checking a proof: that proof
fails, the next one is checked), and `stop()` leaves no process. A prove worker tells a proof over its
memory ceiling (`memory`) from bad input (neither flag) and from a worker that was killed (`lost`),
which is what the executors turn into typed errors. Real ezkl and real processes throughout.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import processes
from tests.waiting import wait_until
from zkinfer.core.formats.circuit import load as load_circuit
from zkinfer.core.formats.receipt import load as load_receipt
from zkinfer.core.zkp import ezkl_adapter, ezkl_worker, ezkl_worker_wire
from zkinfer.core.zkp.ezkl_worker import ProveAnswer, ProveProcess
from zkinfer.prover import keys

TOO_LITTLE = 80 << 20  # above what a prove worker needs to start, below what a proof of the small circuit takes


def verify_workers() -> list[int]:
    """The live verify workers this test process started (a prove or one-shot worker has arguments)."""
    return [
        pid for pid in processes.children(os.getpid()) if processes.command_line(pid).endswith(ezkl_worker_wire.SCRIPT)
    ]


def the_verify_worker() -> int:
    workers = verify_workers()
    assert len(workers) == 1, f"expected one verify worker, found {workers}"
    return workers[0]


@dataclass(frozen=True)
class ProofFiles:
    """A receipt's proof, settings, key and reduced SRS as the files the verify worker reads."""

    proof: Path
    settings: Path
    vk: Path
    srs: Path

    def verify(self, proof: Path | None = None, on_sent: Callable[[], None] = lambda: None) -> tuple[bool, str]:
        proof = proof or self.proof
        return ezkl_worker.verify(str(proof), str(self.settings), str(self.vk), str(self.srs), True, on_sent)


@pytest.fixture(scope="module")
def files(receipt_file: Path, tmp_path_factory: pytest.TempPathFactory) -> ProofFiles:
    receipt = load_receipt(receipt_file)
    folder = tmp_path_factory.mktemp("worker-files")
    made = ProofFiles(folder / "proof.json", folder / "settings.json", folder / "vk", folder / "srs")
    ezkl_adapter.write_proof_file(made.proof, receipt.proof.hex, receipt.proof.instances)
    made.settings.write_text(json.dumps(receipt.model.settings))
    made.vk.write_bytes(receipt.model.verifying_key)
    made.srs.write_bytes(receipt.srs.reduced)
    tampered = bytearray(receipt.proof.hex)
    tampered[100] ^= 1
    ezkl_adapter.write_proof_file(folder / "tampered.json", bytes(tampered), receipt.proof.instances)
    return made


@pytest.fixture
def no_verify_worker() -> Iterator[None]:
    """Each test starts with no verify worker (an earlier test's may be running) and leaves none."""
    ezkl_worker.stop()
    yield
    ezkl_worker.stop()


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not processes.alive(pid), what=f"worker {pid} gone after SIGKILL", timeout_s=10)


def test_a_real_receipt_verifies_in_one_worker_that_the_next_call_reuses(
    files: ProofFiles, no_verify_worker: None
) -> None:
    assert verify_workers() == []
    assert files.verify() == (True, "")
    first = the_verify_worker()
    assert files.verify() == (True, "")
    assert the_verify_worker() == first  # ezkl imported once, not per proof


def test_a_bad_proof_or_a_missing_file_fails_naming_ezkls_error_and_the_worker_lives_on(
    files: ProofFiles, no_verify_worker: None
) -> None:
    assert files.verify() == (True, "")
    worker = the_verify_worker()
    ok, reason = files.verify(files.proof.with_name("tampered.json"))
    assert not ok and reason.startswith("RuntimeError: ") and "proof" in reason, reason
    ok, reason = files.verify(files.proof.with_name("missing.json"))
    assert not ok and "No such file" in reason, reason
    assert the_verify_worker() == worker and files.verify() == (True, "")


def test_a_worker_killed_between_calls_is_replaced_by_the_next_call(files: ProofFiles, no_verify_worker: None) -> None:
    ezkl_worker.prestart()
    killed = the_verify_worker()
    kill(killed)
    assert files.verify() == (True, "")
    assert the_verify_worker() != killed


def test_a_worker_that_dies_checking_a_proof_fails_that_proof_and_the_next_is_checked(
    files: ProofFiles, no_verify_worker: None
) -> None:
    """As when a hostile receipt makes ezkl abort or segfault: that receipt fails, nothing raises."""
    ezkl_worker.prestart()
    dying = the_verify_worker()
    ok, reason = files.verify(on_sent=lambda: os.kill(dying, signal.SIGKILL))
    assert not ok and "ezkl crashed" in reason, reason
    assert not processes.alive(dying) and verify_workers() == []  # reaped, not left a zombie to the next call
    assert files.verify() == (True, "")
    assert the_verify_worker() != dying


def test_stop_leaves_no_worker_and_the_next_call_starts_one(files: ProofFiles, no_verify_worker: None) -> None:
    assert files.verify() == (True, "")
    worker = the_verify_worker()
    ezkl_worker.stop()
    assert not processes.alive(worker) and verify_workers() == []
    ezkl_worker.stop()  # stopping no worker is fine
    assert files.verify() == (True, "")
    assert the_verify_worker() != worker


# ---- the prove worker -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProveFiles:
    witness: Path
    compiled: Path
    pk: Path
    srs: Path

    def prove(self, worker: ProveProcess, proof: Path, witness: Path | None = None) -> ProveAnswer:
        return worker.prove(str(witness or self.witness), str(self.compiled), str(self.pk), str(proof), str(self.srs))


@pytest.fixture(scope="module")
def prove_files(small_circuit: Path, tmp_path_factory: pytest.TempPathFactory) -> ProveFiles:
    circuit = load_circuit(small_circuit)
    made = keys.ensure(circuit)
    folder = tmp_path_factory.mktemp("prove-files")
    (folder / "input.json").write_text(json.dumps({"input_data": [[0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]]}))
    ezkl_adapter.gen_witness(folder / "input.json", circuit.compiled_path, folder / "witness.json")
    return ProveFiles(folder / "witness.json", circuit.compiled_path, made.pk, made.srs.path)


def test_a_prove_worker_proves_reports_what_it_used_and_is_reused_then_closed(
    prove_files: ProveFiles, tmp_path: Path
) -> None:
    worker = ProveProcess()
    try:
        first = prove_files.prove(worker, tmp_path / "one.json")
        assert (first.ok, first.memory, first.lost) == (True, False, False), first
        assert first.pid == worker.pid and first.seconds > 0 and first.peak_rss_bytes > 0
        assert json.loads((tmp_path / "one.json").read_text())["instances"]
        second = prove_files.prove(worker, tmp_path / "two.json")
        assert second.ok and second.pid == first.pid  # one process, ezkl imported once
    finally:
        worker.close()
    assert worker.pid is None and not processes.alive(first.pid)


def test_a_proof_over_the_memory_ceiling_is_a_memory_failure_not_a_lost_worker(
    prove_files: ProveFiles, tmp_path: Path
) -> None:
    worker = ProveProcess(memory_bytes=TOO_LITTLE)
    try:
        answer = prove_files.prove(worker, tmp_path / "proof.json")
    finally:
        worker.close()
    assert (answer.ok, answer.memory, answer.lost) == (False, True, False), answer


def test_bad_input_is_neither_a_memory_failure_nor_a_lost_worker_and_the_worker_serves_on(
    prove_files: ProveFiles, tmp_path: Path
) -> None:
    worker = ProveProcess()
    missing = tmp_path / "no-witness.json"
    try:
        bad = prove_files.prove(worker, tmp_path / "bad.json", witness=missing)
        assert (bad.ok, bad.memory, bad.lost) == (False, False, False), bad
        assert str(missing) in bad.reason and "No such file" in bad.reason, bad.reason
        good = prove_files.prove(worker, tmp_path / "good.json")
        assert good.ok and good.pid == bad.pid
    finally:
        worker.close()


def test_a_prove_worker_killed_mid_proof_is_lost_and_the_next_proof_gets_a_fresh_one(
    prove_files: ProveFiles, tmp_path: Path
) -> None:
    worker = ProveProcess()
    answers: list[ProveAnswer] = []
    try:
        proving = threading.Thread(target=lambda: answers.append(prove_files.prove(worker, tmp_path / "lost.json")))
        proving.start()
        killed = wait_until(lambda: worker.pid, what="the prove worker started", timeout_s=30)
        os.kill(killed, signal.SIGKILL)
        proving.join(60)
        assert answers, "prove() did not return after its worker was killed"
        [lost] = answers
        assert (lost.ok, lost.memory, lost.lost) == (False, False, True), lost
        assert "killed by signal 9" in lost.reason, lost.reason
        again = prove_files.prove(worker, tmp_path / "again.json")
        assert again.ok and again.pid != killed
    finally:
        worker.close()
