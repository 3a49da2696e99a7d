"""Checking evidence against a node (`zkinfer.evidence/1`, `zkinfer.core.formats.evidence`): the auditor's work,
offline.

Each kind rests only on the accused's own signatures and, for a contradiction, a receipt of its own
whose proof verifies (checked here fully, isolated ezkl), so an accuser cannot forge evidence and an
honest node cannot be convicted. `check` returns the one verdict (`verified`: the accusation holds)
with every reason either way, and raises EvidenceError (exit 2) only for a document that is not
evidence at all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from zkinfer.core.crypto import bls
from zkinfer.core.formats.evidence import CLOCK_SKEW_S, MAX_ROWS, EvidenceError, structure
from zkinfer.core.formats.receipt import Receipt, parse
from zkinfer.core.formats.statement import SignedPromise, SignedStatement, Statement, StatementError, from_receipt
from zkinfer.core.support.errors import ReceiptFormatError, ZkinferError
from zkinfer.verify.policy import Policy
from zkinfer.verify.verdict import Check, CheckName, Document, EvidenceFacts, Status, Verdict
from zkinfer.verify.verifier import verify_receipt


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
    signed = _signed(document["statement"], "evidence.statement")
    row, rows = document["batch_row"], document["rows"]
    if type(rows) is not int or type(row) is not int or not 1 <= rows <= MAX_ROWS or not 0 <= row < rows:
        raise EvidenceError(f"evidence.batch_row / rows: expected 0 <= batch_row < rows <= {MAX_ROWS}")
    reasons = _by_accused(signed, accused, "the statement")
    if signed.statement.request_id != document["request_id"]:
        reasons.append(
            f"the statement is for request {signed.statement.request_id!r}, the evidence names "
            f"{document['request_id']!r}"
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
        f"the accused signed output {_short(signed.statement.output)} for request {signed.statement.request_id!r} "
        f"(statement {signed.statement.digest()})",
        f"its own receipt, whose proof verifies, proves output {_short(proven.output)} for the same circuit, input "
        f"and weights (batch row {row} of {rows})",
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
        f"the accused signed output {_short(a.statement.output)} (request {a.statement.request_id!r}) and output "
        f"{_short(b.statement.output)} "
        f"(request {b.statement.request_id!r}) for the same circuit, input and weights; the circuit is "
        f"deterministic, so one is false",
    ]


def _rebuts(rebuttal: Receipt, said: Statement, accused: bytes) -> tuple[bool, str]:
    """Whether a receipt signed by the accused, verified, proves `said` (at any of its batch rows)."""
    if rebuttal.signature is None or rebuttal.signature.public_key.lower().removeprefix("0x") != accused.hex():
        return (
            False,
            "the rebuttal receipt is not signed by the accused: only its own proof keeps its promise (another "
            "node's receipt is a copy)",
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
            f"the statement is for request {signed.statement.request_id!r}, the evidence names "
            f"{document['request_id']!r}"
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
            f"the promise is for statement {promised.promise.statement_digest}, not this one "
            f"({signed.statement.digest()})"
        )
    observed, due = document["observed_at"], promised.promise.prove_by
    if observed <= due:
        reasons.append(f"observed at {observed}, not after the promised time {due}: the promise was not yet due")
    if observed > int(time.time()) + CLOCK_SKEW_S:
        reasons.append(f"observed at {observed}, which is in the future of this machine's clock ({int(time.time())})")
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
        f"the accused signed statement {signed.statement.digest()} for request {signed.statement.request_id!r} and "
        f"promised to prove it "
        f"as receipt {promised.promise.receipt_id!r} by {due}; at {observed} the accuser had no receipt proving it",
        "the missing receipt is the accuser's observation, not a proof: the node clears itself by presenting a "
        "receipt it signed that "
        "proves this statement (zkinfer verify-evidence EVIDENCE.json --rebuttal RECEIPT.json)",
        *unanswered,
    ]


def _short(output: tuple[tuple[int, ...], ...]) -> str:
    text = str([list(o) for o in output])
    return text if len(text) <= 120 else text[:117] + "..."


def check(document: Any, rebuttal: Receipt | None = None, source: str = "evidence") -> Verdict:
    """Whether `document` is evidence that holds against its accused (`verified`); every reason
    either way. A contradiction's receipt is verified fully (isolated ezkl). `rebuttal`: the
    accused's receipt, which clears an `unproven` accusation when its valid proof attests the statement."""
    kind, accused_hex = structure(document)
    accused = bytes.fromhex(accused_hex)
    facts = EvidenceFacts(
        kind=kind, accused=accused_hex, reasons=[], node=document["node"], request_id=document["request_id"]
    )
    if not bls.key_validate(accused):
        return _verdict(facts, ["the accused is not a valid BLS12-381 public key"], [], source, valid_key=False)
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
    return _verdict(facts, failures, findings, source)


def _verdict(
    facts: EvidenceFacts, failures: list[str], findings: list[str], source: str, valid_key: bool = True
) -> Verdict:
    """The one verdict for evidence: `verified` when the accusation holds."""
    holds = not failures
    facts = facts.model_copy(update={"reasons": failures or findings})
    who = f"node {facts.node!r} ({facts.accused[:16]}…)" if facts.node else f"key {facts.accused[:16]}…"
    if holds:
        summary = f"HOLDS: {facts.kind} evidence against {who}, request {facts.request_id!r}"
    else:
        summary = f"DOES NOT HOLD: this {facts.kind} evidence does not show that {who} misbehaved"
    accused = Check(
        name=CheckName.ACCUSED,
        status=Status.PASS if valid_key else Status.FAIL,
        detail=f"{facts.accused[:16]}… is a valid BLS12-381 public key"
        if valid_key
        else "the accused is not a valid BLS12-381 public key",
    )
    if valid_key:
        accusation = Check(
            name=CheckName(facts.kind), status=Status.PASS if holds else Status.FAIL, detail="; ".join(facts.reasons)
        )
    else:
        accusation = Check(name=CheckName(facts.kind), status=Status.SKIP, detail="not checked: no valid accused key")
    return Verdict(
        verified=holds,
        identity_pinned=False,
        summary=summary,
        checks=[accused, accusation],
        source=source,
        document=Document.EVIDENCE,
        evidence=facts,
    )


def check_document(document: Any, source: str, rebuttal_path: Path | None = None) -> Verdict:
    """The auditor's whole check of an evidence document, and optionally the accused's rebuttal receipt."""
    from zkinfer.core.formats.receipt import load

    rebuttal = None if rebuttal_path is None else load(rebuttal_path)
    try:
        return check(document, rebuttal, source)
    except EvidenceError as exc:
        raise EvidenceError(f"{source}: {exc}") from exc
