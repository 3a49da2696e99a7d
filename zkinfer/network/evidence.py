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

The builders refuse to write evidence that would not hold; `check` returns a verdict with every
reason and raises EvidenceError (exit 2) only for a document that is not evidence at all.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from zkinfer.core import bls, strict_json
from zkinfer.core.errors import ReceiptFormatError, UsageError, ZkinferError
from zkinfer.core.receipt import Receipt, max_receipt_bytes, parse
from zkinfer.core.statement import REQUEST_ID, SignedPromise, SignedStatement, Statement, StatementError, from_receipt

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
_KEY_HEX = re.compile(r"^[0-9a-f]{96}$")
_NODE = re.compile(r"^[A-Za-z0-9_-]{0,32}$")


class EvidenceError(UsageError):
    """Not an evidence document, or (from a builder) evidence that would not hold."""


class EvidenceVerdict(BaseModel):
    holds: bool
    kind: str
    accused: str  # public key hex
    reasons: list[str]  # why it holds, or every reason it does not
    node: str = ""
    request_id: str = ""

    def summary(self) -> str:
        who = f"node {self.node!r} ({self.accused[:16]}…)" if self.node else f"key {self.accused[:16]}…"
        if self.holds:
            return f"HOLDS: {self.kind} evidence against {who}, request {self.request_id!r}"
        return f"DOES NOT HOLD: this {self.kind} evidence does not show that {who} misbehaved"


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
    if not verdict.holds:
        raise EvidenceError(f"this {document['kind']} evidence would not hold: " + "; ".join(verdict.reasons))
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


def _structure(document: Any) -> tuple[str, str]:
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
    if not isinstance(accused, str) or not _KEY_HEX.fullmatch(accused):
        raise EvidenceError("evidence.accused: expected a public key as 96 lowercase hex digits")
    if not isinstance(document["node"], str) or not _NODE.fullmatch(document["node"]):
        raise EvidenceError("evidence.node: expected a node name (0-32 characters of A-Z a-z 0-9 _ -)")
    if not isinstance(document["request_id"], str) or not REQUEST_ID.fullmatch(document["request_id"]):
        raise EvidenceError("evidence.request_id: expected a request id (1-128 characters of A-Z a-z 0-9 . _ : -)")
    observed = document["observed_at"]
    if type(observed) is not int or not 0 < observed < 1 << 40:
        raise EvidenceError("evidence.observed_at: expected a Unix time in whole seconds")
    return kind, accused


def _signed(document: Any, where: str) -> SignedStatement:
    try:
        return SignedStatement.from_json(document, where)
    except StatementError as exc:
        raise EvidenceError(str(exc)) from exc


def _by_accused(signed: SignedStatement, accused: bytes, where: str) -> list[str]:
    """Reasons `signed` is not a valid statement of the accused's; empty when it is."""
    if signed.public_key != accused:
        return [f"{where} is signed by {signed.public_key.hex()[:16]}…, not by the accused"]
    try:
        signed.verify()
    except StatementError as exc:
        return [f"{where}: {exc} (forged or altered)"]
    return []


def _claims_differ(a: Statement, b: Statement) -> str | None:
    if a.circuit != b.circuit:
        return f"other circuits ({a.circuit} vs {b.circuit})"
    if a.input_digest != b.input_digest:
        return "other inputs"
    if a.weights_commitment != b.weights_commitment:
        return "other weights"
    return None


def _check_contradiction(document: dict[str, Any], accused: bytes) -> tuple[list[str], list[str]]:
    from zkinfer.verify.policy import Policy
    from zkinfer.verify.verifier import verify_receipt

    signed = _signed(document["statement"], "evidence.statement")
    row, rows = document["batch_row"], document["rows"]
    if type(rows) is not int or type(row) is not int or not 1 <= rows <= MAX_ROWS or not 0 <= row < rows:
        raise EvidenceError(f"evidence.batch_row / rows: expected 0 <= batch_row < rows <= {MAX_ROWS}")
    reasons = _by_accused(signed, accused, "the statement")
    if signed.statement.request_id != document["request_id"]:
        reasons.append(
            f"the statement is for request {signed.statement.request_id!r}, the evidence names {document['request_id']!r}"
        )
    try:
        receipt = parse(document["receipt"], "evidence.receipt")
    except ReceiptFormatError as exc:
        return [*reasons, f"the receipt is not a receipt ({exc})"], []
    if receipt.signature is None or receipt.signature.public_key.lower() != accused.hex():
        signer = "nobody" if receipt.signature is None else f"{receipt.signature.public_key[:16]}…"
        reasons.append(
            f"the receipt is signed by {signer}, not by the accused: only the accused's own proof contradicts its word"
        )
    verdict = verify_receipt(receipt, Policy(expect_signer=accused.hex()), "evidence.receipt")
    if not verdict.verified:
        failed = [f"{c.name}: {c.detail}" for c in verdict.checks if c.status == "fail"]
        return [*reasons, "the receipt does not verify: " + "; ".join(failed)], []
    try:
        proven = from_receipt(receipt, signed.statement.request_id, row, rows)
    except StatementError as exc:
        return [*reasons, f"no statement can be read from the receipt at batch row {row} of {rows} ({exc})"], []
    differ = _claims_differ(signed.statement, proven)
    if differ is not None:
        reasons.append(f"the receipt proves a claim about {differ} than the statement, so it contradicts nothing")
    elif (proven.output_scales, proven.output) == (signed.statement.output_scales, signed.statement.output):
        reasons.append("the receipt proves exactly the signed output: the statement is true")
    if reasons:
        return reasons, []
    return [], [
        f"the accused signed output {_short(signed.statement.output)} for request {signed.statement.request_id!r} (statement {signed.statement.digest()})",
        f"its own receipt, whose proof verifies, proves output {_short(proven.output)} for the same circuit, input and weights (batch row {row} of {rows})",
    ]


def _check_equivocation(document: dict[str, Any], accused: bytes) -> tuple[list[str], list[str]]:
    pair = document["statements"]
    if not isinstance(pair, list) or len(pair) != 2:
        raise EvidenceError("evidence.statements: expected exactly two signed statements")
    a, b = (_signed(s, f"evidence.statements[{i}]") for i, s in enumerate(pair))
    reasons = _by_accused(a, accused, "statement 1") + _by_accused(b, accused, "statement 2")
    if document["request_id"] not in (a.statement.request_id, b.statement.request_id):
        reasons.append(f"the evidence names request {document['request_id']!r}, which neither statement is for")
    differ = _claims_differ(a.statement, b.statement)
    if differ is not None:
        reasons.append(f"the statements are about {differ}: different claims may have different outputs")
    elif (a.statement.output_scales, a.statement.output) == (b.statement.output_scales, b.statement.output):
        reasons.append("the two statements sign the same output: that is consistency, not equivocation")
    if reasons:
        return reasons, []
    return [], [
        f"the accused signed output {_short(a.statement.output)} (request {a.statement.request_id!r}) and output {_short(b.statement.output)} "
        f"(request {b.statement.request_id!r}) for the same circuit, input and weights; the circuit is deterministic, so one is false",
    ]


def _rebuts(rebuttal: Receipt, said: Statement, accused: bytes) -> tuple[bool, str]:
    """Whether a receipt signed by the accused, verified, proves `said` (at any of its batch rows)."""
    from zkinfer.verify.policy import Policy
    from zkinfer.verify.verifier import verify_receipt

    if rebuttal.signature is None or rebuttal.signature.public_key.lower().removeprefix("0x") != accused.hex():
        return (
            False,
            "the rebuttal receipt is not signed by the accused: only its own proof keeps its promise (another node's receipt is a copy)",
        )
    verdict = verify_receipt(rebuttal, Policy(expect_signer=accused.hex()), "rebuttal")
    if not verdict.verified:
        return False, f"the rebuttal receipt does not verify ({', '.join(verdict.failed())} failed)"
    counts = {1} | {
        t.shape[0]
        for t in [*(rebuttal.input.tensors or []), *rebuttal.output.tensors]
        if t.shape and 1 < t.shape[0] <= MAX_ROWS
    }
    for rows in sorted(counts):
        for row in range(rows):
            try:
                if from_receipt(rebuttal, said.request_id, row, rows) == said:
                    return True, f"the rebuttal receipt's valid proof attests the statement (batch row {row} of {rows})"
            except StatementError:
                break
    return False, "the rebuttal receipt verifies but proves another statement (another circuit, input or output)"


def _check_unproven(document: dict[str, Any], accused: bytes, rebuttal: Receipt | None) -> tuple[list[str], list[str]]:
    signed = _signed(document["statement"], "evidence.statement")
    try:
        promised = SignedPromise.from_json(document["promise"], "evidence.promise")
    except StatementError as exc:
        raise EvidenceError(str(exc)) from exc
    reasons = _by_accused(signed, accused, "the statement")
    if signed.statement.request_id != document["request_id"]:
        reasons.append(
            f"the statement is for request {signed.statement.request_id!r}, the evidence names {document['request_id']!r}"
        )
    if promised.public_key != accused:
        reasons.append(f"the promise is signed by {promised.public_key.hex()[:16]}…, not by the accused")
    else:
        try:
            promised.verify()
        except StatementError as exc:
            reasons.append(f"{exc} (forged or altered)")
    if promised.promise.statement_digest != signed.statement.digest():
        reasons.append(
            f"the promise is for statement {promised.promise.statement_digest}, not this one ({signed.statement.digest()})"
        )
    observed, due = document["observed_at"], promised.promise.prove_by
    if observed <= due:
        reasons.append(f"observed at {observed}, not after the promised time {due}: the promise was not yet due")
    if observed > _now() + CLOCK_SKEW_S:
        reasons.append(f"observed at {observed}, which is in the future of this machine's clock ({_now()})")
    unanswered: list[str] = []
    if rebuttal is not None:
        rebutted, why = _rebuts(rebuttal, signed.statement, accused)
        if rebutted:
            reasons.append(f"rebutted: {why}; the node proved what it signed")
        else:
            unanswered.append(f"the rebuttal does not answer it: {why}")
    if reasons:
        return reasons, []
    return [], [
        f"the accused signed statement {signed.statement.digest()} for request {signed.statement.request_id!r} and promised to prove it "
        f"as receipt {promised.promise.receipt_id!r} by {due}; at {observed} the accuser had no receipt proving it",
        "the missing receipt is the accuser's observation, not a proof: the node clears itself by presenting a receipt it signed that "
        "proves this statement (zkinfer verify-evidence EVIDENCE.json --rebuttal RECEIPT.json)",
        *unanswered,
    ]


def _short(output: tuple[tuple[int, ...], ...]) -> str:
    text = str([list(o) for o in output])
    return text if len(text) <= 120 else text[:117] + "..."


def check(document: Any, rebuttal: Receipt | None = None) -> EvidenceVerdict:
    """Whether `document` is evidence that holds against its accused; every reason either way.
    A contradiction's receipt is verified fully (isolated ezkl). `rebuttal`: the accused's receipt,
    which clears an `unproven` accusation when its valid proof attests the statement."""
    kind, accused_hex = _structure(document)
    accused = bytes.fromhex(accused_hex)
    base = {"kind": kind, "accused": accused_hex, "node": document["node"], "request_id": document["request_id"]}
    if not bls.key_validate(accused):
        return EvidenceVerdict(holds=False, reasons=["the accused is not a valid BLS12-381 public key"], **base)
    try:
        if kind == "contradiction":
            failures, findings = _check_contradiction(document, accused)
        elif kind == "equivocation":
            failures, findings = _check_equivocation(document, accused)
        else:
            failures, findings = _check_unproven(document, accused, rebuttal)
    except EvidenceError:
        raise
    except ZkinferError as exc:
        failures, findings = [str(exc)], []
    if rebuttal is not None and kind != "unproven":
        findings.append(
            f"a rebuttal receipt answers only an unproven accusation; this is a {kind}, which a receipt cannot clear"
        )
    return EvidenceVerdict(holds=not failures, reasons=failures or findings, **base)


def read(path: Path) -> Any:
    """An evidence (or rebuttal) file as strict JSON; a contradiction carries a receipt, so the cap is the receipt one plus 1 MiB."""
    return strict_json.load_file(path, max_receipt_bytes() + (1 << 20), EvidenceError)


def check_file(path: Path, rebuttal_path: Path | None = None) -> EvidenceVerdict:
    """The CLI's check: an evidence file, and optionally the accused's rebuttal receipt."""
    from zkinfer.core.receipt import load

    document = read(path)
    rebuttal = None if rebuttal_path is None else load(rebuttal_path)
    try:
        return check(document, rebuttal)
    except EvidenceError as exc:
        raise EvidenceError(f"{path}: {exc}") from exc
