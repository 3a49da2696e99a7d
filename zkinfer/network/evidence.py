"""Collecting evidence against a node: a contradiction, an equivocation or an unproven promise (the
three kinds and what each rests on: `zkinfer.core.formats.evidence`), as the gateway's watcher observes them.

The builders here refuse to write evidence that would not hold: they check it as an auditor would
(`zkinfer.verify.evidence_check`), and anyone checks it offline the same way (`zkinfer verify-evidence`).
"""

from __future__ import annotations

import time
from typing import Any

from zkinfer.core.formats.evidence import SCHEMA, EvidenceError
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.formats.statement import SignedPromise, SignedStatement
from zkinfer.verify.evidence_check import check

__all__ = ["SCHEMA", "EvidenceError", "contradiction", "equivocation", "unproven"]


def _now() -> int:
    return int(time.time())


def _base(kind: str, signed: SignedStatement, node: str, observed_at: int) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": kind,
        "accused": signed.public_key.hex(),
        "node": node,
        "request_id": signed.statement.request_id,
        "observed_at": observed_at,
    }


def _built(document: dict[str, Any], rebuttal: Receipt | None = None) -> dict[str, Any]:
    verdict = check(document, rebuttal)
    if not verdict.verified:
        raise EvidenceError(f"this {document['kind']} evidence would not hold: " + "; ".join(verdict.reasons()))
    return document


def contradiction(
    signed: SignedStatement,
    receipt_json: dict[str, Any],
    batch_row: int,
    rows: int,
    node: str = "",
    observed_at: int | None = None,
) -> dict[str, Any]:
    """Evidence that `signed` is contradicted by the accused's own valid receipt (row `batch_row`
    of `rows`): same claim, another proven output. Verifies the receipt (isolated ezkl)."""
    document = {
        **_base("contradiction", signed, node, _now() if observed_at is None else observed_at),
        "statement": signed.to_json(),
        "receipt": receipt_json,
        "batch_row": batch_row,
        "rows": rows,
    }
    return _built(document)


def equivocation(
    a: SignedStatement, b: SignedStatement, node: str = "", observed_at: int | None = None
) -> dict[str, Any]:
    """Evidence that the accused signed two statements with one claim and two outputs."""
    document = {
        **_base("equivocation", a, node, _now() if observed_at is None else observed_at),
        "statements": [a.to_json(), b.to_json()],
    }
    return _built(document)


def unproven(signed: SignedStatement, promise: SignedPromise, observed_at: int, node: str = "") -> dict[str, Any]:
    """Evidence that the accused promised to prove `signed` by a time before `observed_at`, when
    the accuser had no receipt proving it."""
    document = {
        **_base("unproven", signed, node, observed_at),
        "statement": signed.to_json(),
        "promise": promise.to_json(),
    }
    return _built(document)
