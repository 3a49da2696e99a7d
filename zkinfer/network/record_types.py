"""What the gateway remembers, as values: how an answer ended, its receipt's state, and the rows read back.

One row per node per request (`AnswerRecord`): whether it agreed with the quorum or why not, its
latency, its signed statement and promise when valid, and what the watcher later found at its
receipt. `NodeStats` summarises a node's recent rows for reputation (`reputation.score`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

WINDOW = 1000  # a node's statistics (and so its reputation) cover its most recent answers


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


class PostState(StrEnum):
    """Where a certificate queued for the chain stands (`zkinfer gateway --post-certificates`)."""

    PENDING = "pending"  # not on chain yet: tried again at next_try
    POSTED = "posted"  # on chain (by this gateway, or already by someone)
    TAKEN = "taken"  # the oracle holds another statement for this (circuit, request id): posted first by someone
    SKIPPED = "skipped"  # a label certificate: it certifies labels, not the one output the oracle records


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


def answer_from_row(row: tuple[Any, ...]) -> AnswerRecord:
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


def certificate_from_row(row: tuple[Any, ...]) -> CertificateRecord:
    request_id, model, digest, certificate, signers, dissenters, at = row
    return CertificateRecord(
        request_id, model, digest, json.loads(certificate), json.loads(signers), json.loads(dissenters), at
    )


def evidence_from_row(row: tuple[Any, ...]) -> EvidenceRecord:
    evidence_id, kind, accused, node, request_id, at, document = row
    return EvidenceRecord(evidence_id, kind, accused, node, request_id, at, json.loads(document))
