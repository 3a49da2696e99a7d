"""Evidence against a node, checkable offline by anyone (`zkinfer verify-evidence`).

Three kinds, each resting only on the accused's own signatures and, for a contradiction, a valid
proof, so an accuser cannot forge one and an honest node cannot be convicted:

- `contradiction`: the node signed a statement, and a receipt it signed, whose proof verifies,
  attests another output for the same claim (circuit, input, weights).
- `equivocation`: the node signed two statements with the same claim and different outputs (the
  circuit is deterministic, so at most one is true; request ids may differ).
- `unproven`: the node signed a statement and promised to prove it by a time that has passed. The
  missing receipt is the accuser's observation, not a proof: it holds until the node presents a
  receipt *it signed* that proves the statement (`--rebuttal`), which clears it. Another node's
  receipt does not: a node that copies a peer's receipt instead of proving has kept no promise.

The builders here refuse to write evidence that would not hold: they check it as an auditor would
(`zkinfer.verify.evidence_check`). The format is `zkinfer.core.evidence`'s.
"""

from __future__ import annotations

import time
from typing import Any

from zkinfer.core.evidence import SCHEMA, EvidenceError
from zkinfer.core.receipt import Receipt
from zkinfer.core.statement import SignedPromise, SignedStatement
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
