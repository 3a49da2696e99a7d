"""One receipt from a node, examined: does it verify, and does its proof attest the statement the node signed.

Runs in the watcher's verifier process (`watcher.Watcher._verifier`), so it imports the verifier
lazily and returns a plain, picklable `Found`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zkinfer.core.formats import strict_json
from zkinfer.core.formats.receipt import Receipt, parse
from zkinfer.core.formats.statement import SignedStatement, StatementError, from_receipt
from zkinfer.core.support.errors import ZkinferError
from zkinfer.core.support.text import visible
from zkinfer.network.nodeset import PinnedNode
from zkinfer.network.record_types import ReceiptState


@dataclass(frozen=True)
class Found:
    """What one receipt showed: the state to record, and evidence when it contradicts the statement."""

    state: ReceiptState
    proven_equal: bool | None
    detail: str
    contradiction: tuple[dict[str, Any], int, int] | None = None  # (receipt JSON, batch row, rows)
    recheck: bool = (
        False  # failed verification: checked once more before anything is filed (the fault may be the verifier's)
    )


def examine(signed: SignedStatement, node: PinnedNode, body: bytes, row_header: str) -> Found:
    """A receipt body from the node, verified and compared with its signed statement."""
    from zkinfer.verify.policy import Policy
    from zkinfer.verify.verifier import verify_receipt

    try:
        document = strict_json.loads(body)
        receipt = parse(document, "receipt")
    except (strict_json.StrictJSONError, ZkinferError) as exc:
        return Found(ReceiptState.INVALID, None, visible(f"not a receipt: {exc}", 300))
    policy = Policy(expect_circuit=signed.statement.circuit, expect_signer=node.public_hex)
    verdict = verify_receipt(receipt, policy, f"{node.name}'s receipt")
    if not verdict.verified:
        failed = "; ".join(f"{c.name}: {c.detail}" for c in verdict.checks if c.status == "fail")
        return Found(ReceiptState.INVALID, None, visible(f"does not verify: {failed}", 600), recheck=True)
    rows = _rows(receipt)
    said = signed.statement
    first = int(row_header) if row_header.isdigit() and int(row_header) < rows else 0
    for row in dict.fromkeys(
        [first, *range(rows)]
    ):  # the row the node named first, then every row (a wrong header hides nothing)
        try:
            attested = from_receipt(receipt, said.request_id, row, rows)
        except StatementError as exc:
            return Found(ReceiptState.INVALID, None, visible(f"no statement can be read from it: {exc}", 300))
        if attested == said:
            return Found(ReceiptState.VALID, True, f"proves the signed statement (batch row {row} of {rows})")
        if attested.claim() == said.claim():
            return Found(
                ReceiptState.VALID,
                False,
                f"its valid proof attests another output than the node signed (batch row {row} of {rows})",
                (document, row, rows),
            )
    return Found(
        ReceiptState.INVALID, None, "it verifies but proves another circuit, input or weights than the statement"
    )


def _rows(receipt: Receipt) -> int:
    try:
        return max(1, receipt.model.settings_view.batch_size)
    except (ZkinferError, TypeError, ValueError):
        return 1
