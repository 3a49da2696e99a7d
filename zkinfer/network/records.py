"""The gateway's memory: SQLite (WAL) rows of what each node said and proved, certificates, evidence.

One row per node per request (`answers`): whether it agreed with the quorum or why not, its
latency, its signed statement and promise when valid, and what the watcher later found at its
receipt (valid and proving that statement, invalid, unproven by its deadline). Certificates and
evidence documents are kept whole, so `/v1/certificates/{id}` and `/v1/evidence/{id}` serve the
very bytes an auditor checks. Reputation (`reputation.score`) is computed from these rows.
Request ids are the gateway's namespaced ones (`<tenant>:<client id>`, see `gateway.namespaced`): a
row belongs to the tenant its id's prefix names.

The rows' types are in `record_types`; the schema and its versioned migrations in `records_schema`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from zkinfer.core.support import sqlite_tx
from zkinfer.network import records_schema
from zkinfer.network.record_types import (
    NO_ANSWER_KINDS,
    WINDOW,
    Agreement,
    AnswerRecord,
    CertificateRecord,
    EvidenceRecord,
    NodeStats,
    PostState,
    ReceiptState,
    answer_from_row,
    certificate_from_row,
    evidence_from_row,
    percentile,
)


class Records:
    """The gateway's SQLite records; safe to use from the event loop and worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = records_schema.connect(path, self._lock)

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite_tx.immediate(self._db, self._lock)

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # answers ------------------------------------------------------------------------------------

    def add_answers(self, rows: Sequence[AnswerRecord]) -> list[AnswerRecord]:
        """Store one request's answers; the same records with their `seq`."""
        stored = []
        with self._transaction() as db:
            for r in rows:
                cursor = db.execute(
                    "INSERT INTO answers (request_id, model, node_key, node, at, latency_ms, verdict, dissent_kind, "
                    "detail, statement, statement_digest, claim,"
                    " promise, receipt_id, prove_by, receipt, proven_equal, receipt_detail, evidence)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.request_id,
                        r.model,
                        r.node_key,
                        r.node,
                        r.at,
                        r.latency_ms,
                        r.verdict.value,
                        r.dissent_kind,
                        r.detail,
                        _dumps(r.statement),
                        r.statement_digest,
                        r.claim,
                        _dumps(r.promise),
                        r.receipt_id,
                        r.prove_by,
                        r.receipt.value,
                        None if r.proven_equal is None else int(r.proven_equal),
                        r.receipt_detail,
                        json.dumps(r.evidence),
                    ),
                )
                stored.append(_replace_seq(r, int(cursor.lastrowid or 0)))
        return stored

    _ANSWER_COLUMNS = (
        "seq, request_id, model, node_key, node, at, latency_ms, verdict, dissent_kind, detail, statement, "
        "statement_digest, claim, promise,"
        " receipt_id, prove_by, receipt, proven_equal, receipt_detail, evidence"
    )

    def answers(self, request_id: str) -> list[AnswerRecord]:
        rows = self._query(
            f"SELECT {self._ANSWER_COLUMNS} FROM answers WHERE request_id = ? ORDER BY seq", (request_id,)
        )
        return [answer_from_row(row) for row in rows]

    def watching(self) -> list[AnswerRecord]:
        """Answers whose receipt the watcher has not settled yet (to resume after a restart)."""
        rows = self._query(
            f"SELECT {self._ANSWER_COLUMNS} FROM answers WHERE receipt = ? ORDER BY seq", (ReceiptState.PENDING.value,)
        )
        return [answer_from_row(row) for row in rows]

    def settle_receipt(
        self, seq: int, state: ReceiptState, proven_equal: bool | None, detail: str, seconds: float | None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE answers SET receipt = ?, proven_equal = ?, receipt_detail = ?, receipt_seconds = ?"
                " WHERE seq = ?",
                (state.value, None if proven_equal is None else int(proven_equal), detail[:2000], seconds, seq),
            )

    def conflicting(self, node_key: str, claim: str, statement_digest: str) -> list[dict[str, Any]]:
        """This node's other signed statements with the same claim and another statement digest
        (the request id alone differs between honest statements, so the caller compares outputs)."""
        rows = self._query(
            "SELECT statement FROM answers WHERE node_key = ? AND claim = ? AND statement_digest != ?"
            " AND statement IS NOT NULL ORDER BY seq LIMIT 50",
            (node_key, claim, statement_digest),
        )
        return [json.loads(row[0]) for row in rows]

    # certificates -------------------------------------------------------------------------------

    def add_certificate(self, record: CertificateRecord, *, post: bool = False) -> None:
        """Store a certificate; `post`: queue it for the chain in the same transaction (so a gateway stopped
        right after answering still posts it when it starts again)."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO certificates (request_id, model, statement_digest, certificate, signers, dissenters, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.request_id,
                    record.model,
                    record.statement_digest,
                    json.dumps(record.certificate),
                    json.dumps(record.signers),
                    json.dumps(record.dissenters),
                    record.at,
                ),
            )
            if post:
                db.execute(
                    "INSERT INTO chain_posts (certificate_seq, state, next_try) VALUES (?, ?, ?)",
                    (cursor.lastrowid, PostState.PENDING.value, record.at),
                )

    def set_dissenters(self, request_id: str, dissenters: list[str]) -> None:
        """The certificate's dissenters once every node has answered or timed out (some answer after the quorum)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE certificates SET dissenters = ?"
                " WHERE seq = (SELECT MAX(seq) FROM certificates WHERE request_id = ?)",
                (json.dumps(dissenters), request_id),
            )

    _CERT_COLUMNS = "request_id, model, statement_digest, certificate, signers, dissenters, at"

    def certificate(self, request_id: str) -> CertificateRecord | None:
        """The latest certificate for a request id (a client may reuse an id)."""
        rows = self._query(
            f"SELECT {self._CERT_COLUMNS} FROM certificates WHERE request_id = ? ORDER BY seq DESC LIMIT 1",
            (request_id,),
        )
        return certificate_from_row(rows[0]) if rows else None

    def recent_certificates(self, limit: int = 50) -> list[CertificateRecord]:
        return [
            certificate_from_row(row)
            for row in self._query(f"SELECT {self._CERT_COLUMNS} FROM certificates ORDER BY seq DESC LIMIT ?", (limit,))
        ]

    # certificates on the chain ------------------------------------------------------------------

    def due_posts(self, now: float, limit: int = 16) -> list[tuple[int, CertificateRecord, int]]:
        """Queued certificates whose next try is due: (seq, certificate, attempts so far), oldest first."""
        rows = self._query(
            f"SELECT c.seq, c.{self._CERT_COLUMNS.replace(', ', ', c.')}, p.attempts FROM chain_posts p"
            " JOIN certificates c ON c.seq = p.certificate_seq WHERE p.state = ? AND p.next_try <= ?"
            " ORDER BY p.next_try, c.seq LIMIT ?",
            (PostState.PENDING.value, now, limit),
        )
        return [(int(row[0]), certificate_from_row(row[1:-1]), int(row[-1])) for row in rows]

    def settle_post(self, seq: int, state: PostState, detail: str, tx_hash: str | None = None) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE chain_posts SET state = ?, detail = ?, tx_hash = ?, attempts = attempts + 1"
                " WHERE certificate_seq = ?",
                (state.value, detail[:2000], tx_hash, seq),
            )

    def retry_post(self, seq: int, next_try: float, detail: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE chain_posts SET attempts = attempts + 1, next_try = ?, detail = ? WHERE certificate_seq = ?",
                (next_try, detail[:2000], seq),
            )

    def posts(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest queued certificates and how their posting went (newest first)."""
        rows = self._query(
            "SELECT c.request_id, c.statement_digest, p.state, p.attempts, p.next_try, p.tx_hash, p.detail"
            " FROM chain_posts p JOIN certificates c ON c.seq = p.certificate_seq ORDER BY p.certificate_seq DESC"
            " LIMIT ?",
            (limit,),
        )
        names = ("request_id", "statement_digest", "state", "attempts", "next_try", "tx_hash", "detail")
        return [dict(zip(names, row, strict=True)) for row in rows]

    # evidence -----------------------------------------------------------------------------------

    def add_evidence(self, record: EvidenceRecord, answer_seq: int | None = None) -> bool:
        """Store an evidence document (once: the id is its content digest); True when it is new."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO evidence (id, kind, accused, node, request_id, at, document)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.kind,
                    record.accused,
                    record.node,
                    record.request_id,
                    record.at,
                    json.dumps(record.document),
                ),
            )
            if answer_seq is not None:
                (current,) = db.execute("SELECT evidence FROM answers WHERE seq = ?", (answer_seq,)).fetchone() or (
                    "[]",
                )
                ids = json.loads(current)
                if record.id not in ids:
                    db.execute(
                        "UPDATE answers SET evidence = ? WHERE seq = ?", (json.dumps([*ids, record.id]), answer_seq)
                    )
            return cursor.rowcount == 1

    _EVIDENCE_COLUMNS = "id, kind, accused, node, request_id, at, document"

    def evidence(self, evidence_id: str) -> EvidenceRecord | None:
        rows = self._query(f"SELECT {self._EVIDENCE_COLUMNS} FROM evidence WHERE id = ?", (evidence_id,))
        return evidence_from_row(rows[0]) if rows else None

    def evidence_list(
        self, limit: int = 100, accused: str | None = None, request_prefix: str | None = None
    ) -> list[EvidenceRecord]:
        """The most recent evidence, optionally only against `accused` and only about request ids
        starting with `request_prefix` (a tenant's namespace, `<tenant>:`)."""
        where, args = ["1"], []
        if accused is not None:
            where.append("accused = ?")
            args.append(accused)
        if request_prefix is not None:
            where.append("substr(request_id, 1, length(?)) = ?")
            args += [request_prefix, request_prefix]
        rows = self._query(
            f"SELECT {self._EVIDENCE_COLUMNS} FROM evidence WHERE {' AND '.join(where)} ORDER BY at DESC LIMIT ?",
            (*args, limit),
        )
        return [evidence_from_row(row) for row in rows]

    # statistics ---------------------------------------------------------------------------------

    def node_stats(self, node_key: str) -> NodeStats:
        rows = self._query(
            "SELECT verdict, dissent_kind, latency_ms, receipt, proven_equal FROM answers WHERE node_key = ?"
            " ORDER BY seq DESC LIMIT ?",
            (node_key, WINDOW),
        )
        (evidence,) = self._query("SELECT COUNT(*) FROM evidence WHERE accused = ?", (node_key,))[0]
        agreed = sum(1 for r in rows if r[0] == Agreement.AGREED)
        timeouts = sum(1 for r in rows if r[0] == Agreement.DISSENT and r[1] in NO_ANSWER_KINDS)
        dissented = sum(1 for r in rows if r[0] == Agreement.DISSENT and r[1] not in NO_ANSWER_KINDS)
        valid = sum(1 for r in rows if r[3] == ReceiptState.VALID and r[4] == 1)
        invalid = sum(
            1
            for r in rows
            if r[3] in (ReceiptState.INVALID, ReceiptState.UNPROVEN) or (r[3] == ReceiptState.VALID and r[4] == 0)
        )
        latencies = [float(r[2]) for r in rows if r[2] is not None]
        return NodeStats(
            answers=len(rows),
            agreed=agreed,
            dissented=dissented,
            timeouts=timeouts,
            receipts_valid=valid,
            receipts_invalid=invalid,
            evidence=int(evidence),
            latency_p50_ms=percentile(latencies, 50),
            latency_p99_ms=percentile(latencies, 99),
        )


def _dumps(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _replace_seq(record: AnswerRecord, seq: int) -> AnswerRecord:
    return replace(record, seq=seq)
