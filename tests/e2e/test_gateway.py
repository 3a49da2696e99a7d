"""The gateway and its client library: each node answer judged as hostile, the quorum counted, and
(end to end) real `zkinfer serve` nodes behind a real `zkinfer gateway` process on loopback.

The unit tests feed `judge.judge` and `tally.Tally` answers a node could send (replays, a
statement for another request, a promise for another statement, a late promise, outputs that are
not its statement, a forged signature). The end-to-end tests start three honest nodes on the tiny
circuit and check what a user of the gateway sees: the certified output, a certificate that
verifies against nodes.toml, a KServe client unchanged, dissent for garbage, 5xx and unreachable
nodes, a 503 naming the split, exit 2 for a bad nodes.toml, and the watcher's valid receipts.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests import processes
from tests.cli import zkinfer
from tests.gateway_harness import (
    GATEWAY_KEY,
    NODE_KEY_ENV,
    OTHER_GATEWAY_KEY,
    RunningGateway,
    fixed_server,
    node_entry,
    pinned_toml,
    start_gateway,
)
from tests.node_harness import (
    API_KEY,
    HEADER_LIMITS_EXPECTED,
    MODEL,
    SAMPLE,
    RunningNode,
    copy_circuits,
    free_port,
    header_limit_statuses,
    start_node,
)
from tests.waiting import wait_until
from zkinfer.core.crypto import identity
from zkinfer.core.crypto.identity import NodeKey
from zkinfer.core.formats import statement
from zkinfer.network import certificate, nodeset
from zkinfer.network.answers import DissentKind, NodeAnswer
from zkinfer.network.judge import judge
from zkinfer.network.tally import Tally
from zkinfer.verify import certificate_check

# --- unit: judging one answer ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> list[NodeKey]:
    return [identity.new_key() for _ in range(3)]


@pytest.fixture(scope="module")
def pinned(keys: list[NodeKey]) -> nodeset.NodeSet:
    return nodeset.parse(
        pinned_toml(
            [(f"n{i}", f"http://127.0.0.1:{9000 + i}", k) for i, k in enumerate(keys)], threshold=2, prove_within_s=600
        ),
        "test nodes.toml",
    )


STATEMENT = statement.Statement(
    circuit="sha256:" + "a" * 64,
    request_id="req-1",
    input_digest="sha256:" + "b" * 64,
    weights_commitment=None,
    output_scales=(13,),
    output=((8192, -4096, 100),),
)


def answer_body(
    said: statement.Statement,
    key: NodeKey,
    *,
    promise_key: NodeKey | None = None,
    prove_in: int = 60,
    data: list[float] | None = None,
    promised: statement.Statement | None = None,
) -> bytes:
    """An OIP v2 answer as an honest node writes it, with the parts a liar may change."""
    signed = statement.sign(said, key.secret, key.public_key)
    promise_for = statement.sign(promised, key.secret, key.public_key) if promised else signed
    p_key = promise_key or key
    made = statement.promise(promise_for, "job-1", int(time.time()) + prove_in, p_key.secret)
    made = statement.SignedPromise(made.promise, p_key.public_key, made.signature)
    values = data if data is not None else said.dequantized()[0]
    return json.dumps(
        {
            "model_name": MODEL,
            "outputs": [{"name": "output", "shape": [1, len(values)], "datatype": "FP32", "data": values}],
            "parameters": {
                "receipt_id": "job-1",
                "zkinfer_statement": signed.to_json(),
                "zkinfer_promise": made.to_json(),
            },
        }
    ).encode()


def judged(
    pinned: nodeset.NodeSet, body: bytes, node: int = 0, status: int = 200, request_id: str = "req-1"
) -> NodeAnswer:
    return judge(pinned.nodes[node], pinned, request_id, status, body, 5.0, time.time())


def test_an_honest_answer_counts(pinned: nodeset.NodeSet, keys: list[NodeKey]) -> None:
    answer = judged(pinned, answer_body(STATEMENT, keys[0]))
    assert answer.problem is None and answer.signed is not None and answer.signed.statement == STATEMENT
    assert answer.receipt_url == "http://127.0.0.1:9000/v1/receipts/job-1"
    near = [v + 0.004 for v in STATEMENT.dequantized()[0]]  # a fast float answer, a few quantization units off
    assert judged(pinned, answer_body(STATEMENT, keys[0], data=near)).problem is None


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("replayed statement of node 1", DissentKind.WRONG_KEY),
        ("statement for another request", DissentKind.WRONG_REQUEST),
        ("promise by another key", DissentKind.WRONG_KEY),
        ("promise for another statement", DissentKind.GARBAGE),
        ("promise past prove_within_s", DissentKind.LATE_PROMISE),
        ("outputs not its statement", DissentKind.ANSWER_MISMATCH),
        ("output shape not its statement", DissentKind.GARBAGE),
        ("forged signature", DissentKind.BAD_SIGNATURE),
        ("not JSON", DissentKind.GARBAGE),
        ("no statement", DissentKind.GARBAGE),
        ("HTTP 500", DissentKind.HTTP_STATUS),
    ],
)
def test_a_hostile_answer_is_a_dissent_never_counted(
    pinned: nodeset.NodeSet, keys: list[NodeKey], case: str, kind: DissentKind
) -> None:
    other = replace(STATEMENT, output=((1, 2, 3),))
    bodies = {
        "replayed statement of node 1": answer_body(STATEMENT, keys[1]),
        "statement for another request": answer_body(replace(STATEMENT, request_id="req-0"), keys[0]),
        "promise by another key": answer_body(STATEMENT, keys[0], promise_key=keys[2]),
        "promise for another statement": answer_body(STATEMENT, keys[0], promised=other),
        "promise past prove_within_s": answer_body(STATEMENT, keys[0], prove_in=10_000),
        "outputs not its statement": answer_body(STATEMENT, keys[0], data=[0.0, 0.0, 0.0]),
        "output shape not its statement": answer_body(STATEMENT, keys[0], data=[1.0, -0.5]),
        "not JSON": b"<html>oops</html>",
        "no statement": json.dumps({"outputs": [], "parameters": {"receipt_id": "x"}}).encode(),
        "HTTP 500": b'{"error": "the node broke"}',
    }
    if case == "forged signature":
        document = json.loads(answer_body(STATEMENT, keys[0]))
        document["parameters"]["zkinfer_statement"]["signature"] = statement.sign(
            other, keys[0].secret, keys[0].public_key
        ).signature.hex()  # its key, another message
        body = json.dumps(document).encode()
    else:
        body = bodies[case]
    answer = judged(pinned, body, status=500 if case == "HTTP 500" else 200)
    assert answer.signed is None and answer.problem is not None
    assert answer.problem.kind is kind, answer.problem
    if case == "replayed statement of node 1":
        assert "n1" in answer.problem.detail  # names whose signature it replayed


def test_tally_waits_for_the_threshold_and_gives_up_when_no_quorum_can_form(
    pinned: nodeset.NodeSet, keys: list[NodeKey]
) -> None:
    other = replace(STATEMENT, output=((8192, -4096, 101),))
    tally = Tally(pinned, None)
    tally.add(judged(pinned, answer_body(STATEMENT, keys[0]), 0))
    assert tally.quorum() is None and tally.possible()
    tally.add(judged(pinned, answer_body(other, keys[1]), 1))
    assert tally.quorum() is None and tally.possible()  # node 2 could still side with either
    tally.add(judged(pinned, b"garbage", 2))
    assert tally.quorum() is None and not tally.possible()
    agreeing = Tally(pinned, None)
    agreeing.add(judged(pinned, answer_body(STATEMENT, keys[0]), 0))
    agreeing.add(judged(pinned, answer_body(STATEMENT, keys[2]), 2))
    assert agreeing.quorum() == STATEMENT.signing_bytes()


def test_label_agreement_and_reputation_weighting(keys: list[NodeKey]) -> None:
    nodes = [(f"n{i}", f"http://127.0.0.1:{9100 + i}", k) for i, k in enumerate(keys)]
    label_set = nodeset.parse(pinned_toml(nodes, threshold=2, agree_on="label"), "label nodes.toml")
    near = replace(STATEMENT, output=((8190, -4096, 100),))  # last units differ, same argmax
    tally = Tally(label_set, None)
    tally.add(judged(label_set, answer_body(STATEMENT, keys[0]), 0))
    tally.add(judged(label_set, answer_body(near, keys[1]), 1))
    assert tally.quorum() is not None
    cert = certificate.make([a.signed for group in tally.groups.values() for a in group if a.signed], verified=True)
    assert len(cert.groups) == 2 and certificate_check.check(cert, label_set).verified
    reputed = nodeset.parse(pinned_toml(nodes, threshold=2, weighting="reputation"), "reputation nodes.toml")
    scores = {keys[0].public_key: 0.1, keys[1].public_key: 0.1, keys[2].public_key: 0.9}
    low = Tally(reputed, scores)
    low.add(judged(reputed, answer_body(STATEMENT, keys[0]), 0))
    low.add(judged(reputed, answer_body(STATEMENT, keys[1]), 1))
    assert low.quorum() is None  # static weight 2 of 3, but 0.2 of 1.1 reputation-weighted
    low.add(judged(reputed, answer_body(STATEMENT, keys[2]), 2))
    assert low.quorum() is not None


# --- end to end: real nodes, a real gateway ----------------------------------------------------------


@pytest.fixture(scope="module")
def honest_nodes(small_circuit: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunningNode]]:
    """Three honest `zkinfer serve` nodes on the tiny circuit, started at once."""
    folder = tmp_path_factory.mktemp("honest-nodes")
    circuits = copy_circuits(small_circuit, folder / "circuits")
    with ThreadPoolExecutor(3) as pool:
        nodes = list(pool.map(lambda i: start_node(circuits, folder / f"node{i}"), range(3)))
    yield nodes
    for node in nodes:
        node.stop()


@pytest.fixture(scope="module")
def gateway(honest_nodes: list[RunningNode], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    toml = pinned_toml(
        [node_entry(n, node) for n, node in zip(("alpha", "beta", "gamma"), honest_nodes, strict=True)],
        timeout_ms=10_000,
    )
    running = start_gateway(tmp_path_factory.mktemp("gateway"), toml)
    yield running
    running.stop()


def statement_of(response: httpx.Response) -> statement.Statement:
    return statement.SignedStatement.from_json(response.json()["parameters"]["zkinfer_statement"]).statement


def test_three_honest_nodes_answer_with_a_certificate_that_verifies(
    gateway: RunningGateway, honest_nodes: list[RunningNode], tmp_path: Path
) -> None:
    response = gateway.infer(SAMPLE, request_id="h3-honest-1")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"] == "h3-honest-1"
    request_id = answer["parameters"]["request_id"]  # the id the nodes signed: in this tenant's namespace
    assert request_id.endswith(":h3-honest-1")
    direct = honest_nodes[0].infer(SAMPLE, parameters=None)  # one node alone, as a client without the gateway
    alone = direct.json()
    proven = statement_of(direct).dequantized()[0]
    assert answer["outputs"][0]["shape"] == alone["outputs"][0]["shape"] == [1, 3]
    assert np.array_equal(
        np.asarray(answer["outputs"][0]["data"], dtype=np.float32), np.asarray(proven, dtype=np.float32)
    )  # the certified (proven-precision) output
    assert np.allclose(
        answer["outputs"][0]["data"], alone["outputs"][0]["data"], atol=0.02
    )  # and a single node's fast answer
    signers = answer["parameters"]["zkinfer_signers"]
    assert len(signers) >= 2 and set(signers) <= {"alpha", "beta", "gamma"}
    assert {d["kind"] for d in answer["parameters"]["zkinfer_dissent"].values()} <= {"pending"}
    cert = certificate.Certificate.from_json(answer["parameters"]["zkinfer_certificate"])
    pinned = nodeset.load(gateway.nodes_toml)
    verdict = certificate_check.check(cert, pinned)
    assert verdict.verified, verdict.reasons()
    assert cert.statement.request_id == request_id and cert.statement.dequantized()[0] == proven
    stored = httpx.get(f"{gateway.url}/v1/certificates/h3-honest-1", headers=gateway.auth, timeout=30)
    assert stored.json() == answer["parameters"]["zkinfer_certificate"]
    assert (
        httpx.get(f"{gateway.url}/v1/certificates/h3-honest-1", timeout=30).status_code == 401
    )  # a caller's output needs its key
    (tmp_path / "cert.json").write_text(stored.text)
    checked = zkinfer("verify", tmp_path / "cert.json", "--nodes", gateway.nodes_toml)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    second = gateway.infer(SAMPLE)  # no id: the gateway makes one
    assert second.status_code == 200 and second.json()["parameters"]["request_id"] == request_id.replace(
        "h3-honest-1", second.json()["id"]
    )


OTHER_SAMPLE = [0.8, 0.2, 0.0, 0.6, 0.9, 0.1, 0.5, 0.3]


def test_another_tenant_cannot_read_a_certificate(gateway: RunningGateway) -> None:
    """Tenant B, with its own valid key, asks for tenant A's certificate by A's request id: a 404
    exactly like an id nobody sent (the review's first attack: it was A's certificate, 200)."""
    answer = gateway.infer(SAMPLE, request_id="acct-42-read")
    assert answer.status_code == 200, answer.text
    mine = gateway.get("/v1/certificates/acct-42-read", GATEWAY_KEY)
    assert mine.status_code == 200 and mine.json() == answer.json()["parameters"]["zkinfer_certificate"]
    full_id = answer.json()["parameters"]["request_id"]  # the id the statement and certificate carry
    for asked in ("acct-42-read", full_id):
        theirs = gateway.get(f"/v1/certificates/{asked}", OTHER_GATEWAY_KEY)
        unknown = gateway.get(f"/v1/certificates/{asked}-never-sent", OTHER_GATEWAY_KEY)
        assert theirs.status_code == unknown.status_code == 404, theirs.text
        assert theirs.json()["error"] == unknown.json()["error"].replace(f"{asked}-never-sent", asked)
        assert "output" not in theirs.text and "statement" not in theirs.text


def test_a_visitor_sees_node_standing_but_no_request_ids_or_outputs(gateway: RunningGateway) -> None:
    """The review's second attack: /ui, with no key, listed request ids. A visitor may read how the
    nodes behave (/v1/nodes, /ui), never what a tenant asked or was answered."""
    answer = gateway.infer(SAMPLE, request_id="acct-42-visible")
    assert answer.status_code == 200, answer.text
    parameters = answer.json()["parameters"]
    secrets = [
        "acct-42-visible",
        parameters["request_id"],
        parameters["zkinfer_certificate"]["statement"]["input_digest"],
        parameters["zkinfer_certificate"]["aggregate_signature"],
    ]
    # every node's answer is recorded in the background once all three answered (the straggler's check runs
    # in another process): the standing shows it soon after the answer, not necessarily before it
    wait_until(
        lambda: all(r["answers"] >= 1 for r in gateway.get("/v1/nodes").json()["nodes"]),
        what="every node's answer in the standing",
        timeout_s=30,
    )
    page, nodes, evidence = gateway.get("/ui"), gateway.get("/v1/nodes"), gateway.get("/v1/evidence")
    assert page.status_code == nodes.status_code == evidence.status_code == 200
    assert 'data-node="alpha"' in page.text and {r["name"] for r in nodes.json()["nodes"]} == {"alpha", "beta", "gamma"}
    assert all(r["answers"] >= 1 and "reputation" in r for r in nodes.json()["nodes"])
    for served in (page, nodes, evidence):
        leaked = [s for s in secrets if s in served.text]
        assert not leaked, f"{served.url} shows {leaked} to a visitor"
    assert 'id="certificates"' not in page.text  # no certificate rows at all


def test_the_same_id_from_another_tenant_never_replaces_an_answer(gateway: RunningGateway) -> None:
    """The review's third attack: B sends A's request id with another input; A's certificate must
    still be A's answer, and B gets its own."""
    first = gateway.infer(SAMPLE, request_id="acct-42")
    second = gateway.infer(OTHER_SAMPLE, request_id="acct-42", key=OTHER_GATEWAY_KEY)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    a_cert = first.json()["parameters"]["zkinfer_certificate"]
    b_cert = second.json()["parameters"]["zkinfer_certificate"]
    assert a_cert["statement"]["output"] != b_cert["statement"]["output"]  # two inputs, two answers
    assert (
        gateway.get("/v1/certificates/acct-42", GATEWAY_KEY).json()["statement"]["output"]
        == a_cert["statement"]["output"]
    ), "A reads B's answer"
    assert gateway.get("/v1/certificates/acct-42", GATEWAY_KEY).json() == a_cert
    assert gateway.get("/v1/certificates/acct-42", OTHER_GATEWAY_KEY).json() == b_cert
    assert first.json()["id"] == second.json()["id"] == "acct-42"  # each client sees its own id
    ids = first.json()["parameters"]["request_id"], second.json()["parameters"]["request_id"]
    assert (
        ids == (gateway.request_id("acct-42"), gateway.request_id("acct-42", OTHER_GATEWAY_KEY)) and ids[0] != ids[1]
    )  # namespaced per tenant
    pinned = nodeset.load(gateway.nodes_toml)
    for cert, full_id in zip((a_cert, b_cert), ids, strict=True):
        parsed = certificate.Certificate.from_json(cert)
        assert parsed.statement.request_id == full_id and certificate_check.check(parsed, pinned).verified
    again = gateway.infer(SAMPLE, request_id="acct-42-again")
    assert (
        again.json()["parameters"]["request_id"].split(":")[0] == ids[0].split(":")[0]
    )  # a tenant's namespace is stable


def test_request_ids_are_namespaced_within_the_id_limit(gateway: RunningGateway) -> None:
    longest = gateway.infer(SAMPLE, request_id="x" * 128)  # a valid id alone, too long once namespaced
    assert longest.status_code == 422 and longest.json()["error"].startswith("id:"), longest.text
    fits = 128 - len(gateway.infer(SAMPLE, request_id="probe").json()["parameters"]["request_id"]) + len("probe")
    assert gateway.infer(SAMPLE, request_id="y" * fits).status_code == 200
    anonymous = gateway.infer(SAMPLE).json()  # no id: the gateway makes one in the caller's namespace
    tenant = gateway.infer(SAMPLE, request_id="probe").json()["parameters"]["request_id"].removesuffix(":probe")
    assert anonymous["parameters"]["request_id"] == f"{tenant}:{anonymous['id']}"
    assert (
        gateway.get(f"/v1/certificates/{anonymous['id']}", GATEWAY_KEY).json()
        == anonymous["parameters"]["zkinfer_certificate"]
    )


def test_request_heads_past_16_kib_or_100_headers_get_431(gateway: RunningGateway) -> None:
    assert header_limit_statuses(gateway.url) == HEADER_LIMITS_EXPECTED  # a 200 KB header was answered 200
    assert gateway.infer(SAMPLE).status_code == 200


def test_a_kserve_client_calls_the_gateway_unchanged(gateway: RunningGateway) -> None:
    http = pytest.importorskip("tritonclient.http")
    from tritonclient.utils import InferenceServerException

    client = http.InferenceServerClient(gateway.url.removeprefix("http://"), network_timeout=60)
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_model_metadata(MODEL, headers=dict(gateway.auth))["inputs"][0]["shape"] == [1, 8]
    expected = gateway.infer(SAMPLE).json()["outputs"][0]["data"]
    for binary in (True, False):
        tensor = http.InferInput("input", [1, 8], "FP32")
        tensor.set_data_from_numpy(np.asarray([SAMPLE], dtype=np.float32), binary_data=binary)
        result = client.infer(
            MODEL,
            [tensor],
            outputs=[http.InferRequestedOutput("output", binary_data=binary)],
            headers=dict(gateway.auth),
        )
        assert np.array_equal(result.as_numpy("output"), np.asarray([expected], dtype=np.float32))
        assert result.get_response()["parameters"]["zkinfer_certificate"]["schema"] == certificate.SCHEMA
    with pytest.raises(InferenceServerException) as denied:
        client.infer(MODEL, [tensor])
    assert denied.value.status() == "401"
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("nope", [tensor], headers=dict(gateway.auth))
    assert unknown.value.status() == "404"  # every node refused alike: their status, not a 503


def test_the_client_library_answers_without_a_gateway(gateway: RunningGateway) -> None:
    from zkinfer import Consensus, NoQuorum

    pinned = nodeset.load(gateway.nodes_toml)
    consensus = Consensus(pinned, environ={NODE_KEY_ENV: API_KEY})
    try:
        body = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": SAMPLE}]}
        outcome = consensus.infer_sync(
            MODEL, body, request_id="h3-library-1"
        )  # as in a notebook: its own loop, in a thread
        assert list(outcome.outputs[0].data) == gateway.infer(SAMPLE).json()["outputs"][0]["data"]
        assert certificate_check.check(outcome.certificate, pinned).verified and len(outcome.signers) >= 2
        everyone = consensus._run(outcome.settled())  # the stragglers finished in the background
        assert [a.node.name for a in everyone] == ["alpha", "beta", "gamma"] and all(
            outcome.classify(a) is None for a in everyone
        )
        with pytest.raises(NoQuorum) as refused:
            consensus.infer_sync("nope", body)
        assert (
            refused.value.refusal is not None and refused.value.refusal[0] == 404
        )  # every node said so: the caller's mistake
    finally:
        consensus.close()


def test_a_bad_input_gets_the_nodes_refusal(gateway: RunningGateway) -> None:
    response = gateway.infer([0.1, 0.2])  # 2 values for an input of 8
    assert response.status_code == 422, response.text
    assert "input" in response.json()["error"]
    bad_id = gateway.infer(SAMPLE, request_id="no spaces allowed")
    assert bad_id.status_code == 422 and bad_id.json()["error"].startswith("id:")


def test_garbage_5xx_and_unreachable_nodes_are_dissent_and_the_quorum_still_answers(
    honest_nodes: list[RunningNode], tmp_path: Path
) -> None:
    garbage, broken = (
        fixed_server(200, b'{"outputs": "no", "parameters": {"zkinfer_statement": 42}}'),
        fixed_server(503, b'{"error": "overloaded"}'),
    )
    try:
        entries = [node_entry(n, node) for n, node in zip(("alpha", "beta", "gamma"), honest_nodes, strict=True)]
        entries += [
            ("garbage", f"http://127.0.0.1:{garbage.server_port}", identity.new_key()),
            ("broken", f"http://127.0.0.1:{broken.server_port}", identity.new_key()),
        ]
        entries += [("down", f"http://127.0.0.1:{free_port()}", identity.new_key())]
        running = start_gateway(
            tmp_path / "gw", pinned_toml(entries, threshold=3, timeout_ms=10_000), "--check-processes", "2"
        )  # answers checked in processes
        try:
            response = running.infer(SAMPLE, request_id="h3-faulty-1")
            assert response.status_code == 200, response.text
            assert sorted(response.json()["parameters"]["zkinfer_signers"]) == ["alpha", "beta", "gamma"]
            wait_until(  # recorded once every node answered
                lambda: running.nodes()["down"]["timeouts"] != 0,
                what="the down node's timeout",
                timeout_s=60,
                interval_s=0.2,
            )
            rows = running.nodes()
            assert (
                rows["garbage"]["dissented"] == 1 and rows["broken"]["dissented"] == 1 and rows["down"]["timeouts"] == 1
            )
            assert rows["down"]["status"].startswith("unreachable")  # found at start; the gateway served anyway
            assert all(rows[n]["agreed"] == 1 for n in ("alpha", "beta", "gamma"))
            assert "node down: unreachable" in running.log.read_text()
        finally:
            running.stop()
    finally:
        garbage.shutdown()
        broken.shutdown()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stopped_gateway_leaves_no_process(
    honest_nodes: list[RunningNode], tmp_path: Path, stop: signal.Signals
) -> None:
    """`zkinfer gateway` with checking processes, after a receipt was verified (its verifier process
    runs), gets SIGTERM (or is killed): it exits and none of its processes outlive it (after a
    SIGTERM 2 were alive 20 s later; after a kill, all of them)."""
    entries = [node_entry(n, node) for n, node in zip(("alpha", "beta", "gamma"), honest_nodes, strict=True)]
    running = start_gateway(tmp_path / "gw", pinned_toml(entries, timeout_ms=10_000), "--check-processes", "2")
    try:
        assert running.infer(SAMPLE, request_id="stopped-1").status_code == 200
        wait_until(
            lambda: any(r["receipts_valid"] for r in running.nodes().values()),
            what="a receipt verified by the gateway",
            timeout_s=300,
            interval_s=0.3,
        )
        spawned = processes.children(running.process.pid)
        assert len(spawned) >= 4, [
            processes.command_line(p) for p in spawned
        ]  # 2 checkers, the stragglers' one, the receipt verifier
    finally:
        running.process.send_signal(stop)
        running.process.wait(timeout=30)
    left = processes.wait_gone(spawned, 5)
    survivors = [processes.command_line(p) for p in left]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not survivors


def test_no_quorum_is_a_503_naming_the_split(
    honest_nodes: list[RunningNode], small_circuit: Path, tmp_path: Path
) -> None:
    from tests.liar import start_liar

    liar = start_liar(small_circuit, tmp_path / "liar", "wrong-output")
    try:
        entries = [
            node_entry("alpha", honest_nodes[0]),
            node_entry("beta", honest_nodes[1]),
            ("liar", liar.url, liar.key),
        ]
        running = start_gateway(tmp_path / "gw", pinned_toml(entries, threshold=3, timeout_ms=10_000))
        try:
            response = running.infer(SAMPLE, request_id="h3-split-1")
            assert response.status_code == 503, response.text
            body = response.json()
            assert "outputs" not in body and body["id"] == "h3-split-1" and body["request_id"].endswith(":h3-split-1")
            split = body["split"]
            assert set(split) == {"alpha", "beta", "liar"} and "no quorum" in body["error"]
            assert split["liar"].startswith("statement ")  # what each node signed, in a few words
            honest = {split["alpha"], split["beta"]} - {"pending: no answer yet"}  # it answers once no quorum can form
            assert len(honest) == 1 and split["liar"] not in honest and honest.pop().startswith("statement ")
        finally:
            running.stop()
    finally:
        liar.stop()


def test_a_malformed_nodes_toml_is_exit_2_naming_the_field(tmp_path: Path, keys: list[NodeKey]) -> None:
    good = pinned_toml([("alpha", "http://127.0.0.1:1", keys[0])])
    cases = {
        "threshold": good.replace("[quorum]", "[quorum]\nthreshold = 5"),
        "nodes[0] (alpha).url": good.replace("http://127.0.0.1:1", "ftp://x"),
        "quorum.agree_on": good.replace("[quorum]", '[quorum]\nagree_on = "vibes"'),
        "nodes[0] (alpha).public_key": good.replace(keys[0].public_hex, keys[1].public_hex[:-2]),
    }
    for field, text in cases.items():
        (tmp_path / "nodes.toml").write_text(text)
        result = zkinfer(
            "gateway", "--nodes", tmp_path / "nodes.toml", "--state-dir", tmp_path / "state", "--port", str(free_port())
        )
        assert result.returncode == 2, (field, result.stdout, result.stderr)
        assert field in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert NODE_KEY_ENV not in os.environ
    (tmp_path / "nodes.toml").write_text(good)  # valid, but the API key it names is not in the environment
    result = zkinfer(
        "gateway", "--nodes", tmp_path / "nodes.toml", "--state-dir", tmp_path / "state", "--port", str(free_port())
    )
    assert result.returncode == 2 and f"environment variable {NODE_KEY_ENV}" in result.stderr, result.stderr


def test_a_second_gateway_on_the_same_state_directory_is_refused(gateway: RunningGateway) -> None:
    second = zkinfer(
        "gateway", "--nodes", gateway.nodes_toml, "--state-dir", gateway.state_dir, "--port", str(free_port())
    )
    assert second.returncode == 2 and "another gateway is serving from this state directory" in second.stderr, (
        second.stderr
    )
    assert httpx.get(f"{gateway.url}/v2/health/live", timeout=30).status_code == 200


def test_the_watcher_records_valid_receipts_for_honest_nodes_and_no_evidence(gateway: RunningGateway) -> None:
    assert gateway.infer(SAMPLE, request_id="h3-watched-1").status_code == 200

    def all_valid() -> dict[str, Any] | None:
        rows = gateway.nodes()
        return rows if all(r["receipts_valid"] >= 1 for r in rows.values()) else None

    rows = wait_until(
        all_valid,
        what="a valid receipt from every node",
        timeout_s=300,
        interval_s=0.5,
    )
    assert all(r["receipts_valid"] >= 1 and r["receipts_invalid"] == 0 for r in rows.values()), rows
    assert all(
        r["evidence"] == 0 and r["reputation"] > 0.5 and r["latency_p50_ms"] is not None for r in rows.values()
    ), rows
    assert httpx.get(f"{gateway.url}/v1/evidence", timeout=30).json() == {"evidence": []}
    assert not list((gateway.state_dir / "evidence").glob("*.json"))
    status = zkinfer("network", "status", "--gateway", gateway.url, "--json")
    assert status.returncode == 0 and {r["name"] for r in json.loads(status.stdout)["nodes"]} == {
        "alpha",
        "beta",
        "gamma",
    }
    table = zkinfer("network", "status", "--gateway", gateway.url)
    assert table.returncode == 0 and all(name in table.stdout for name in ("alpha", "beta", "gamma"))
    page = httpx.get(f"{gateway.url}/ui", timeout=30)
    assert page.status_code == 200 and 'data-node="alpha"' in page.text and "h3-watched-1" not in page.text
