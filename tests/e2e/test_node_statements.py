"""The node signs, the moment it answers, the statement its proof will attest, and promises to prove it.

Real `zkinfer serve` subprocesses on loopback with the tiny circuit; the statement in the answer is
checked against the receipt the node serves later (`statement.from_receipt`), the promise against
the statement and the receipt id. Also: the request id rule, refusing an input no proof could cover
(nothing queued), `/v1/identity`, `zkinfer keys show`, concurrent requests sharing witness runs,
provers running under SCHED_IDLE, a killed statement worker (503, replaced) and a stop that leaves no
worker behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests import processes
from tests.cli import zkinfer
from tests.node_harness import MODEL, SAMPLE, RunningNode, copy_circuits, start_node
from tests.waiting import wait_until
from zkinfer.core.crypto import bls, identity
from zkinfer.core.formats import statement
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.formats.statement import SignedPromise, SignedStatement
from zkinfer.core.support.errors import InputError

PROVE_WITHIN_S = 120


@pytest.fixture(scope="module")
def node(tiny_circuit: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    circuits = copy_circuits(tiny_circuit, tmp_path_factory.mktemp("circuits"))
    running = start_node(
        circuits,
        tmp_path_factory.mktemp("node") / "state",
        "--prove-within",
        str(PROVE_WITHIN_S),
        "--worker-priority",
        "idle",
        statement_workers=2,  # a pool of more than one: the kill test stops them all
    )
    yield running
    workers = processes.children(running.process.pid)
    running.stop()
    assert processes.wait_gone(workers, 10) == [], "a clean stop leaves no prover or statement worker"


def _workers(node: RunningNode, name: str) -> list[int]:
    """The node's worker processes of one pool, by the name each carries in /proc/PID/comm."""
    return [
        pid for pid in processes.children(node.process.pid) if Path(f"/proc/{pid}/comm").read_text().strip() == name
    ]


def _infer(node: RunningNode, values: list[float], request_id: str | None = None, model: str = MODEL) -> httpx.Response:
    body: dict[str, object] = {
        "inputs": [{"name": "input", "shape": [1, len(values)], "datatype": "FP32", "data": values}]
    }
    if request_id is not None:
        body["id"] = request_id
    return httpx.post(f"{node.url}/v2/models/{model}/infer", json=body, headers=node.auth, timeout=120)


def _signed(response: httpx.Response) -> tuple[SignedStatement, SignedPromise]:
    params = response.json()["parameters"]
    return SignedStatement.from_json(params["zkinfer_statement"]), SignedPromise.from_json(params["zkinfer_promise"])


def _jobs(node: RunningNode) -> int:
    with sqlite3.connect(f"file:{node.state_dir / 'jobs.sqlite3'}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


def test_the_answer_carries_a_signed_statement_that_its_receipt_proves(node: RunningNode) -> None:
    before = int(time.time())
    response = _infer(node, SAMPLE, request_id="client-req:42")
    after = int(time.time())
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "client-req:42"
    signed, promised = _signed(response)
    signed.verify()  # a valid signature over exactly these statement bytes
    promised.verify()
    who = httpx.get(f"{node.url}/v1/identity").json()
    assert signed.public_key.hex() == promised.public_key.hex() == who["public_key"] == node.public_key
    said = signed.statement
    assert said.request_id == "client-req:42"  # the OIP request id, when the client gives one
    receipt_id = response.json()["parameters"]["receipt_id"]
    promise = promised.promise
    assert promise.statement_digest == said.digest() and promise.receipt_id == receipt_id
    assert before + PROVE_WITHIN_S <= promise.prove_by <= after + PROVE_WITHIN_S

    proven = node.receipt(receipt_id)
    assert proven.status_code == 200, proven.text
    receipt = Receipt.model_validate_json(proven.text)
    assert (
        statement.from_receipt(receipt, "client-req:42", row=int(proven.headers["Zkinfer-Batch-Row"]), rows=1) == said
    )
    assert said.dequantized()[0] == pytest.approx(
        receipt.output.tensors[0].values
    )  # the proven output, not the float one


def test_without_an_id_the_receipt_id_is_the_request_id(node: RunningNode) -> None:
    response = _infer(node, [0.2] * 8)
    assert response.status_code == 200, response.text
    signed, promised = _signed(response)
    assert signed.statement.request_id == promised.promise.receipt_id == response.json()["parameters"]["receipt_id"]


def test_another_input_is_another_statement_and_the_same_input_the_same_claim(node: RunningNode) -> None:
    a, b, c = (
        _signed(_infer(node, values, request_id=rid))[0].statement
        for values, rid in ((SAMPLE, "a"), (SAMPLE, "b"), ([0.3] * 8, "c"))
    )
    assert a.claim() == b.claim() and a.output == b.output and a.digest() != b.digest()  # the request id is signed too
    assert a.claim() != c.claim()


@pytest.mark.parametrize("bad_id", ["has space", "x" * 129, "", "ünïcode", 12345])
def test_an_id_that_cannot_be_a_request_id_is_a_422_naming_id(node: RunningNode, bad_id: object) -> None:
    jobs = _jobs(node)
    body = {"id": bad_id, "inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": SAMPLE}]}
    response = httpx.post(f"{node.url}/v2/models/{MODEL}/infer", json=body, headers=node.auth, timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith("id: ")
    assert _jobs(node) == jobs


def test_an_input_no_proof_could_cover_is_refused_at_once_and_nothing_is_queued(node: RunningNode) -> None:
    jobs = _jobs(node)
    response = _infer(node, [1e5] * 8)  # finite, so the float model answers it, but far outside the calibrated range
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error.startswith("inputs: ") and "calibrated" in error and "witness" in error
    assert str(node.state_dir) not in error and "/tmp" not in error  # no server paths in the message
    assert _jobs(node) == jobs
    metrics = httpx.get(f"{node.url}/metrics", headers=node.auth).text
    assert 'zkinfer_rejected_total{reason="unprovable"} 1.0' in metrics
    assert _infer(node, SAMPLE).status_code == 200  # and the node goes on serving


def test_identity_needs_no_key_and_proves_possession(node: RunningNode) -> None:
    response = httpx.get(f"{node.url}/v1/identity")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"scheme", "public_key", "proof_of_possession"}
    assert body["scheme"] == "bls12-381-g2-pop" and body["public_key"] == node.public_key
    public_key, pop = bytes.fromhex(body["public_key"]), bytes.fromhex(body["proof_of_possession"])
    assert bls.pop_verify(public_key, pop)
    assert not bls.pop_verify(identity.new_key().public_key, pop)  # bound to this key


def _policy(tid: int) -> int:
    return os.sched_getscheduler(tid)


def test_provers_run_under_sched_idle_but_not_their_store_thread_nor_the_web_process(node: RunningNode) -> None:
    workers = _workers(node, "zkinfer-prover")
    assert workers, processes.children(node.process.pid)
    for pid in workers:
        others = [int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid]
        assert others and all(_policy(tid) == os.SCHED_IDLE for tid in others), (
            "every thread that proves (ezkl's, onnxruntime's, BLAS's) runs under SCHED_IDLE"
        )
        # the main thread writes the store: never starved while it holds the SQLite lock the web process needs
        assert _policy(pid) == os.SCHED_OTHER and os.getpriority(os.PRIO_PROCESS, pid) == 10
    assert all(_policy(int(tid)) == os.SCHED_OTHER for tid in os.listdir(f"/proc/{node.process.pid}/task"))
    signers = _workers(node, "zkinfer-signer")  # the statement workers: on the answer's path, never starved
    assert signers and all(
        _policy(pid) == os.SCHED_OTHER and os.getpriority(os.PRIO_PROCESS, pid) == 0 for pid in signers
    )


def _witness_runs(node: RunningNode) -> float:
    text = httpx.get(f"{node.url}/metrics", headers=node.auth).text
    (line,) = [line for line in text.splitlines() if line.startswith("zkinfer_statement_witness_runs ")]
    return float(line.split()[1])


def test_a_killed_statement_worker_fails_its_answer_with_503_and_is_replaced(node: RunningNode) -> None:
    signers = _workers(node, "zkinfer-signer")
    assert len(signers) >= 1
    jobs, runs = _jobs(node), _witness_runs(node)
    for pid in signers:  # frozen: the next request's run is handed to one of them and stays there
        os.kill(pid, signal.SIGSTOP)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_infer, node, SAMPLE)
        wait_until(lambda: _witness_runs(node) > runs, what="the request's witness run handed over", timeout_s=30)
        for pid in signers:
            os.kill(pid, signal.SIGKILL)
        lost = pending.result()
    assert lost.status_code == 503, lost.text
    assert "statement worker" in lost.json()["error"] and int(lost.headers["Retry-After"]) >= 1
    assert _jobs(node) == jobs  # nothing stored for the lost answer, nothing lost of what was
    wait_until(lambda: httpx.get(f"{node.url}/v2/health/ready").status_code == 200, what="the node ready", timeout_s=60)
    replaced = _workers(node, "zkinfer-signer")
    assert len(replaced) == len(signers) and not set(replaced) & set(signers)
    response = _infer(node, SAMPLE, request_id="after-the-crash")
    assert response.status_code == 200, response.text
    signed, promised = _signed(response)
    signed.verify()
    promised.verify()
    assert _jobs(node) == jobs + 1


def test_keys_show_prints_a_nodes_toml_entry(tmp_path: Path) -> None:
    key = identity.new_key()
    identity.save_key(key, tmp_path / "node.key")
    result = zkinfer("keys", "show", tmp_path / "node.key", "--name", "alpha", "--url", "http://127.0.0.1:8001")
    assert result.returncode == 0, result.stderr
    assert f"public key           {key.public_hex}" in result.stdout
    entry = tomllib.loads(result.stdout.split("# nodes.toml entry for this node:")[1])["nodes"][0]
    assert entry["name"] == "alpha" and entry["url"] == "http://127.0.0.1:8001" and entry["weight"] == 1
    assert entry["public_key"] == key.public_hex
    assert bls.pop_verify(key.public_key, bytes.fromhex(entry["proof_of_possession"]))
    refused = zkinfer("keys", "show", tmp_path / "node.key", "--name", "no spaces")
    assert refused.returncode == 2 and "--name" in refused.stderr and "Traceback" not in refused.stderr
    missing = zkinfer("keys", "show", tmp_path / "absent.key")
    assert missing.returncode == 2 and "keys new" in missing.stderr and "Traceback" not in missing.stderr


# --- batch circuits: rows, shared witness runs ---------------------------------------------


def test_batched_requests_sign_the_statements_of_their_receipt_rows(batch_circuits: Path, tmp_path: Path) -> None:
    node = start_node(batch_circuits, tmp_path / "state", "--batch-window-ms", "60000")
    try:
        inputs = [[round(0.1 * i + 0.03 * j, 3) for j in range(8)] for i in range(4)]
        with ThreadPoolExecutor(4) as pool:  # at once: they share witness runs and one proof
            responses = list(
                pool.map(lambda i: _infer(node, inputs[i], request_id=f"batch-{i}", model="tiny4"), range(4))
            )
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        for i, response in enumerate(responses):
            signed, promised = _signed(response)
            signed.verify()
            assert promised.promise.statement_digest == signed.statement.digest()
            proven = node.receipt(response.json()["parameters"]["receipt_id"])
            assert proven.status_code == 200, proven.text
            receipt = Receipt.model_validate_json(proven.text)
            row = int(proven.headers["Zkinfer-Batch-Row"])
            assert statement.from_receipt(receipt, f"batch-{i}", row=row, rows=4) == signed.statement
    finally:
        node.stop()


def test_concurrent_requests_share_witness_runs_and_one_bad_input_is_refused_alone(batch_circuits: Path) -> None:
    """In process, with the real prover and a batch-4 circuit: requests that wait together share one witness
    run (made by a `StatementMaker` as a statement worker makes it, here on a thread)."""
    from zkinfer.node.models import ServedModel, stack
    from zkinfer.node.statements import Request, Signed, StatementMaker, StatementSigner
    from zkinfer.prover.prove import Prover

    prover = Prover(batch_circuits / "tiny4")
    maker = StatementMaker({"tiny4": prover}, identity.new_key(), 60)

    async def run(model: str, group: list[Request]) -> list[Signed | Exception]:
        return await asyncio.to_thread(maker.make, model, group)

    signer = StatementSigner(ServedModel(prover=prover, jobs_per_proof=4), run, slots=1)

    def sample(values: list[float]) -> list[np.ndarray]:
        return [np.asarray([values], dtype=np.float32)]

    async def at_once(values: list[list[float]]) -> list[Signed | BaseException]:
        return list(
            await asyncio.gather(
                *(signer.sign(sample(v), f"r{i}", f"job{i}") for i, v in enumerate(values)), return_exceptions=True
            )
        )

    good = [[0.1 * i] * 8 for i in range(4)]
    results = asyncio.run(at_once(good))
    assert signer.runs == 1  # four requests, one witness run
    for i, signed in enumerate(results):
        assert isinstance(signed, Signed)
        signed.statement.verify()
        assert signed.promise is not None  # a proving node promises a proof with every statement
        assert (
            signed.promise.promise.receipt_id == f"job{i}"
            and signed.promise.promise.statement_digest == signed.statement.statement.digest()
        )
        assert signed.statement.statement == prover.statement(
            stack([sample(good[i])], 4), f"r{i}"
        )  # as if alone, zero-padded, in row 0

    mixed = [good[0], [1e5] * 8, good[2], good[3]]  # the second is far outside the calibrated range
    results = asyncio.run(at_once(mixed))
    assert isinstance(results[1], InputError) and "calibrated" in str(results[1])
    for i in (0, 2, 3):
        signed = results[i]
        assert isinstance(signed, Signed)
        assert signed.statement.statement == prover.statement(stack([sample(mixed[i])], 4), f"r{i}")


def test_serve_options_it_refuses_are_one_line_errors(tmp_path: Path) -> None:
    result = zkinfer(
        "serve", "--worker-priority", "realtime", "--state-dir", tmp_path / "state", "--circuits", tmp_path
    )
    assert result.returncode == 2 and "--worker-priority: 'realtime' is not one of idle, nice" in result.stderr
    assert "Traceback" not in result.stderr
    result = zkinfer("serve", "--prove-within", "0", "--state-dir", tmp_path / "state", "--circuits", tmp_path)
    assert result.returncode == 2 and "--prove-within" in result.stderr
