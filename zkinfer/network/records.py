"""The gateway's memory: SQLite (WAL) rows of what each node said and proved, certificates, evidence.

One row per node per request (`answers`): whether it agreed with the quorum or why not, its
latency, its signed statement and promise when valid, and what the watcher later found at its
receipt (valid and proving that statement, invalid, unproven by its deadline). Certificates and
evidence documents are kept whole, so `/v1/certificates/{id}` and `/v1/evidence/{id}` serve the
very bytes an auditor checks. Reputation (`reputation.score`) is computed from these rows.
Request ids are the gateway's namespaced ones (`<tenant>:<client id>`, see `gateway.namespaced`): a
row belongs to the tenant its id's prefix names.

The schema is versioned with `PRAGMA user_version` (`MIGRATIONS`), as the node's job store is, so
a state directory written by an older gateway still opens and a newer one is refused.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from zkinfer.core.support import sqlite_tx
from zkinfer.core.support.errors import UsageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    model TEXT NOT NULL,
    node_key TEXT NOT NULL,
    node TEXT NOT NULL,
    at REAL NOT NULL,
    latency_ms REAL,
    verdict TEXT NOT NULL,
    dissent_kind TEXT,
    detail TEXT NOT NULL DEFAULT '',
    statement TEXT,
    statement_digest TEXT,
    claim TEXT,
    promise TEXT,
    receipt_id TEXT,
    prove_by INTEGER,
    receipt TEXT NOT NULL,
    proven_equal INTEGER,
    receipt_detail TEXT NOT NULL DEFAULT '',
    receipt_seconds REAL,
    evidence TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS answers_node ON answers(node_key, seq);
CREATE INDEX IF NOT EXISTS answers_claim ON answers(node_key, claim);
CREATE INDEX IF NOT EXISTS answers_request ON answers(request_id);
CREATE INDEX IF NOT EXISTS answers_watch ON answers(receipt);
CREATE TABLE IF NOT EXISTS certificates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    model TEXT NOT NULL,
    statement_digest TEXT NOT NULL,
    certificate TEXT NOT NULL,
    signers TEXT NOT NULL,
    dissenters TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_request ON certificates(request_id, seq);
CREATE TABLE IF NOT EXISTS evidence (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    accused TEXT NOT NULL,
    node TEXT NOT NULL,
    request_id TEXT NOT NULL,
    at REAL NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_accused ON evidence(accused);
"""

# (version reached, statements) for each schema change after the first; none yet.
MIGRATIONS: list[tuple[int, list[str]]] = [(1, [])]
SCHEMA_VERSION = MIGRATIONS[-1][0]
WINDOW = 1000  # a node's statistics (and so its reputation) cover its most recent answers


class RecordsError(UsageError):
    """The gateway's records cannot be opened (unwritable, corrupt, or from a newer zkinfer)."""


class Agreement(StrEnum):
    """How a node's answer to one request ended, relative to the quorum."""

    AGREED = "agreed"  # signed the certified statement (for label agreement: one with the certified label)
    DISSENT = "dissent"  # answered otherwise, or not at all: `dissent_kind` says how
    NO_QUORUM = "no quorum"  # a valid answer to a request on which no quorum formed
    SERVED = "served"  # an LLM node's answer no other node re-executed (neither good nor bad for its standing)


class ReceiptState(StrEnum):
    NONE = "none"  # no valid signed statement and promise: nothing to watch
    PENDING = "pending"  # the watcher is waiting for the receipt
    VALID = "valid"  # a receipt that verified (`proven_equal` says whether it proves the statement)
    INVALID = "invalid"  # the receipt failed verification, or proves another claim
    UNPROVEN = "unproven"  # the promise's time passed with no valid receipt of the statement
    UNOBSERVED = "unobserved"  # the node could not be reached until past its promise: no verdict


@dataclass(frozen=True)
class AnswerRecord:
    request_id: str
    model: str
    node_key: str  # the pinned key (hex) of the node asked
    node: str
    at: float
    latency_ms: float | None  # None when no answer came (timeout, unreachable)
    verdict: Agreement
    dissent_kind: str | None = None
    detail: str = ""
    statement: dict[str, Any] | None = None  # SignedStatement JSON, only when signed validly by this node's key
    statement_digest: str | None = None
    claim: str | None = None  # a digest of Statement.claim(): equal claims with different outputs conflict
    promise: dict[str, Any] | None = None  # SignedPromise JSON
    receipt_id: str | None = None
    prove_by: int | None = None
    receipt: ReceiptState = ReceiptState.NONE
    seq: int | None = None
    proven_equal: bool | None = None
    receipt_detail: str = ""
    evidence: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CertificateRecord:
    request_id: str
    model: str
    statement_digest: str
    certificate: dict[str, Any]
    signers: list[str]  # node names
    dissenters: list[str]
    at: float


@dataclass(frozen=True)
class EvidenceRecord:
    id: str
    kind: str
    accused: str
    node: str
    request_id: str
    at: float
    document: dict[str, Any]


@dataclass(frozen=True)
class NodeStats:
    """One node's record over its last `WINDOW` answers (evidence: all of it)."""

    answers: int = 0
    agreed: int = 0
    dissented: int = 0  # answered, but not the certified statement (or not validly)
    timeouts: int = 0  # no answer in time, or unreachable
    receipts_valid: int = 0  # a verified receipt proving exactly its signed statement
    receipts_invalid: int = 0  # a receipt that failed verification or proves something else, or none by the deadline
    evidence: int = 0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None


NO_ANSWER_KINDS = ("timeout", "unreachable")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (q in [0, 100]) of `values`, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n·q/100), at least 1
    return ordered[int(rank) - 1]


class Records:
    """The gateway's SQLite records; safe to use from the event loop and worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise RecordsError(
                f"{path}: cannot open the gateway's records ({exc}); give --state-dir a folder this user can write"
            ) from exc

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RecordsError(
                f"{self.path}: written by a newer zkinfer (schema {version}, this one knows {SCHEMA_VERSION}); upgrade zkinfer or use another --state-dir"
            )
        if version == 0:
            with self._lock:
                self._db.executescript(SCHEMA)  # executescript commits by itself: not inside a transaction
        with self._transaction() as db:
            for reached, statements in MIGRATIONS:
                if version < reached:
                    for sql in statements:
                        db.execute(sql)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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
                    "INSERT INTO answers (request_id, model, node_key, node, at, latency_ms, verdict, dissent_kind, detail, statement, statement_digest, claim,"
                    " promise, receipt_id, prove_by, receipt, proven_equal, receipt_detail, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        "seq, request_id, model, node_key, node, at, latency_ms, verdict, dissent_kind, detail, statement, statement_digest, claim, promise,"
        " receipt_id, prove_by, receipt, proven_equal, receipt_detail, evidence"
    )

    def answers(self, request_id: str) -> list[AnswerRecord]:
        rows = self._query(
            f"SELECT {self._ANSWER_COLUMNS} FROM answers WHERE request_id = ? ORDER BY seq", (request_id,)
        )
        return [_answer(row) for row in rows]

    def watching(self) -> list[AnswerRecord]:
        """Answers whose receipt the watcher has not settled yet (to resume after a restart)."""
        rows = self._query(
            f"SELECT {self._ANSWER_COLUMNS} FROM answers WHERE receipt = ? ORDER BY seq", (ReceiptState.PENDING.value,)
        )
        return [_answer(row) for row in rows]

    def settle_receipt(
        self, seq: int, state: ReceiptState, proven_equal: bool | None, detail: str, seconds: float | None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE answers SET receipt = ?, proven_equal = ?, receipt_detail = ?, receipt_seconds = ? WHERE seq = ?",
                (state.value, None if proven_equal is None else int(proven_equal), detail[:2000], seconds, seq),
            )

    def conflicting(self, node_key: str, claim: str, statement_digest: str) -> list[dict[str, Any]]:
        """This node's other signed statements with the same claim and another statement digest
        (the request id alone differs between honest statements, so the caller compares outputs)."""
        rows = self._query(
            "SELECT statement FROM answers WHERE node_key = ? AND claim = ? AND statement_digest != ? AND statement IS NOT NULL ORDER BY seq LIMIT 50",
            (node_key, claim, statement_digest),
        )
        return [json.loads(row[0]) for row in rows]

    # certificates -------------------------------------------------------------------------------

    def add_certificate(self, record: CertificateRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO certificates (request_id, model, statement_digest, certificate, signers, dissenters, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
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

    def set_dissenters(self, request_id: str, dissenters: list[str]) -> None:
        """The certificate's dissenters once every node has answered or timed out (some answer after the quorum)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE certificates SET dissenters = ? WHERE seq = (SELECT MAX(seq) FROM certificates WHERE request_id = ?)",
                (json.dumps(dissenters), request_id),
            )

    _CERT_COLUMNS = "request_id, model, statement_digest, certificate, signers, dissenters, at"

    def certificate(self, request_id: str) -> CertificateRecord | None:
        """The latest certificate for a request id (a client may reuse an id)."""
        rows = self._query(
            f"SELECT {self._CERT_COLUMNS} FROM certificates WHERE request_id = ? ORDER BY seq DESC LIMIT 1",
            (request_id,),
        )
        return _certificate(rows[0]) if rows else None

    def recent_certificates(self, limit: int = 50) -> list[CertificateRecord]:
        return [
            _certificate(row)
            for row in self._query(f"SELECT {self._CERT_COLUMNS} FROM certificates ORDER BY seq DESC LIMIT ?", (limit,))
        ]

    # evidence -----------------------------------------------------------------------------------

    def add_evidence(self, record: EvidenceRecord, answer_seq: int | None = None) -> bool:
        """Store an evidence document (once: the id is its content digest); True when it is new."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO evidence (id, kind, accused, node, request_id, at, document) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        return _evidence(rows[0]) if rows else None

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
        return [_evidence(row) for row in rows]

    # statistics ---------------------------------------------------------------------------------

    def node_stats(self, node_key: str) -> NodeStats:
        rows = self._query(
            "SELECT verdict, dissent_kind, latency_ms, receipt, proven_equal FROM answers WHERE node_key = ? ORDER BY seq DESC LIMIT ?",
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


def _answer(row: tuple[Any, ...]) -> AnswerRecord:
    (
        seq,
        request_id,
        model,
        node_key,
        node,
        at,
        latency_ms,
        verdict,
        kind,
        detail,
        statement,
        digest,
        claim,
        promise,
        receipt_id,
        prove_by,
        receipt,
        proven_equal,
        receipt_detail,
        evidence,
    ) = row
    return AnswerRecord(
        request_id=request_id,
        model=model,
        node_key=node_key,
        node=node,
        at=at,
        latency_ms=latency_ms,
        verdict=Agreement(verdict),
        dissent_kind=kind,
        detail=detail,
        statement=None if statement is None else json.loads(statement),
        statement_digest=digest,
        claim=claim,
        promise=None if promise is None else json.loads(promise),
        receipt_id=receipt_id,
        prove_by=prove_by,
        receipt=ReceiptState(receipt),
        seq=seq,
        proven_equal=None if proven_equal is None else bool(proven_equal),
        receipt_detail=receipt_detail,
        evidence=json.loads(evidence),
    )


def _certificate(row: tuple[Any, ...]) -> CertificateRecord:
    request_id, model, digest, certificate, signers, dissenters, at = row
    return CertificateRecord(
        request_id, model, digest, json.loads(certificate), json.loads(signers), json.loads(dissenters), at
    )


def _evidence(row: tuple[Any, ...]) -> EvidenceRecord:
    evidence_id, kind, accused, node, request_id, at, document = row
    return EvidenceRecord(evidence_id, kind, accused, node, request_id, at, json.loads(document))
