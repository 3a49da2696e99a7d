"""The evidence format (`zkinfer.evidence/1`): a document accusing a node, checkable offline by anyone.

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

The network collects evidence (`zkinfer.network.evidence`), the auditor checks it
(`zkinfer.verify.evidence_check`); `structure` here reads one, raising EvidenceError (exit 2) for a
document that is not evidence at all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from zkinfer.core.formats import strict_json
from zkinfer.core.formats.receipt import max_receipt_bytes
from zkinfer.core.formats.statement import REQUEST_ID
from zkinfer.core.support.errors import UsageError

SCHEMA: Final = "zkinfer.evidence/1"
KINDS: Final = ("contradiction", "equivocation", "unproven")
COMMON: Final = {"schema", "kind", "accused", "node", "request_id", "observed_at"}
FIELDS: Final = {
    "contradiction": COMMON | {"statement", "receipt", "batch_row", "rows"},
    "equivocation": COMMON | {"statements"},
    "unproven": COMMON | {"statement", "promise"},
}
MAX_ROWS: Final = 1 << 16
CLOCK_SKEW_S: Final = 300  # an observation this far in the future of the checker's clock is refused
KEY_HEX = re.compile(r"^[0-9a-f]{96}$")
_NODE = re.compile(r"^[A-Za-z0-9_-]{0,32}$")


class EvidenceError(UsageError):
    """Not an evidence document, or (from a builder) evidence that would not hold."""


def structure(document: Any) -> tuple[str, str]:
    """(kind, accused) of a well-formed evidence document; EvidenceError naming the field otherwise."""
    if not isinstance(document, dict):
        raise EvidenceError("evidence: not a JSON object")
    if document.get("schema") != SCHEMA:
        raise EvidenceError(f"evidence.schema: {str(document.get('schema'))[:40]!r} is not {SCHEMA!r}")
    kind = document.get("kind")
    if kind not in KINDS:
        raise EvidenceError(f"evidence.kind: {str(kind)[:40]!r} is not one of {', '.join(KINDS)}")
    expected = FIELDS[kind]
    if set(document) != expected:
        extra, missing = sorted(set(document) - expected), sorted(expected - set(document))
        raise EvidenceError(f"evidence ({kind}): unexpected fields {extra} / missing fields {missing}")
    accused = document["accused"]
    if not isinstance(accused, str) or not KEY_HEX.fullmatch(accused):
        raise EvidenceError("evidence.accused: expected a public key as 96 lowercase hex digits")
    if not isinstance(document["node"], str) or not _NODE.fullmatch(document["node"]):
        raise EvidenceError("evidence.node: expected a node name (0-32 characters of A-Z a-z 0-9 _ -)")
    if not isinstance(document["request_id"], str) or not REQUEST_ID.fullmatch(document["request_id"]):
        raise EvidenceError("evidence.request_id: expected a request id (1-128 characters of A-Z a-z 0-9 . _ : -)")
    observed = document["observed_at"]
    if type(observed) is not int or not 0 < observed < 1 << 40:
        raise EvidenceError("evidence.observed_at: expected a Unix time in whole seconds")
    return kind, accused


def read(path: Path) -> Any:
    """An evidence (or rebuttal) file as strict JSON; a contradiction carries a receipt, so the cap is the
    receipt one plus 1 MiB."""
    return strict_json.load_file(path, max_receipt_bytes() + (1 << 20), EvidenceError)
