"""The proving node end to end: `python -m zkinfer serve` in a subprocess, real HTTP on loopback,
real proofs, real SQLite. Covers the KServe v2 surface (tritonclient included), receipts, auth,
validation, limits, metrics, a `kill -9` mid-proof, and batched proofs.
"""

from __future__ import annotations

import hashlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.node_harness import API_KEY, MODEL, SAMPLE, RunningNode, copy_circuits, free_port, start_node
from tests.waiting import wait_until
from zkinfer.core.crypto import identity
from zkinfer.core.formats.receipt import Receipt
from zkinfer.prover.runtime import FastSession
from zkinfer.verify import Policy, verify_receipt


@pytest.fixture(scope="module")
def circuits(small_circuit: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny MLP with the small decomposition (proofs in ~1 s, not ~8 s at ezkl's default k=15,
    which the nodes of test_node_statements, test_node_requests and test_node_tenancy serve)."""
    return copy_circuits(small_circuit, tmp_path_factory.mktemp("circuits"))


@pytest.fixture(scope="module")
def node(circuits: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    running = start_node(circuits, tmp_path_factory.mktemp("node") / "state", "--max-body-bytes", "65536")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fast_model(small_circuit: Path) -> FastSession:
    return FastSession(small_circuit / "model.onnx", prefer_gpu=False)


def _expected(fast_model: FastSession, values: list[float]) -> np.ndarray:
    return fast_model.run([np.asarray([values], dtype=np.float32)])[0]


def _check_receipt(text: str, node: RunningNode, values: list[float]) -> Receipt:
    """A receipt the auditor accepts: proof verifies, bound to this input, signed by this node."""
    receipt = Receipt.model_validate_json(text)
    verdict = verify_receipt(receipt, Policy(expect_signer=node.public_key))
    assert verdict.verified, verdict.model_dump_json(indent=2)
    assert verdict.check("signature").status == "pass"
    assert identity.check_receipt_signature(receipt).startswith("valid")
    assert receipt.input.tensors is not None
    assert np.allclose(receipt.input.tensors[0].values, np.asarray(values, dtype=np.float32))
    return receipt


# --- the surface --------------------------------------------------------------------------


def test_health_and_metadata(node: RunningNode) -> None:
    assert httpx.get(f"{node.url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{node.url}/v2/health/ready").json() == {"ready": True}
    server = httpx.get(f"{node.url}/v2").json()
    assert server["name"] == "zkinfer" and "binary_tensor_data" in server["extensions"]
    meta = httpx.get(f"{node.url}/v2/models/{MODEL}", headers=node.auth).json()
    assert meta["name"] == MODEL and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [1, 8]}]
    assert meta["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [1, 3]}]
    assert httpx.get(f"{node.url}/v2/models/{MODEL}/ready", headers=node.auth).status_code == 200


def test_infer_answers_at_once_then_the_receipt_verifies(node: RunningNode, fast_model: FastSession) -> None:
    response = node.infer(SAMPLE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == MODEL
    (output,) = body["outputs"]
    assert output["name"] == "output" and output["shape"] == [1, 3] and output["datatype"] == "FP32"
    assert np.allclose(output["data"], _expected(fast_model, SAMPLE).ravel(), atol=1e-6)
    params = body["parameters"]
    assert params["receipt_status"] == "accepted" and params["receipt_url"] == f"/v1/receipts/{params['receipt_id']}"
    assert len(params["receipt_id"]) >= 22  # 128 random bits, URL-safe
    final = node.receipt(params["receipt_id"])
    assert final.status_code == 200, final.text
    receipt = _check_receipt(final.text, node, SAMPLE)
    assert np.allclose(
        receipt.fast.tensors[0].values, output["data"], atol=1e-6
    )  # the receipt records the answer served
    assert np.allclose(receipt.output.tensors[0].values, output["data"], atol=0.05)  # proven (quantized) ≈ fast


def test_wait_true_returns_the_proven_receipt(node: RunningNode) -> None:
    values = [0.9, 0.1, 0.4, 0.6, 0.3, 0.8, 0.0, 0.5]
    response = node.infer(values, wait=True)
    assert response.status_code == 200, response.text
    params = response.json()["parameters"]
    assert params["receipt_status"] == "proven"
    _check_receipt(params["receipt"], node, values)
    assert node.receipt(params["receipt_id"]).text == params["receipt"]


def test_auth(node: RunningNode) -> None:
    url = f"{node.url}/v2/models/{MODEL}/infer"
    body = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": SAMPLE}]}
    for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {API_KEY}"}):
        response = httpx.post(url, json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "Authorization" in response.json()["error"]
    assert httpx.get(f"{node.url}/v1/receipts/anything").status_code == 401
    assert (
        httpx.post(f"{node.url}/v2/models/nope/infer", json=body).status_code == 401
    )  # no key: nothing revealed about models


def test_unknown_model_and_receipt(node: RunningNode) -> None:
    response = node.infer(SAMPLE, model="nope")
    assert response.status_code == 404 and "'nope'" in response.json()["error"]
    assert httpx.get(f"{node.url}/v2/models/nope", headers=node.auth).status_code == 404
    assert httpx.get(f"{node.url}/v2/models/{MODEL}/versions/7", headers=node.auth).status_code == 404
    missing = httpx.get(f"{node.url}/v1/receipts/{'A' * 22}", headers=node.auth)
    assert missing.status_code == 404 and "no such job" in missing.json()["error"]


def _tensor(**changes: Any) -> dict[str, Any]:
    tensor: dict[str, Any] = {"name": "input", "shape": [1, 8], "datatype": "FP32", "data": SAMPLE}
    tensor.update(changes)
    return {key: value for key, value in tensor.items() if value is not None}


BAD_REQUESTS = {
    "wrong shape": ({"inputs": [_tensor(shape=[1, 7], data=SAMPLE[:7])]}, ["inputs[0].shape", "[1, 8]", "[1, 7]"]),
    "too few values": ({"inputs": [_tensor(data=SAMPLE[:5])]}, ["inputs[0]", "'input'", "got 5 values"]),
    "integer datatype": ({"inputs": [_tensor(datatype="INT64")]}, ["inputs[0].datatype", "INT64", "FP32"]),
    "missing datatype": (
        {"inputs": [{"name": "input", "shape": [1, 8], "data": SAMPLE}]},
        ["inputs[0].datatype", "required"],
    ),
    "missing data": ({"inputs": [_tensor(data=None)]}, ["inputs[0].data", "missing"]),
    "unknown input": ({"inputs": [_tensor(name="image")]}, ["inputs[0].name", "'image'"]),
    "input twice": ({"inputs": [_tensor(), _tensor()]}, ["inputs[1].name", "twice"]),
    "no inputs": ({"inputs": []}, ["inputs"]),
    "strings": ({"inputs": [_tensor(data=["a"] * 8)]}, ["inputs[0]", "numbers"]),
    "unknown output": ({"inputs": [_tensor()], "outputs": [{"name": "logits"}]}, ["outputs[0].name", "'logits'"]),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_422_naming_the_field(node: RunningNode, case: str) -> None:
    body, needles = BAD_REQUESTS[case]
    response = httpx.post(f"{node.url}/v2/models/{MODEL}/infer", json=body, headers=node.auth)
    assert response.status_code == 422, response.text
    for needle in needles:
        assert needle in response.json()["error"]


BINARY_HEADER = json.dumps(
    {"inputs": [_tensor(data=None, parameters={"binary_data_size": 32})]}
).encode()  # 8 FP32 = 32 bytes


@pytest.mark.parametrize(
    ("raw", "headers", "needles"),
    [
        (json.dumps({"inputs": [_tensor()]}).replace("0.5", "NaN").encode(), {}, ["inputs[0].data[1]", "NaN"]),
        (
            json.dumps({"inputs": [_tensor()]}).replace("0.5", "Infinity").encode(),
            {},
            ["inputs[0].data[1]", "Infinity"],
        ),
        (b"{not json", {}, ["body", "not valid JSON"]),
        (
            BINARY_HEADER + b"\0" * 28,
            {"Inference-Header-Content-Length": str(len(BINARY_HEADER))},
            ["inputs[0].parameters.binary_data_size", "28"],
        ),
        (b"{}", {"Inference-Header-Content-Length": "9999"}, ["Inference-Header-Content-Length"]),
    ],
    ids=["nan", "infinity", "not-json", "short-binary", "bad-header-length"],
)
def test_malformed_bodies_get_422(node: RunningNode, raw: bytes, headers: dict[str, str], needles: list[str]) -> None:
    response = httpx.post(f"{node.url}/v2/models/{MODEL}/infer", content=raw, headers={**node.auth, **headers})
    assert response.status_code == 422, response.text
    for needle in needles:
        assert needle in response.json()["error"]


def test_oversized_body_gets_413(node: RunningNode) -> None:
    big = json.dumps({"inputs": [_tensor(data=[0.5] * 20_000)]}).encode()  # ~100 kB > the 64 KiB limit
    response = httpx.post(f"{node.url}/v2/models/{MODEL}/infer", content=big, headers=node.auth)
    assert response.status_code == 413 and "65536" in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    assert httpx.post(f"{node.url}/v2/models/{MODEL}/infer", content=chunks(), headers=node.auth).status_code == 413


def test_tritonclient_works_unmodified(node: RunningNode, fast_model: FastSession) -> None:
    http = pytest.importorskip("tritonclient.http")
    from tritonclient.utils import InferenceServerException

    client = http.InferenceServerClient(node.url.removeprefix("http://"))
    assert (
        client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL, headers=dict(node.auth))
    )
    assert client.get_model_metadata(MODEL, headers=dict(node.auth))["inputs"][0]["shape"] == [1, 8]
    x = np.asarray([SAMPLE], dtype=np.float32)
    for binary in (True, False):  # binary tensor extension (tritonclient's default) and plain JSON
        tensor = http.InferInput("input", [1, 8], "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        requested = [http.InferRequestedOutput("output", binary_data=binary)]
        result = client.infer(
            MODEL, [tensor], outputs=requested, headers=dict(node.auth)
        )  # tritonclient adds to the dict: pass a copy
        assert np.allclose(result.as_numpy("output"), _expected(fast_model, SAMPLE), atol=1e-6)
        assert result.get_response()["parameters"]["receipt_status"] == "accepted"
    with pytest.raises(InferenceServerException) as denied:
        client.infer(MODEL, [tensor])
    assert denied.value.status() == "401"
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("nope", [tensor], headers=dict(node.auth))
    assert unknown.value.status() == "404"
    receipt_id = result.get_response()["parameters"]["receipt_id"]
    _check_receipt(node.receipt(receipt_id).text, node, SAMPLE)


def test_an_input_the_circuit_cannot_prove_is_refused_with_422(node: RunningNode) -> None:
    response = node.infer(
        [1e5] * 8, wait=True
    )  # finite, so the float model answers it, but far outside the calibrated range
    assert response.status_code == 422, response.text  # its witness fails: no statement to sign, nothing queued
    assert "calibrated" in response.json()["error"]


def test_metrics(node: RunningNode) -> None:
    text = httpx.get(f"{node.url}/metrics", headers=node.auth).text
    assert 'zkinfer_requests_total{code="200",route="/v2/models/{name}/infer"}' in text
    assert 'zkinfer_requests_total{code="422",route="/v2/models/{name}/infer"}' in text
    assert "zkinfer_queue_depth " in text and "zkinfer_workers_ready 1.0" in text
    proofs = [line for line in text.splitlines() if line.startswith(f'zkinfer_proof_seconds_count{{model="{MODEL}"}}')]
    assert proofs and float(proofs[0].split()[-1]) >= 2
    assert 'zkinfer_rejected_total{reason="unprovable"} 1.0' in text
    assert f'zkinfer_statement_seconds_count{{model="{MODEL}"}}' in text
    proven = [line for line in text.splitlines() if line.startswith(f'zkinfer_jobs_proven_total{{model="{MODEL}"}}')]
    assert proven and float(proven[0].split()[-1]) >= 2


def test_a_second_node_on_the_same_state_dir_is_refused(node: RunningNode, circuits: Path) -> None:
    from tests.cli import zkinfer

    result = zkinfer("serve", "--circuits", circuits, "--port", str(free_port()), "--state-dir", node.state_dir)
    assert result.returncode == 2, result.stderr
    assert "another node is serving from this state directory" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_bad_circuits_folder_fails_before_listening(tmp_path: Path) -> None:
    from tests.cli import zkinfer

    (tmp_path / "empty").mkdir()
    result = zkinfer(
        "serve", "--circuits", tmp_path / "empty", "--port", str(free_port()), "--state-dir", tmp_path / "state"
    )
    assert result.returncode == 2 and "holds no compiled circuit" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


# --- limits and durability ---------------------------------------------------------------


def test_full_queue_gets_429_with_retry_after(circuits: Path, tmp_path: Path) -> None:
    node = start_node(circuits, tmp_path / "state", "--max-queue", "1")
    try:
        first = node.infer(SAMPLE)
        assert first.status_code == 200
        refused = node.infer(SAMPLE)  # the first job cannot be proven within these milliseconds
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert "queue is full" in refused.json()["error"]
        assert node.receipt(first.json()["parameters"]["receipt_id"]).status_code == 200
        assert node.infer(SAMPLE).status_code == 200  # room again once it is proven
    finally:
        node.stop()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_kill_9_mid_proof_loses_no_accepted_job(circuits: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    node = start_node(circuits, state)
    inputs = [[round(0.1 * i + 0.05 * j, 3) for j in range(8)] for i in range(3)]
    ids = []
    for values in inputs:
        response = node.infer(values)
        assert response.status_code == 200
        ids.append(response.json()["parameters"]["receipt_id"])
    wait_until(
        lambda: httpx.get(f"{node.url}/v1/receipts/{ids[0]}", headers=node.auth).json().get("status") == "proving",
        what="the first job proving",
        timeout_s=120,
        interval_s=0.05,
    )
    workers = _children(node.process.pid)
    node.process.send_signal(signal.SIGKILL)
    node.process.wait()
    # a worker dies with its node: no orphan prover
    wait_until(lambda: not any(_alive(pid) for pid in workers), what=f"the node's workers {workers} gone", timeout_s=30)

    restarted = start_node(circuits, state)
    try:
        for receipt_id, values in zip(ids, inputs, strict=True):
            response = restarted.receipt(receipt_id)
            assert response.status_code == 200, response.text
            _check_receipt(response.text, restarted, values)
    finally:
        restarted.stop()


# --- batching ----------------------------------------------------------------------------


def test_batched_requests_share_one_proof(batch_circuits: Path, tmp_path: Path, fast_model: FastSession) -> None:
    node = start_node(batch_circuits, tmp_path / "state", "--batch-window-ms", "60000")
    try:
        meta = httpx.get(f"{node.url}/v2/models/tiny4", headers=node.auth).json()
        assert meta["inputs"][0]["shape"] == [1, 8]  # one sample per request, batched by the node
        inputs = [[round(0.1 * i + 0.03 * j, 3) for j in range(8)] for i in range(4)]
        ids, answers = [], []
        for values in inputs:  # a full batch: proven together without waiting out the window
            response = node.infer(values, model="tiny4")
            assert response.status_code == 200, response.text
            ids.append(response.json()["parameters"]["receipt_id"])
            answers.append(response.json()["outputs"][0]["data"])
        results = [node.receipt(i) for i in ids]
        assert all(r.status_code == 200 for r in results), [r.text for r in results]
        assert len({r.text for r in results}) == 1  # one receipt for the batch
        rows = [int(r.headers["Zkinfer-Batch-Row"]) for r in results]
        assert sorted(rows) == [0, 1, 2, 3]
        receipt = Receipt.model_validate_json(results[0].text)
        assert verify_receipt(receipt, Policy(expect_signer=node.public_key)).verified
        assert receipt.input.tensors is not None and receipt.input.tensors[0].shape == [4, 8]
        batch_inputs = np.asarray(receipt.input.tensors[0].values).reshape(4, 8)
        proven = np.asarray(receipt.output.tensors[0].values).reshape(4, 3)
        for row, values, answer in zip(rows, inputs, answers, strict=True):
            assert np.allclose(batch_inputs[row], np.asarray(values, dtype=np.float32))
            assert np.allclose(proven[row], answer, atol=0.05)
            assert np.allclose(answer, _expected(fast_model, values).ravel(), atol=1e-6)
    finally:
        node.stop()


def test_one_unprovable_request_does_not_sink_its_batch(batch_circuits: Path, tmp_path: Path) -> None:
    """Today such a request is refused at once (its witness fails before it is queued); jobs an
    earlier node queued without that check still prove, the bad row failing alone in the worker."""
    from zkinfer.node import jobs
    from zkinfer.node.store import NewJob, Store
    from zkinfer.prover.prove import Prover

    inputs = [[0.2] * 8, [1e5] * 8, [0.4] * 8, [0.6] * 8]  # the second is far outside the calibrated range
    prover = Prover(batch_circuits / "tiny4")
    owner = "sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest()
    queued = [
        NewJob(id=f"earlier-{i}", model="tiny4", payload=_payload(jobs, prover, values), owner=owner)
        for i, values in enumerate(inputs)
    ]
    (tmp_path / "state").mkdir()
    store = Store(tmp_path / "state" / "jobs.sqlite3")
    store.add_many(queued)
    store.close()
    node = start_node(batch_circuits, tmp_path / "state", "--batch-window-ms", "60000")
    try:
        refused = node.infer(inputs[1], model="tiny4")
        assert refused.status_code == 422 and "calibrated" in refused.json()["error"], refused.text
        results = [node.receipt(job.id) for job in queued]
        assert [r.status_code for r in results] == [200, 422, 200, 200], [r.text[:300] for r in results]
        assert "calibrated" in results[1].json()["error"]
        for i in (0, 2, 3):
            result, values = results[i], inputs[i]
            receipt = Receipt.model_validate_json(result.text)
            assert verify_receipt(receipt).verified
            assert receipt.input.tensors is not None
            row = int(result.headers["Zkinfer-Batch-Row"])
            assert np.allclose(
                receipt.input.tensors[0].values[row * 8 : (row + 1) * 8], np.asarray(values, dtype=np.float32)
            )
    finally:
        node.stop()


def _payload(jobs: Any, prover: Any, values: list[float]) -> str:
    """A job as the node stores it (one request's sample and fast answer)."""
    from zkinfer.node.models import ServedModel

    model = ServedModel(prover=prover, jobs_per_proof=4)
    sample = [np.asarray([values], dtype=np.float32)]
    return str(jobs.encode(model.input_specs, sample, model.output_specs, model.answer(sample)))
