"""The LLM attestation (`zkinfer.llm-attestation/1`): one LLM node's signed word on another's answer.

A gateway samples answers and asks a second node holding the same model (equal digest) to
re-execute the answer's signed LLM receipt (`zkinfer.llm.verify`, one prefill pass). The second
node signs what it found: the receipt's digest, `agree` or `disagree`, and each check's result.
An attestation is an accusation, not a proof: evidence built on a `disagree` holds only where
anyone holding the model re-runs the receipt and finds the same (`zkinfer.verify.llm_evidence`).
Because it is signed, a node that attests falsely is as attributable as one that answers falsely.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zkinfer.core.crypto import bls, identity
from zkinfer.core.crypto.digest import canonical_json
from zkinfer.core.formats.receipt import Digest, Signature, describe_validation_error
from zkinfer.core.support.errors import ReceiptFormatError, UsageError, ZkinferError
from zkinfer.llm.receipt import LlmReceipt

SCHEMA_VERSION: Final = "zkinfer.llm-attestation/1"
SIGNING_DOMAIN: Final = SCHEMA_VERSION.encode() + b"\x00"  # never a receipt's domain: one signature, one meaning


class NotThisModel(UsageError):
    """The receipt states a model other than the one this node holds: it cannot judge it (422)."""


class AttestedCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(max_length=32)
    status: str = Field(max_length=16)
    detail: str = Field(max_length=2000)


class Attestation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    schema_version: Literal["zkinfer.llm-attestation/1"]
    attested_at: str
    request_id: str = Field(min_length=1, max_length=200)
    receipt_digest: Digest = Field(description="the digest of the whole signed LLM receipt re-executed")
    receipt_signer: str = Field(pattern=r"^[0-9a-f]{96}$", description="the public key that signed that receipt")
    model_digest: Digest = Field(description="the model the attesting node re-executed with (its own copy)")
    verdict: Literal["agree", "disagree"]
    checks: list[AttestedCheck] = Field(max_length=16)
    reexecute_ms: float = Field(ge=0)
    signature: Signature | None = None

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))


def sign(attestation: Attestation, key: identity.NodeKey) -> Attestation:
    signature = bls.sign(key.secret, SIGNING_DOMAIN + attestation.canonical_bytes())
    return attestation.model_copy(
        update={"signature": Signature(scheme=identity.SCHEME, public_key=key.public_hex, signature=signature.hex())}
    )


def check_signature(attestation: Attestation, expect_signer: bytes | None = None) -> str:
    """A description when the signature is valid (and by `expect_signer`, when given); ZkinferError otherwise."""
    if attestation.signature is None:
        raise ZkinferError("the attestation is not signed")
    public = identity.parse_public_key(attestation.signature.public_key, "attestation signature.public_key")
    if expect_signer is not None and public != expect_signer:
        raise ZkinferError(f"the attestation is signed by {public.hex()[:16]}…, not by {expect_signer.hex()[:16]}…")
    signature = bytes.fromhex(attestation.signature.signature)
    if len(signature) != identity.SIGNATURE_BYTES or not bls.verify(
        public, SIGNING_DOMAIN + attestation.canonical_bytes(), signature
    ):
        raise ZkinferError("the attestation's signature does not verify over its contents")
    return f"attestation signed by {public.hex()}"


def parse(document: Any, source: str = "LLM attestation") -> Attestation:
    if not isinstance(document, dict):
        raise ReceiptFormatError(f"{source}: an attestation must be a JSON object, got {type(document).__name__}")
    try:
        return Attestation.model_validate(document)
    except ValidationError as exc:
        raise ReceiptFormatError(
            describe_validation_error(exc, source).replace("zkinfer.receipt/1", SCHEMA_VERSION)
        ) from exc


def reexecute(receipt: LlmReceipt, engine: Any, key: identity.NodeKey) -> Attestation:
    """Re-execute `receipt` with this node's model (`engine`: the caller holds its lock) and sign the result.

    A receipt that states another model is refused (NotThisModel): this node's copy cannot judge it."""
    from zkinfer.llm.verify import verify_document

    if receipt.model.digest != engine.digest:
        raise NotThisModel(
            f"receipt.model.digest: the receipt states model {receipt.model.digest}; this node holds {engine.digest}"
        )
    verdict = verify_document(receipt.model_dump(mode="json"), engine=engine, source="re-executed receipt")
    signer = receipt.signature.public_key.removeprefix("0x").lower() if receipt.signature else "0" * 96
    attestation = Attestation(
        schema_version=SCHEMA_VERSION,
        attested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        request_id=receipt.request_id,
        receipt_digest=receipt.digest(),
        receipt_signer=signer,
        model_digest=engine.digest,
        verdict="agree" if verdict.verified else "disagree",
        checks=[
            AttestedCheck(name=c.name.value, status=c.status.value, detail=c.detail[:2000]) for c in verdict.checks
        ],
        reexecute_ms=round(sum(verdict.timings_ms.values()), 1),
    )
    return sign(attestation, key)
