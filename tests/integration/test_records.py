"""The gateway's records (SQLite) and the reputation that follows from them: what survives a
restart, what a newer schema does to an older zkinfer, how statistics and evidence move a score,
and that the watcher files equivocation from records alone (two signed statements, one claim)."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.gateway_harness import FixedServer, promised_answer
from tests.waiting import until
from zkinfer.core.crypto import bls, identity
from zkinfer.core.formats import statement
from zkinfer.network import nodeset, reputation
from zkinfer.network.client import Consensus
from zkinfer.network.record_types import Agreement, AnswerRecord, EvidenceRecord, NodeStats, ReceiptState, percentile
from zkinfer.network.records import Records
from zkinfer.network.records_schema import SCHEMA_VERSION, RecordsError
from zkinfer.network.watcher import Watcher, claim_digest
from zkinfer.verify import evidence_check

KEY = "ab" * 48


def answer(
    request_id: str,
    verdict: Agreement = Agreement.AGREED,
    kind: str | None = None,
    latency: float | None = 10.0,
    **extra: object,
) -> AnswerRecord:
    return AnswerRecord(
        request_id=request_id,
        model="m",
        node_key=KEY,
        node="alpha",
        at=1.0,
        latency_ms=latency,
        verdict=verdict,
        dissent_kind=kind,
        **extra,  # type: ignore[arg-type]
    )


def test_answers_certificates_and_evidence_survive_a_restart(tmp_path: Path) -> None:
    records = Records(tmp_path / "gateway.db")
    stored = records.add_answers(
        [answer("r1", receipt=ReceiptState.PENDING), answer("r1", Agreement.DISSENT, "timeout", None)]
    )
    assert [r.seq for r in stored] == [1, 2]
    doc = {"schema": "zkinfer.evidence/1", "kind": "unproven"}
    assert records.add_evidence(EvidenceRecord("e1", "unproven", KEY, "alpha", "r1", 5.0, doc), stored[0].seq)
    assert not records.add_evidence(
        EvidenceRecord("e1", "unproven", KEY, "alpha", "r1", 6.0, doc), stored[0].seq
    )  # the id is the content: stored once
    records.close()
    again = Records(tmp_path / "gateway.db")
    assert [r.verdict for r in again.answers("r1")] == [Agreement.AGREED, Agreement.DISSENT]
    assert again.answers("r1")[0].evidence == ["e1"] and again.evidence("e1") is not None
    assert [r.request_id for r in again.watching()] == ["r1"]  # the watcher resumes it
    again.settle_receipt(1, ReceiptState.VALID, True, "proves it", 2.5)
    assert again.watching() == []


def test_a_store_from_a_newer_zkinfer_is_refused_with_a_fix(tmp_path: Path) -> None:
    Records(tmp_path / "gateway.db").close()
    with sqlite3.connect(tmp_path / "gateway.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RecordsError, match=r"newer zkinfer.*--state-dir"):
        Records(tmp_path / "gateway.db")
    (tmp_path / "not-a-db").write_bytes(b"garbage" * 100)
    with pytest.raises(RecordsError, match="cannot open"):
        Records(tmp_path / "not-a-db")


def test_node_statistics_count_what_the_ui_shows(tmp_path: Path) -> None:
    records = Records(tmp_path / "gateway.db")
    rows = [answer(f"a{i}", latency=float(i + 1)) for i in range(100)]
    rows += [
        answer("d1", Agreement.DISSENT, "other output", None),
        answer("t1", Agreement.DISSENT, "timeout", None),
        answer("u1", Agreement.DISSENT, "unreachable", None),
    ]
    rows += [
        answer(r, latency=None, receipt=state, proven_equal=equal)
        for r, state, equal in (
            ("v1", ReceiptState.VALID, True),
            ("x1", ReceiptState.VALID, False),
            ("n1", ReceiptState.UNPROVEN, None),
        )
    ]
    records.add_answers(rows)
    stats = records.node_stats(KEY)
    assert (stats.agreed, stats.dissented, stats.timeouts) == (103, 1, 2)
    assert (stats.receipts_valid, stats.receipts_invalid) == (
        1,
        2,
    )  # proving another output is not a valid receipt of its word
    assert stats.latency_p50_ms == 50.0 and stats.latency_p99_ms == 99.0  # nearest rank over the 100 answers that came
    assert records.node_stats("cd" * 48) == NodeStats()
    assert percentile([], 50) is None and percentile([3.0], 99) == 3.0


def test_reputation_rewards_agreement_and_halves_with_each_evidence() -> None:
    new = reputation.score(NodeStats())
    good = reputation.score(NodeStats(agreed=50, receipts_valid=50))
    slow = reputation.score(NodeStats(agreed=50, receipts_valid=50, timeouts=20))
    liar = reputation.score(NodeStats(agreed=50, receipts_valid=50, evidence=1))
    assert new == 0.5 and good > slow > new and 0 <= liar <= good / 2 + 1e-9
    assert reputation.score(NodeStats(dissented=30, receipts_invalid=30)) < 0.05
    assert reputation.score(NodeStats(agreed=1000, receipts_valid=1000, evidence=3)) < reputation.score(
        NodeStats()
    )  # a thousand good answers do not buy back three lies


def test_the_watcher_files_equivocation_from_two_signed_statements_with_one_claim(tmp_path: Path) -> None:
    key = identity.new_key()
    toml = "\n".join(
        [
            "[[nodes]]",
            'name = "alpha"',
            'url = "http://127.0.0.1:9"',
            f'public_key = "{key.public_hex}"',
            f'proof_of_possession = "{bls.pop_prove(key.secret).hex()}"',
        ]
    )
    pinned = nodeset.parse(toml, "nodes.toml")
    records = Records(tmp_path / "gateway.db")
    base = statement.Statement(
        circuit="sha256:" + "a" * 64,
        request_id="r1",
        input_digest="sha256:" + "b" * 64,
        weights_commitment=None,
        output_scales=(13,),
        output=((1, 2),),
    )
    said = [
        base,
        replace(base, request_id="r2"),  # the same output for another request: consistent
        replace(base, request_id="r3", output=((1, 3),)),  # the same claim, another output: a lie
    ]

    def row(s: statement.Statement) -> AnswerRecord:
        signed = statement.sign(s, key.secret, key.public_key)
        return AnswerRecord(
            s.request_id,
            "m",
            key.public_hex,
            "alpha",
            1.0,
            5.0,
            Agreement.AGREED,
            statement=signed.to_json(),
            statement_digest=s.digest(),
            claim=claim_digest(s),
        )

    async def run() -> None:
        watcher = Watcher(records, Consensus(pinned), tmp_path / "evidence")
        for s in said:
            watcher.watch(records.add_answers([row(s)]))
        await watcher.stop()

    asyncio.run(run())
    filed = records.evidence_list()
    assert [e.kind for e in filed] == ["equivocation"] and filed[0].request_id in ("r1", "r2", "r3")
    assert evidence_check.check(filed[0].document).verified
    on_disk = json.loads((tmp_path / "evidence" / f"{filed[0].id}.json").read_text())
    assert on_disk == filed[0].document and records.node_stats(key.public_hex).evidence == 1


def test_the_watcher_calls_a_promise_unproven_only_when_the_node_itself_answers_past_it(tmp_path: Path) -> None:
    from tests.gateway_harness import fixed_server

    still_proving = fixed_server(202, b'{"id": "job-1", "status": "proving"}')
    down_port = (
        still_proving.server_port + 1 if still_proving.server_port < 65000 else 1
    )  # nothing listens there (checked below)
    keys = [identity.new_key(), identity.new_key()]
    urls = [f"http://127.0.0.1:{still_proving.server_port}", f"http://127.0.0.1:{down_port}"]
    toml = "\n".join(
        f'[[nodes]]\nname = "n{i}"\nurl = "{url}"\npublic_key = "{k.public_hex}"\nproof_of_possession = '
        f'"{bls.pop_prove(k.secret).hex()}"\n'
        for i, (k, url) in enumerate(zip(keys, urls, strict=True))
    )
    pinned = nodeset.parse(toml, "nodes.toml")
    records = Records(tmp_path / "gateway.db")
    said = statement.Statement(
        circuit="sha256:" + "a" * 64,
        request_id="r1",
        input_digest="sha256:" + "b" * 64,
        weights_commitment=None,
        output_scales=(13,),
        output=((1, 2),),
    )
    rows = [promised_answer(said, k, f"n{i}", "job-1", int(time.time()) - 5) for i, k in enumerate(keys)]  # due

    async def run() -> None:
        watcher = Watcher(records, Consensus(pinned), tmp_path / "evidence", poll_s=0.05, grace_s=1.0)
        watcher.watch(records.add_answers(rows))
        await until(lambda: not watcher.busy, what="the watcher idle", timeout_s=30)
        await watcher.stop()

    try:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", down_port), timeout=1).close()
        asyncio.run(run())
    finally:
        still_proving.shutdown()
    states = {r.node: r.receipt for r in records.answers("r1")}
    assert states == {
        "n0": ReceiptState.UNPROVEN,
        "n1": ReceiptState.UNOBSERVED,
    }  # a node it could not reach is not accused
    filed = records.evidence_list()
    assert [(e.kind, e.node) for e in filed] == [("unproven", "n0")]
    assert evidence_check.check(filed[0].document).verified


def _pending_answers(key: identity.NodeKey, n: int) -> list[AnswerRecord]:
    """n agreed answers of one node, each with a signed statement and a promise due in an hour."""
    rows = []
    for i in range(n):
        said = statement.Statement(
            circuit="sha256:" + "a" * 64,
            request_id=f"r{i}",
            input_digest="sha256:" + f"{i:064x}",
            weights_commitment=None,
            output_scales=(13,),
            output=((i,),),
        )
        rows.append(promised_answer(said, key, "n0", f"job-{i}", int(time.time()) + 3600))
    return rows


def _watch_until_polled(
    server: FixedServer, key: identity.NodeKey, rows: list[AnswerRecord], records: Records, tmp_path: Path, polls: int
) -> int:
    """Watch `rows` against `server` until it has been polled `polls` times; how many receipts the watcher still
    holds."""
    toml = (
        f'[[nodes]]\nname = "n0"\nurl = "http://127.0.0.1:{server.server_port}"\npublic_key = "{key.public_hex}"\n'
        f'proof_of_possession = "{bls.pop_prove(key.secret).hex()}"\n'
    )

    async def run() -> int:
        watcher = Watcher(records, Consensus(nodeset.parse(toml, "nodes.toml")), tmp_path / "evidence", poll_s=0.02)
        watcher.watch(records.add_answers(rows))
        await until(
            lambda: len(server.paths) >= polls, what=f"{polls} polls of the node", timeout_s=30, interval_s=0.02
        )
        busy = watcher.busy
        await watcher.stop()
        return busy

    try:
        return asyncio.run(run())
    finally:
        server.shutdown()


def test_the_watcher_follows_each_nodes_receipts_oldest_first_and_asks_for_no_newer_one_while_it_waits(
    tmp_path: Path,
) -> None:
    """A node proves its queue in order: while its oldest receipt is pending, polling the newer ones
    only costs both sides (one poller per receipt made the gateway's answers 10x slower under a backlog)."""
    from tests.gateway_harness import fixed_server

    proving = fixed_server(202, b'{"status": "proving"}')
    key = identity.new_key()
    records = Records(tmp_path / "gateway.db")
    busy = _watch_until_polled(proving, key, _pending_answers(key, 20), records, tmp_path, 5)
    assert len(proving.paths) >= 5, "the watcher never polled"
    assert set(proving.paths) == {"/v1/receipts/job-0"}, proving.paths
    assert busy == 20 and all(r.receipt is ReceiptState.PENDING for i in range(20) for r in records.answers(f"r{i}"))


def test_a_receipt_the_node_gave_up_on_does_not_hold_up_the_nodes_later_ones(tmp_path: Path) -> None:
    """A failed proof (500) is set aside until its promise falls due (then it is unproven), and the
    watcher goes on to the node's next receipt; nothing is filed before the promise falls due."""
    from tests.gateway_harness import fixed_server

    server = fixed_server(202, b'{"status": "proving"}')
    server.by_path["/v1/receipts/job-0"] = (500, b'{"error": "proving failed"}')
    key = identity.new_key()
    records = Records(tmp_path / "gateway.db")
    busy = _watch_until_polled(server, key, _pending_answers(key, 3), records, tmp_path, 6)
    assert server.paths[0] == "/v1/receipts/job-0" and "/v1/receipts/job-1" in server.paths, server.paths
    assert "/v1/receipts/job-2" not in server.paths  # job-1 is still proving
    assert busy == 3 and records.evidence_list() == []
