"""LLM evidence (`zkinfer.llm-evidence/1`): an LLM node's signed answer that re-execution contradicts.

A gateway samples LLM answers and has another node re-execute them (`network.llm_audit`); when that
node attests `disagree`, the gateway writes this document: the accused's signed LLM receipt and the
signed attestation(s) against it. It holds only where *you* find the same: with your copy of the
model (`zkinfer verify-evidence FILE --model DIR`) the receipt's own re-execution check
(`zkinfer.llm.verify`) runs again, and the evidence holds when, and only when,

- `well-formed`: the document, the receipt and every attestation parse;
- `signature`: the receipt is validly signed by the accused key (so the accused said it);
- `attestation`: each attestation is validly signed, names this receipt's digest, its signer and
  model, and says `disagree` (who accused, on what);
- `identity`: your model is the one the receipt states (another model cannot judge it: usage error);
- `re-execution`: re-executing the receipt with your model fails one of its checks (`tokens`,
  `activations`, `sampling`): the tokens are not the seeded sampler's draws from the stated model,
  beyond the margin rule for near-ties, or the activations are not within TOPLOC's tolerance.
  Skipped (the evidence does not hold) when a check above failed: the model is not run for nothing.

An honest answer re-executed on any machine configuration passes its checks (the margin rule and the
tolerance exist for that), so evidence against it never holds, whoever attested otherwise; a node
that attests `disagree` on such an answer has signed a falsehood anyone with the model can show.
The LLM side (receipts, re-execution) is imported only when checking (it lives in `zkinfer.llm`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zkinfer.core.formats.receipt import describe_validation_error
from zkinfer.core.support.errors import UsageError, ZkinferError
from zkinfer.verify.verdict import Check, Status, Verdict

SCHEMA: Final = "zkinfer.llm-evidence/1"
SCHEMA_MARK: Final = b'"zkinfer.llm-evidence/1"'
KIND: Final = "llm-mismatch"
REEXECUTED: Final = ("tokens", "activations", "sampling")  # the checks whose failure is the mismatch


class LlmEvidenceError(UsageError):
    """Not LLM evidence at all, or checked with a model other than the one it states (exit 2)."""


class LlmEvidence(BaseModel):
    """The document; `receipt` and `attestations` are checked by their own schemas."""

    model_config = ConfigDict(extra="forbid", strict=True)
    schema_: Literal["zkinfer.llm-evidence/1"] = Field(alias="schema")
    kind: Literal["llm-mismatch"]
    accused: str = Field(pattern=r"^[0-9a-f]{96}$")
    node: str = Field(pattern=r"^[A-Za-z0-9_-]{0,32}$")
    request_id: str = Field(min_length=1, max_length=200)
    observed_at: int = Field(gt=0, lt=1 << 40)
    receipt: dict[str, Any]
    attestations: list[dict[str, Any]] = Field(min_length=1, max_length=4)


class EvidenceCheckName(StrEnum):
    WELL_FORMED = "well-formed"
    SIGNATURE = "signature"
    ATTESTATION = "attestation"
    IDENTITY = "identity"
    REEXECUTION = "re-execution"


class EvidenceCheck(Check):
    name: EvidenceCheckName  # type: ignore[assignment]  # the evidence's checks, not a receipt's


class LlmEvidenceVerdict(Verdict):
    """`verified` is whether the evidence holds (`holds`, the same); `reexecution`: the receipt's own checks."""

    checks: list[EvidenceCheck]  # type: ignore[assignment]
    holds: bool = False
    kind: str = KIND
    accused: str = ""
    node: str = ""
    request_id: str = ""
    reexecution: list[dict[str, str]] = Field(default_factory=list)


def parse(document: Any, source: str = "LLM evidence") -> LlmEvidence:
    if not isinstance(document, dict):
        raise LlmEvidenceError(f"{source}: LLM evidence must be a JSON object, got {type(document).__name__}")
    try:
        return LlmEvidence.model_validate(document)
    except ValidationError as exc:
        raise LlmEvidenceError(describe_validation_error(exc, source).replace("zkinfer.receipt/1", SCHEMA)) from exc


def _check(name: EvidenceCheckName, ok: bool, detail: str) -> EvidenceCheck:
    return EvidenceCheck(name=name, status=Status.PASS if ok else Status.FAIL, detail=detail)


def check(
    document: Any, model_dir: Path | None = None, engine: Any = None, source: str = "LLM evidence"
) -> LlmEvidenceVerdict:
    """Whether `document` holds against its accused, re-executing with `model_dir` (or a loaded `engine`).

    Every check is reported, even after one fails. LlmEvidenceError for a document that is not LLM
    evidence, or a model other than the one the receipt states (it cannot judge the answer)."""
    from zkinfer.llm import attestation as attestation_mod
    from zkinfer.llm import modeldir
    from zkinfer.llm import receipt as receipt_mod
    from zkinfer.llm.verify import verify_document

    if model_dir is None and engine is None:
        raise LlmEvidenceError(
            f"{source}: LLM evidence is checked by re-executing its receipt: give --model DIR (the model it states)"
        )
    evidence = parse(document, source)
    checks: list[EvidenceCheck] = []
    try:
        receipt = receipt_mod.parse(evidence.receipt, f"{source}: receipt")
        attestations = [
            attestation_mod.parse(a, f"{source}: attestations[{i}]") for i, a in enumerate(evidence.attestations)
        ]
    except ZkinferError as exc:
        checks.append(_check(EvidenceCheckName.WELL_FORMED, False, str(exc)))
        return _verdict(evidence, checks, [], source)
    checks.append(
        _check(
            EvidenceCheckName.WELL_FORMED,
            True,
            f"{SCHEMA}: a signed LLM receipt and {len(attestations)} attestation(s)",
        )
    )
    checks.append(_signature(receipt, evidence.accused, receipt_mod.check_signature))
    checks.append(_attestations(attestations, receipt, attestation_mod.check_signature))
    stated = receipt.model.digest
    yours = engine.digest if model_dir is None else modeldir.digest(model_dir)
    if yours != stated:
        raise LlmEvidenceError(
            f"--model: your model is {yours}; the receipt states {stated}: only that model can judge the answer"
        )
    checks.append(_check(EvidenceCheckName.IDENTITY, True, f"your model is the one the receipt states ({stated})"))
    if any(c.status == Status.FAIL for c in checks):  # it cannot hold: the model is not run for nothing
        why = "not re-executed: " + ", ".join(c.name.value for c in checks if c.status == Status.FAIL) + " failed"
        checks.append(EvidenceCheck(name=EvidenceCheckName.REEXECUTION, status=Status.SKIP, detail=why))
        return _verdict(evidence, checks, [], source)
    reexecuted = verify_document(evidence.receipt, model_dir, engine=engine, source=f"{source}: receipt")
    failed = [c for c in reexecuted.checks if c.status == Status.FAIL and c.name.value in REEXECUTED]
    detail = (
        "re-executed with your model: " + "; ".join(f"{c.name.value} failed: {c.detail}" for c in failed)
        if failed
        else "re-executed with your model: every token and activation commitment matches (the answer is honest)"
    )
    checks.append(_check(EvidenceCheckName.REEXECUTION, bool(failed), detail))
    rows = [{"name": c.name.value, "status": c.status.value, "detail": c.detail} for c in reexecuted.checks]
    return _verdict(evidence, checks, rows, source)


def _signature(receipt: Any, accused: str, check_signature: Any) -> EvidenceCheck:
    signer = receipt.signature.public_key.removeprefix("0x").lower() if receipt.signature else None
    if signer != accused:
        return _check(EvidenceCheckName.SIGNATURE, False, "the receipt is not signed by the accused key")
    try:
        return _check(EvidenceCheckName.SIGNATURE, True, "the accused signed the receipt: " + check_signature(receipt))
    except ZkinferError as exc:
        return _check(EvidenceCheckName.SIGNATURE, False, f"the receipt's signature: {exc}")


def _attestations(attestations: list[Any], receipt: Any, check_signature: Any) -> EvidenceCheck:
    digest, problems, signers = receipt.digest(), [], []
    signer = receipt.signature.public_key.removeprefix("0x").lower() if receipt.signature else ""
    for i, a in enumerate(attestations):
        try:
            check_signature(a)
            signers.append(a.signature.public_key[:16] + "…")
        except ZkinferError as exc:
            problems.append(f"attestations[{i}]: {exc}")
        if a.receipt_digest != digest or a.request_id != receipt.request_id or a.receipt_signer != signer:
            problems.append(f"attestations[{i}]: names another receipt (digest, request id or signer)")
        if a.model_digest != receipt.model.digest:
            problems.append(f"attestations[{i}]: re-executed with model {a.model_digest}, not the stated one")
        if a.verdict != "disagree":
            problems.append(f"attestations[{i}]: says {a.verdict}, not disagree")
    if problems:
        return _check(EvidenceCheckName.ATTESTATION, False, "; ".join(problems))
    return _check(EvidenceCheckName.ATTESTATION, True, f"disagree, signed by {', '.join(signers)}")


def _verdict(
    evidence: LlmEvidence, checks: list[EvidenceCheck], reexecution: list[dict[str, str]], source: str
) -> LlmEvidenceVerdict:
    failed = [c.name.value for c in checks if c.status == Status.FAIL]
    holds = not failed and any(c.name == EvidenceCheckName.REEXECUTION and c.status == Status.PASS for c in checks)
    who = f"node {evidence.node!r} ({evidence.accused[:16]}…)" if evidence.node else f"key {evidence.accused[:16]}…"
    summary = (
        f"HOLDS: {KIND} evidence against {who}, request {evidence.request_id!r}: "
        "your re-execution contradicts its answer"
        if holds
        else f"DOES NOT HOLD: this {KIND} evidence does not show that {who} misbehaved ({', '.join(failed)} failed)"
    )
    return LlmEvidenceVerdict(
        verified=holds,
        identity_pinned=holds,
        summary=summary,
        checks=checks,
        pinned=[f"model {evidence.receipt.get('model', {}).get('digest')}"] if holds else [],
        source=source,
        holds=holds,
        accused=evidence.accused,
        node=evidence.node,
        request_id=evidence.request_id,
        reexecution=reexecution,
    )


def check_file(path: Path, model_dir: Path | None = None) -> LlmEvidenceVerdict:
    """The CLI's check of an evidence file."""
    from zkinfer.core.formats.receipt import read_document

    return check(read_document(path), model_dir, source=str(path))
