"""The verdict: every check by name, its status and reason, and what stays unpinned — typed, so
`--json` users and library callers read fields instead of parsing English.

One result type for every document an auditor checks: receipts (any number of segments), quorum
certificates, evidence against a node, LLM receipts and a receipt verified on chain. `document`
says which; what only one kind of document states (a certificate's signers, evidence's accused, the
chain's gas) is in its typed facts (`certificate`, `evidence`, `onchain`), flattened by `to_json`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, field_validator

from zkinfer.core.support.errors import VerificationFailed
from zkinfer.core.support.text import visible


class CheckName(StrEnum):
    WELL_FORMED = "well-formed"
    VERIFYING_KEY = "verifying-key"
    SETTINGS = "settings"
    SRS = "srs"
    PROOF = "proof"
    BINDING = "binding"
    LINKS = "links"  # split receipts only: each segment's output commitment is the next one's input commitment
    FAST = "fast"
    INPUT = "input"  # only when the auditor supplies the input
    MODEL = "model"  # only when the auditor supplies the model file
    IDENTITY = "identity"
    SIGNATURE = "signature"
    # quorum certificates (SIGNATURE: each group's aggregate signature; IDENTITY: --expect-circuit; INPUT)
    AGREEMENT = "agreement"  # the groups may share one certificate (one statement, or one label)
    SIGNERS = "signers"  # every signer pinned, listed once, sorted, signing one statement
    QUORUM = "quorum"  # the valid signers' weight reaches the threshold
    RECEIPTS = "receipts"  # the receipts given attest the certified statement
    # evidence against a node: the accused's key, then the accusation of its kind
    ACCUSED = "accused"
    CONTRADICTION = "contradiction"
    EQUIVOCATION = "equivocation"
    UNPROVEN = "unproven"
    # a receipt verified on chain (with BINDING and IDENTITY)
    RECEIPT = "receipt"  # the embedded key, settings and SRS match their digests
    VERIFIER_CODE = "verifier-code"
    ONCHAIN_PROOF = "onchain-proof"


_RECEIPT_CHECKS = (
    CheckName.WELL_FORMED,
    CheckName.VERIFYING_KEY,
    CheckName.SETTINGS,
    CheckName.SRS,
    CheckName.PROOF,
    CheckName.BINDING,
)
# The checks every receipt verdict reports, in order (INPUT and MODEL join before IDENTITY when asked for).
ALWAYS = (*_RECEIPT_CHECKS, CheckName.FAST, CheckName.IDENTITY, CheckName.SIGNATURE)
# A split receipt's verdict (zkinfer.receipt/2): the same, with LINKS after BINDING.
SPLIT_ALWAYS = (*_RECEIPT_CHECKS, CheckName.LINKS, CheckName.FAST, CheckName.IDENTITY, CheckName.SIGNATURE)


class Document(StrEnum):
    """What a verdict is about: the check that ran is picked by the document's schema."""

    RECEIPT = "receipt"  # zkinfer.receipt/1 and /2 (split)
    CERTIFICATE = "certificate"  # zkinfer.certificate/1
    EVIDENCE = "evidence"  # zkinfer.evidence/1: `verified` means the accusation holds
    LLM_EVIDENCE = "llm-evidence"  # zkinfer.llm-evidence/1: holds when your re-execution finds the mismatch too
    LLM_RECEIPT = "llm-receipt"  # zkinfer.llm-receipt/1
    ONCHAIN = "onchain"  # a receipt verified by a verifier contract (`chain verify-receipt`)


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    # Ran, found nothing wrong, and established nothing: not a failure (`verified` stays true), not a pass.
    UNPINNED = "unpinned"  # identity: no pin at all, so any circuit and SRS would pass
    UNSIGNED = "unsigned"  # signature: the receipt carries none, so who served the answer is not attested


class Check(BaseModel):
    name: CheckName
    status: Status
    detail: str

    @field_validator("detail")
    @classmethod
    def _shown_safely(cls, detail: str) -> str:
        """Details quote the receipt, which is hostile: no control characters reach a terminal."""
        return visible(detail)


class CertificateFacts(BaseModel):
    """What a certificate verdict states besides its checks (the keys `verify --json` always printed)."""

    reasons: list[str]  # every reason the certificate is not valid; empty when it is
    signers: list[str]  # names of the pinned nodes whose signatures verified, in the node set's order
    weight: int
    needed: int
    request_id: str = ""
    statement_digest: str = ""  # the certified statement: the heaviest valid group's, whatever the groups' order
    circuit: str = ""
    input_digest: str = ""
    output: list[list[float]] = []  # the certified statement's output, dequantized
    labels: list[int] | None = None  # label mode: the argmax of every output, all a label certificate certifies
    input_checked: bool = False  # the auditor's own input digests to the certified input digest
    receipts_checked: int = 0


class EvidenceFacts(BaseModel):
    """Whom evidence accuses, and why it holds (or every reason it does not)."""

    kind: str  # contradiction | equivocation | unproven
    accused: str  # public key hex
    reasons: list[str]  # why it holds, or every reason it does not
    node: str = ""
    request_id: str = ""


class OnChainFacts(BaseModel):
    """Where a receipt was verified on chain, and what verifyProof cost."""

    chain_id: int
    address: str
    circuit_digest: str | None
    gas: int | None = None


class Verdict(BaseModel):
    verified: bool  # for evidence: the accusation holds
    identity_pinned: bool
    summary: str
    checks: list[Check]
    pinned: list[str] = []  # what the policy pinned and the receipt matched (empty when it failed)
    unpinned: list[str] = []  # what no pin covers: a verified receipt says nothing about these
    notes: list[str] = []  # what a verified verdict says besides (e.g. the fast answer is unbounded under strict)
    source: str = "receipt"
    document: Document = Document.RECEIPT
    certificate: CertificateFacts | None = None
    evidence: EvidenceFacts | None = None
    onchain: OnChainFacts | None = None

    def failed(self) -> list[CheckName]:
        return [c.name for c in self.checks if c.status == Status.FAIL]

    def check(self, name: CheckName | str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def raise_if_failed(self) -> Verdict:
        """For callers that treat a failed verification as an exception (exit code 1)."""
        if not self.verified:
            raise VerificationFailed(f"{self.source}: {self.summary}", verdict=self)
        return self

    def reasons(self) -> list[str]:
        """Why it failed (a receipt's failed checks), or what a certificate or evidence verdict gives as its reasons."""
        facts = self.certificate or self.evidence
        if facts is not None:
            return list(facts.reasons)
        return [f"{c.name}: {c.detail}" for c in self.checks if c.status == Status.FAIL]

    def to_json(self) -> dict[str, Any]:
        """The verdict as `--json` prints it: every field, and the document's facts at the top level
        beside them, as each command printed them before one verdict type (`ok` for a certificate,
        `holds` for evidence: both `verified`)."""
        document = self.model_dump(mode="json", exclude={"certificate", "evidence", "onchain"})
        if self.certificate is not None:
            document.update(ok=self.verified, **self.certificate.model_dump(mode="json"))
        if self.evidence is not None:
            document.update(holds=self.verified, **self.evidence.model_dump(mode="json"))
        if self.onchain is not None:
            document.update(self.onchain.model_dump(mode="json"))
        return document


def _established_nothing(check: Check, pinned: list[str]) -> Check:
    """A passing identity check with nothing pinned is UNPINNED (an unsigned receipt's signature
    check is UNSIGNED already, from `checks.CheckUnsigned`): no PASS stands for what was not established."""
    if check.status != Status.PASS:
        return check
    if check.name == CheckName.IDENTITY and not pinned:
        return check.model_copy(update={"status": Status.UNPINNED})
    return check


def summarize(
    checks: list[Check],
    pinned: list[str],
    unpinned: list[str],
    source: str,
    vouched: bool = False,
    notes: list[str] | None = None,
) -> Verdict:
    """The verdict for these check results; `vouched`: the circuit rests on a pinned signer's word."""
    checks = [_established_nothing(check, pinned) for check in checks]
    failed = [c.name for c in checks if c.status == Status.FAIL]
    verified = not failed
    if not verified:
        summary = f"NOT VERIFIED: {', '.join(failed)} failed"
    elif not unpinned:
        basis = "the circuit as the pinned signer states it" if vouched else "the pinned circuit"
        summary = f"VERIFIED: valid proof, bound to the stated input and output, from {basis} and the trusted SRS"
    else:
        summary = (
            "VERIFIED (identity unpinned): the proof is valid and bound to the stated input and output. "
            f"Not pinned: {'; '.join(unpinned)}"
        )
    notes = list(notes or []) if verified else []
    if notes:
        summary += "; NOTE: " + "; ".join(notes)
    return Verdict(
        verified=verified,
        identity_pinned=verified and not unpinned,
        summary=summary,
        checks=checks,
        pinned=pinned if verified else [],
        unpinned=unpinned,
        notes=notes,
        source=source,
    )
