"""The verdict: every check by name, its status and reason, and what stays unpinned — typed, so
`--json` users and library callers read fields instead of parsing English."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, field_validator

from zkinfer.core.errors import VerificationFailed
from zkinfer.core.text import visible


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


# The checks every verdict reports, in order (INPUT and MODEL join before IDENTITY when asked for).
ALWAYS = tuple(name for name in CheckName if name not in (CheckName.INPUT, CheckName.MODEL, CheckName.LINKS))
# A split receipt's verdict (zkinfer.receipt/2): the same, with LINKS after BINDING.
SPLIT_ALWAYS = tuple(name for name in CheckName if name not in (CheckName.INPUT, CheckName.MODEL))


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


class Verdict(BaseModel):
    verified: bool
    identity_pinned: bool
    summary: str
    checks: list[Check]
    pinned: list[str] = []  # what the policy pinned and the receipt matched (empty when it failed)
    unpinned: list[str] = []  # what no pin covers: a verified receipt says nothing about these
    notes: list[str] = []  # what a verified verdict says besides (e.g. the fast answer is unbounded under strict)
    source: str = "receipt"

    def failed(self) -> list[CheckName]:
        return [c.name for c in self.checks if c.status == Status.FAIL]

    def check(self, name: CheckName | str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def raise_if_failed(self) -> Verdict:
        """For callers that treat a failed verification as an exception (exit code 1)."""
        if not self.verified:
            raise VerificationFailed(f"{self.source}: {self.summary}", verdict=self)
        return self


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
        summary = f"VERIFIED (identity unpinned): the proof is valid and bound to the stated input and output. Not pinned: {'; '.join(unpinned)}"
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
