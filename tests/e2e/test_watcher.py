"""The gateway's watcher (`zkinfer.network.watcher`): after an answer, the node's receipt decides.

What its docstrings promise and tests/integration/test_records.py does not already show (that file covers
equivocation, a node down or still proving past its promise, and the per-node queue): a receipt that
proves the signed statement settles it valid and files nothing; the node's own valid proof of another
output is contradiction evidence; a receipt that does not verify as the node's (here: a peer's valid
receipt, re-signed) is never a contradiction, and is unproven only once the promise falls due; a
status that may be a proxy's or the gateway's own key's doing is never held against the node; a
restarted gateway resumes what was pending; a wrong batch-row header hides nothing.
Real receipts (tests/conftest.py), real SQLite records, real loopback servers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.gateway_harness import FixedServer, fixed_server, pinned_toml, promised_answer
from tests.waiting import until
from zkinfer.core.crypto import identity
from zkinfer.core.crypto.digest import digest_json
from zkinfer.core.crypto.identity import NodeKey
from zkinfer.core.formats import statement
from zkinfer.core.formats.receipt import load, save
from zkinfer.network import nodeset
from zkinfer.network.client import Consensus
from zkinfer.network.receipt_examination import examine
from zkinfer.network.record_types import AnswerRecord, ReceiptState
from zkinfer.network.records import Records
from zkinfer.network.watcher import GRACE_S, Watcher
from zkinfer.verify import evidence_check

SETTLE_S = 120.0  # a receipt is verified in a spawned process at idle priority: seconds on a busy machine
IN_AN_HOUR = int(time.time()) + 3600


@dataclass(frozen=True)
class Node:
    """One pinned node behind a fixed-answer loopback server."""

    name: str
    key: NodeKey
    server: FixedServer

    def answer(self, said: statement.Statement, job: str, prove_by: int = IN_AN_HOUR) -> AnswerRecord:
        return promised_answer(said, self.key, self.name, job, prove_by)


def consensus_of(*nodes: Node) -> Consensus:
    toml = pinned_toml([(n.name, f"http://127.0.0.1:{n.server.server_port}", n.key) for n in nodes])
    return Consensus(nodeset.parse(toml, "nodes.toml"), api_keys={n.name: "node-api-key" for n in nodes})


def watch(
    records: Records,
    consensus: Consensus,
    rows: list[AnswerRecord],
    tmp_path: Path,
    done: Callable[[Watcher], bool],
    what: str,
    grace_s: float = GRACE_S,
    clock: Callable[[], float] = time.time,
) -> None:
    """Watch `rows` (stored first, as the gateway does) until `done(watcher)`, then stop the watcher."""

    async def run() -> None:
        watcher = Watcher(records, consensus, tmp_path / "evidence", poll_s=0.05, grace_s=grace_s, clock=clock)
        try:
            watcher.watch(records.add_answers(rows))
            await until(lambda: done(watcher), what=what, timeout_s=SETTLE_S)
        finally:
            await watcher.stop()
            await consensus.aclose()

    asyncio.run(run())


def node_serving(key: NodeKey) -> Iterator[Node]:
    """A node still proving every receipt (202) unless its server's `by_path` says otherwise."""
    server = fixed_server(202, b'{"status": "proving"}')
    yield Node("n0", key, server)
    server.shutdown()


@pytest.fixture
def node() -> Iterator[Node]:
    yield from node_serving(identity.new_key())


@pytest.fixture
def prover_node(node_key_file: Path) -> Iterator[Node]:
    """The node that proved the shared receipt (tests/conftest.py signs it with `node_key_file`)."""
    yield from node_serving(identity.load_key(node_key_file))


@pytest.fixture
def proven(receipt_file: Path) -> statement.Statement:
    """What the shared receipt proves, as a statement for request r1."""
    return statement.from_receipt(load(receipt_file), "r1")


def another_output(said: statement.Statement) -> statement.Statement:
    first, *rest = said.output
    return replace(said, output=((first[0] + 1, *first[1:]), *rest))


def settled(records: Records, request_id: str = "r1") -> Callable[[Watcher], bool]:
    return lambda _: all(r.receipt is not ReceiptState.PENDING for r in records.answers(request_id))


def test_a_receipt_that_proves_the_signed_statement_settles_valid_and_files_nothing(
    prover_node: Node, proven: statement.Statement, receipt_file: Path, tmp_path: Path
) -> None:
    prover_node.server.by_path["/v1/receipts/job-1"] = (200, receipt_file.read_bytes())
    records = Records(tmp_path / "gateway.db")
    row = prover_node.answer(proven, "job-1")
    watch(records, consensus_of(prover_node), [row], tmp_path, lambda w: not w.busy, "the receipt settled")
    [got] = records.answers("r1")
    assert (got.receipt, got.proven_equal) == (ReceiptState.VALID, True), got
    assert records.evidence_list() == [] and not (tmp_path / "evidence").exists()
    assert prover_node.server.paths[0] == "/v1/receipts/job-1"


def test_the_nodes_own_valid_proof_of_another_output_is_filed_as_contradiction(
    prover_node: Node, proven: statement.Statement, receipt_file: Path, tmp_path: Path
) -> None:
    prover_node.server.by_path["/v1/receipts/job-1"] = (200, receipt_file.read_bytes())
    records = Records(tmp_path / "gateway.db")
    row = prover_node.answer(another_output(proven), "job-1")  # it said one output and proved another
    watch(records, consensus_of(prover_node), [row], tmp_path, lambda w: not w.busy, "the receipt settled")
    [got] = records.answers("r1")
    assert (got.receipt, got.proven_equal) == (ReceiptState.VALID, False), got
    [filed] = records.evidence_list()
    assert (filed.kind, filed.node, filed.request_id) == ("contradiction", "n0", "r1")
    assert evidence_check.check(filed.document).verified
    on_disk = tmp_path / "evidence" / f"{filed.id}.json"
    assert json.loads(on_disk.read_text()) == filed.document
    assert "sha256:" + filed.id == digest_json(filed.document)  # the id is the content: the same lie is filed once
    assert records.node_stats(prover_node.key.public_hex).evidence == 1


class HeldClock:
    """The watcher's clock: held at `held` until the test lets it go (then the real time)."""

    def __init__(self, held: float) -> None:
        self.held: float | None = held

    def __call__(self) -> float:
        return time.time() if self.held is None else self.held


def test_a_peers_valid_receipt_is_no_contradiction_and_the_node_is_unproven_only_once_its_promise_is_due(
    node: Node, proven: statement.Statement, receipt_file: Path, tmp_path: Path
) -> None:
    """A node serves another node's valid receipt of the same input, having signed another output:
    the receipt does not verify as the node's (the signer is pinned), so it is not the node's own
    proof against its word. Before the promise falls due nothing is filed and the node's next
    receipt is followed; once due, the node is unproven, with evidence that holds."""
    peer_receipt = tmp_path / "peer.json"
    save(identity.sign_receipt(load(receipt_file), identity.new_key()), peer_receipt)
    node.server.by_path["/v1/receipts/job-1"] = (200, peer_receipt.read_bytes())
    prove_by = int(time.time()) - 100  # in the past of the real clock, so the evidence is not from the future
    clock = HeldClock(prove_by - 1)  # the watcher's clock: not yet due
    said = replace(another_output(proven), request_id="r1")
    later = replace(proven, request_id="r2", input_digest="sha256:" + "c" * 64)
    rows = [node.answer(said, "job-1", prove_by), node.answer(later, "job-2")]
    records = Records(tmp_path / "gateway.db")

    def set_aside_then_due(watcher: Watcher) -> bool:
        if clock.held is not None and "/v1/receipts/job-2" in node.server.paths:
            # job-1 was examined and set aside: the watcher went on to the node's next receipt
            assert records.evidence_list() == [], "filed before the promise fell due"
            assert [r.receipt for r in records.answers("r1")] == [ReceiptState.PENDING]
            clock.held = None  # now the promise is long due
        return clock.held is None and settled(records)(watcher)

    watch(
        records, consensus_of(node), rows, tmp_path, set_aside_then_due, "job-1 set aside, then unproven", clock=clock
    )
    [got] = records.answers("r1")
    assert got.receipt is ReceiptState.UNPROVEN and "does not verify" in (got.receipt_detail or ""), got
    [filed] = records.evidence_list()
    assert (filed.kind, filed.request_id) == ("unproven", "r1")  # never a contradiction
    assert evidence_check.check(filed.document).verified


@pytest.mark.parametrize("status", [401, 503])
def test_a_status_that_may_be_a_proxys_or_the_gateways_own_key_is_never_held_against_the_node(
    node: Node, status: int, tmp_path: Path
) -> None:
    """Past its promise, a node answering 202 is unproven (tests/integration/test_records.py); one whose receipt
    URL answers 401 or 503 may never have been asked, so it is left unobserved, never accused."""
    node.server.by_path["/v1/receipts/job-1"] = (status, b'{"error": "not the node speaking"}')
    said = statement.Statement("sha256:" + "a" * 64, "r1", "sha256:" + "b" * 64, None, (13,), ((1, 2),))
    records = Records(tmp_path / "gateway.db")
    row = node.answer(said, "job-1", int(time.time()) - 5)  # already due
    watch(records, consensus_of(node), [row], tmp_path, settled(records), "the receipt settled", grace_s=0.5)
    assert [r.receipt for r in records.answers("r1")] == [ReceiptState.UNOBSERVED]
    assert records.evidence_list() == [] and node.server.paths[0] == "/v1/receipts/job-1"


def test_a_restarted_gateway_resumes_what_its_watcher_left_pending(
    prover_node: Node, proven: statement.Statement, receipt_file: Path, tmp_path: Path
) -> None:
    records = Records(tmp_path / "gateway.db")
    row = prover_node.answer(proven, "job-1")
    polled = prover_node.server.paths
    watch(
        records, consensus_of(prover_node), [row], tmp_path, lambda _: bool(polled), "a poll of the still-proving node"
    )
    assert [r.receipt for r in records.answers("r1")] == [ReceiptState.PENDING]
    records.close()
    prover_node.server.by_path["/v1/receipts/job-1"] = (200, receipt_file.read_bytes())  # proven meanwhile
    again = Records(tmp_path / "gateway.db")

    async def run() -> int:
        consensus = consensus_of(prover_node)
        watcher = Watcher(again, consensus, tmp_path / "evidence", poll_s=0.05)
        try:
            resumed = watcher.resume()
            await until(lambda: not watcher.busy, what="the resumed receipt settled", timeout_s=SETTLE_S)
            return resumed
        finally:
            await watcher.stop()
            await consensus.aclose()

    assert asyncio.run(run()) == 1
    [got] = again.answers("r1")
    assert (got.receipt, got.proven_equal) == (ReceiptState.VALID, True), got


def test_a_wrong_batch_row_header_hides_nothing_and_a_body_that_is_no_receipt_is_invalid(
    prover_node: Node, proven: statement.Statement, receipt_file: Path
) -> None:
    """`examine` tries the row the node names first, then every row; garbage is no receipt."""
    pinned = consensus_of(prover_node).nodeset.nodes[0]
    signed = statement.sign(proven, prover_node.key.secret, prover_node.key.public_key)
    body = receipt_file.read_bytes()
    for header in ("0", "7", "-1", "x", ""):
        found = examine(signed, pinned, body, header)
        assert (found.state, found.proven_equal) == (ReceiptState.VALID, True), (header, found)
    garbage = examine(signed, pinned, b"\x00 not json", "0")
    assert garbage.state is ReceiptState.INVALID and garbage.contradiction is None
    assert garbage.detail.startswith("not a receipt"), garbage.detail
