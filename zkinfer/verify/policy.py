"""What an auditor pins before trusting a receipt, from the command line or a TOML policy file.

A valid proof only says "some circuit, with some SRS, produced this output". The policy says
*which* circuit (the circuit digest: verifying key and the settings that decode the proof's
field elements; or the auditor's own model file, rebuilt; or digests a pinned signer vouches
for), which weights (the Poseidon commitment, when the weights are hashed rather than baked in),
which SRS ceremony, and which node. Like sigstore's "verify against an explicit identity
policy": nothing is trusted implicitly, and `strict` refuses to run without the pins that make a
verdict meaningful: a cryptographic circuit pin, trusted SRS ceremonies and the signer.

Policy file (every key optional; CLI options add to / override it):

    strict = true
    expect_circuit = "sha256:…"         # circuit digest: verifying key + settings (the cryptographic pin)
    expect_vk = "sha256:…"              # verifying-key digest alone (scales and shapes stay open)
    expect_model = "sha256:…"           # ONNX model digest (as stated: only a pinned signer vouches for it)
    model_file = "model.onnx"           # your copy of the model: rebuilt, it must give the key and settings
    expect_params_commitment = ["…"]    # weights commitment, for circuits with hashed weights
    trusted_srs = ["sha256:…"]          # SRS ceremony fingerprints (sha256 of g2 ‖ tau·g2)
    expect_signer = "…"                 # node public key (BLS12-381, 96 hex digits)
    allow_development_srs = false       # refuse receipts that admit a development SRS
    max_fast_deviation = 0.01           # the fast answer the client got may differ from the proven one by at most this
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zkinfer.core.crypto import identity
from zkinfer.core.crypto.digest import is_digest
from zkinfer.core.formats.receipt import SrsSection
from zkinfer.core.formats.split_receipt import AnyReceipt, SplitReceipt
from zkinfer.core.support.errors import PolicyError, ZkinferError

FELT_RE = re.compile(r"^[0-9a-f]{64}$")


def _digest(value: str, key: str) -> str:
    value = value.strip().lower()
    if not is_digest(value):
        raise PolicyError(
            f"{key}: {value!r} is not a digest; expected sha256:<64 hex digits>, as `zkinfer inspect` prints it"
        )
    return value


class Policy(BaseModel):
    """The auditor's pins. Empty = check the proof and its binding only; the identity is unpinned."""

    model_config = ConfigDict(extra="forbid", strict=True)

    expect_circuit: str | None = None
    expect_model: str | None = None
    expect_vk: str | None = None
    model_file: str | None = None  # a path; relative ones in a policy file are relative to that file
    expect_params_commitment: list[str] | None = None
    trusted_srs: list[str] = []
    expect_signer: str | None = None
    allow_development_srs: bool = True
    strict: bool = False
    max_fast_deviation: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @field_validator("expect_circuit", "expect_model", "expect_vk")
    @classmethod
    def _check_digest(cls, value: str | None, info: Any) -> str | None:
        return None if value is None else _digest(value, info.field_name)

    @field_validator("trusted_srs")
    @classmethod
    def _check_srs(cls, value: list[str]) -> list[str]:
        return [_digest(v, "trusted_srs") for v in value]

    @field_validator("expect_params_commitment")
    @classmethod
    def _check_commitment(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        felts = [v.strip().lower().removeprefix("0x") for v in value]
        bad = [v for v in felts if not FELT_RE.match(v)]
        if bad or not felts:
            raise PolicyError(
                f"expect_params_commitment: {bad[0] if bad else '[]'!r} is not a field element; expected 64 hex digits "
                "per element, as `zkinfer inspect` prints the weights commitment"
            )
        return felts

    @field_validator("expect_signer")
    @classmethod
    def _check_signer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return identity.parse_public_key(value.strip(), "expect_signer").hex()
        except ZkinferError as exc:
            raise PolicyError(f"{exc}; use the public key `zkinfer keys new` printed") from exc

    @model_validator(mode="after")
    def _strict_needs_pins(self) -> Policy:
        if not self.allow_development_srs and not self.trusted_srs:
            raise PolicyError(
                "allow_development_srs = false needs trusted_srs: a receipt's own `development: false` "
                "is not evidence, so only your list of trusted ceremonies can refuse a development SRS"
            )
        if not self.strict:
            return self
        missing = []
        if not (self.expect_circuit or self.model_file):
            missing.append(
                "expect_circuit or model_file (the verifying key alone leaves the output's scale open, a model digest "
                "is only stated)"
            )
        if not self.trusted_srs:
            missing.append("trusted_srs")
        if not self.expect_signer:
            missing.append("expect_signer")
        if missing:
            raise PolicyError(
                f"strict policy: missing {', '.join(missing)}; a strict verdict is only meaningful with these pinned"
            )
        self.allow_development_srs = False
        return self


def _describe(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(document)"
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key {key!r}; known keys: {', '.join(Policy.model_fields)}"
    return f"{source}: key {key!r}: {err['msg']} (got {err.get('input')!r})"


def make(source: str = "policy", **values: Any) -> Policy:
    """A Policy from plain values; bad ones raise PolicyError naming `source` and the key."""
    try:
        return Policy.model_validate(values)
    except PolicyError as exc:
        raise PolicyError(f"{source}: {exc}") from exc
    except ValidationError as exc:
        raise PolicyError(_describe(exc, source)) from exc


def load(path: Path) -> dict[str, Any]:
    """Read a TOML policy file into plain values (checked when combined by `build`)."""
    if not path.is_file():
        raise PolicyError(f"{path}: no such policy file")
    try:
        values = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise PolicyError(f"{path}: not valid TOML ({exc})") from exc
    if isinstance(values.get("trusted_srs"), str):
        values["trusted_srs"] = [values["trusted_srs"]]
    if isinstance(values.get("expect_params_commitment"), str):
        values["expect_params_commitment"] = [values["expect_params_commitment"]]
    if isinstance(values.get("model_file"), str):
        values["model_file"] = str(path.parent / values["model_file"])  # an absolute path stays as it is
    make(str(path), **values)  # report a bad file as the file's fault, before CLI options mix in
    return values


def build(path: Path | None = None, **options: Any) -> Policy:
    """The policy file (if any) with command-line options on top: lists are joined, scalars replace.

    Options left at None (or an empty list, or False for flags) keep the file's value.
    """
    values = load(path) if path else {}
    given = {key: value for key, value in options.items() if value is not None and value != [] and value is not False}
    for key, value in given.items():
        values[key] = [*values[key], *value] if key == "trusted_srs" and values.get(key) else value
    return make(
        " with ".join(filter(None, (str(path) if path else "", "command-line options" if given or not path else ""))),
        **values,
    )


# ---- The policy as composable rules (after sigstore-python's VerificationPolicy / AllOf) ----


@dataclass(frozen=True)
class Facts:
    """What verification itself established about the receipt, that a rule may rely on."""

    circuit_digest: str  # computed from the embedded key and settings, not stated
    model_rebuilt: bool  # the auditor's model file rebuilt the key, decoding settings (and weights commitment)


@dataclass(frozen=True)
class RuleResult:
    """One rule's finding: what it pinned, what it leaves open, and the pins that failed."""

    pinned: tuple[str, ...] = ()
    unpinned: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    vouched: bool = False  # what it pinned rests on a pinned signer's word, not on the proof or a digest
    notes: tuple[str, ...] = ()  # what a verified verdict must say besides (e.g. an unbounded fast answer under strict)


class Rule(Protocol):
    def evaluate(self, receipt: AnyReceipt, facts: Facts) -> RuleResult: ...


@dataclass(frozen=True)
class AllOf:
    """Every rule applies; their findings are joined in order."""

    rules: tuple[Rule, ...]

    def evaluate(self, receipt: AnyReceipt, facts: Facts) -> RuleResult:
        results = [rule.evaluate(receipt, facts) for rule in self.rules]
        pinned, unpinned, problems, notes = (
            tuple(item for r in results for item in getattr(r, part))
            for part in ("pinned", "unpinned", "problems", "notes")
        )
        return RuleResult(pinned, unpinned, problems, vouched=any(r.vouched for r in results), notes=notes)


@dataclass(frozen=True)
class CircuitPin:
    """Which circuit the proof is for. Cryptographic: the circuit digest (key and the settings that
    decode the proof's field elements) or the rebuilt model file. A verifying-key or model-digest
    pin counts only with a pinned signer, who then vouches for the rest of what it signed: the key
    alone leaves the outputs' scale and shape to the receipt's word, and a model digest is only stated."""

    expect_circuit: str | None
    expect_vk: str | None
    expect_model: str | None
    signer_pinned: bool

    def evaluate(self, receipt: AnyReceipt, facts: Facts) -> RuleResult:
        pinned: list[str] = ["circuit (rebuilt from your model file)"] if facts.model_rebuilt else []
        unpinned: list[str] = []
        problems: list[str] = []
        model = receipt.model
        if self.expect_circuit:
            pinned.append("circuit (verifying key and settings)")
            if facts.circuit_digest != self.expect_circuit:
                problems.append(
                    f"expect_circuit: the receipt's circuit (verifying key and settings) is {facts.circuit_digest}, "
                    f"the policy pins {self.expect_circuit} "
                    "(another key, or settings that read the proof differently)"
                )
        cryptographic = facts.model_rebuilt or self.expect_circuit is not None
        vouched = self.signer_pinned and not cryptographic  # the signature check holds the receipt to that key
        if self.expect_vk:
            pinned.append("verifying key")
            if model.vk_digest.lower() != self.expect_vk:
                problems.append(
                    f"expect_vk: the receipt's verifying key is {model.vk_digest}, the policy pins {self.expect_vk} "
                    "(a different circuit)"
                )
        if self.expect_model:
            if cryptographic or vouched:
                pinned.append("model digest" + (" (as the pinned signer states it)" if vouched else ""))
            if model.model_digest.lower() != self.expect_model:
                problems.append(
                    f"expect_model: the receipt's model is {model.model_digest}, the policy pins {self.expect_model}"
                )
        if not cryptographic:
            if vouched and (self.expect_vk or self.expect_model):
                pinned.append("circuit settings (scales, shapes), as the pinned signer states them")
            elif self.expect_vk:
                unpinned.append(
                    "the circuit settings: expect_vk pins only the key and leaves the outputs' scale and shape to the "
                    "receipt's word, so pin expect_circuit or model_file"
                )
            elif self.expect_model:
                unpinned.append(
                    "the circuit: expect_model compares only the digest the receipt states, so pin expect_circuit, "
                    "model_file or expect_signer"
                )
            else:
                unpinned.append("the circuit: pin expect_circuit or model_file")
        return RuleResult(
            tuple(pinned),
            tuple(unpinned),
            tuple(problems),
            vouched=vouched and bool(self.expect_vk or self.expect_model),
        )


@dataclass(frozen=True)
class WeightsPin:
    """Hashed weights are not fixed by the key: their Poseidon commitment must be pinned (or rebuilt)."""

    expect_params_commitment: list[str] | None
    required: bool  # strict: hashed weights need the commitment

    def evaluate(self, receipt: AnyReceipt, facts: Facts) -> RuleResult:
        weights = receipt.params
        if self.expect_params_commitment is not None:
            if weights.visibility != "hashed":
                return RuleResult(
                    ("weights commitment",),
                    (),
                    (
                        "expect_params_commitment: the policy pins a weights commitment, but this receipt's weights "
                        "are fixed in the circuit, not committed",
                    ),
                )
            if [c.lower() for c in weights.commitment or []] != self.expect_params_commitment:
                wrong = (
                    f"expect_params_commitment: the weights commitment is {weights.commitment}, the policy pins "
                    f"{self.expect_params_commitment} (different weights)"
                )
                return RuleResult(("weights commitment",), (), (wrong,))
            return RuleResult(pinned=("weights commitment",))
        if weights.visibility != "hashed" or facts.model_rebuilt:
            return RuleResult()
        problems = (
            "expect_params_commitment: the weights are hashed, so the verifying key alone does not fix them; a strict "
            "policy needs the weights commitment the model owner publishes",
        )
        return RuleResult(
            unpinned=(
                "the weights: hashed weights are not fixed by the verifying key, so pin expect_params_commitment",
            ),
            problems=problems if self.required else (),
        )


@dataclass(frozen=True)
class TrustedSrs:
    """The SRS ceremony is one the auditor trusts. A receipt's `development: false` is its own word,
    never evidence; its `development: true` is an admission, refused when development SRSs are."""

    trusted: list[str]
    allow_development: bool

    def evaluate(self, receipt: AnyReceipt, facts: Facts) -> RuleResult:
        problems: list[str] = []
        for where, section in srs_sections(receipt):
            fingerprint = section.fingerprint
            if self.trusted and fingerprint.lower() not in self.trusted:
                problems.append(
                    f"trusted_srs: {where}SRS ceremony {fingerprint} is not among the trusted ones "
                    f"({', '.join(self.trusted)})"
                )
            if section.development and not self.allow_development:
                problems.append(
                    f"development SRS: {where}the receipt was made with a development SRS {fingerprint} (whoever made "
                    "it knows tau and could forge proofs); "
                    "a strict policy needs a ceremony SRS: prove with one imported by `zkinfer srs import`"
                )
        if self.trusted:
            return RuleResult(pinned=("SRS ceremony",), problems=tuple(problems))
        return RuleResult(unpinned=("the SRS ceremony: pin trusted_srs",), problems=tuple(problems))


@dataclass(frozen=True)
class FastBound:
    """The fast answer (what the client got at once) is attested only as far as the policy bounds
    its distance from the proven output: the `fast` check proves the stated deviation is the true
    one, not that it is small. A strict verdict without a bound says the fast answer is unbounded
    (a note, apart from the identity pins: the proof and its binding stand either way)."""

    max_fast_deviation: float | None
    strict: bool

    def evaluate(self, receipt: AnyReceipt, facts: Facts) -> RuleResult:
        if self.max_fast_deviation is not None:
            return RuleResult(pinned=(f"fast answer (within {self.max_fast_deviation:g} of the proven output)",))
        if self.strict:
            return RuleResult(
                notes=(
                    "the fast answer is unbounded: it may differ from the proven output by any amount "
                    "(even name another class); bound it with max_fast_deviation (--max-fast-deviation; "
                    "`zkinfer compile` prints the circuit's calibrated max |error|)",
                )
            )
        return RuleResult()


def srs_sections(receipt: AnyReceipt) -> list[tuple[str, SrsSection]]:
    """Every SRS a receipt was proven with, labelled for messages: one, or one per split segment
    (each segment's k has its own SRS file, and every one must come from a trusted ceremony)."""
    if isinstance(receipt, SplitReceipt):
        return [(f"segment {i}'s ", segment.srs) for i, segment in enumerate(receipt.segments)]
    return [("", receipt.srs)]


def identity_rules(policy: Policy) -> AllOf:
    """The policy's identity pins as rules, in the order the verdict reports them."""
    return AllOf(
        (
            CircuitPin(
                policy.expect_circuit,
                policy.expect_vk,
                policy.expect_model,
                signer_pinned=policy.expect_signer is not None,
            ),
            WeightsPin(policy.expect_params_commitment, required=policy.strict),
            TrustedSrs(policy.trusted_srs, policy.allow_development_srs),
            FastBound(policy.max_fast_deviation, policy.strict),
        )
    )
