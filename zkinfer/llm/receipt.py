"""The LLM receipt (`zkinfer.llm-receipt/1`): what a node states about one generated answer, signed.

No proof: the receipt *commits*. It states the model (its digest over config, weights and tokenizer
files), the exact prompt token ids after the chat template (and their digest), the sampling
parameters and seed, the request id the draws were keyed with, the generated token ids, and TOPLOC
commitments of the last hidden states, one per 32 generated tokens. Anyone holding the model redoes
the whole answer in one prefill pass (`zkinfer.llm.verify`); the node's BLS signature over the
canonical bytes of everything else makes a wrong answer evidence against it.

`trace_signature` (optional, outside the canonical bytes, omitted when absent: receipts made before it
verify as they did) is the same key's signature over the receipt's trace claim (`trace_claim`: model,
token ids, counts, sampling parameters in 154 fixed bytes), what the dispute contract checks before it
lets anyone dispute the answer on chain.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from zkinfer.core.crypto import bls, identity
from zkinfer.core.crypto.digest import canonical_json, digest_json
from zkinfer.core.formats.receipt import Base64Bytes, Digest, Signature, describe_validation_error, read_document
from zkinfer.core.support import cache
from zkinfer.core.support.errors import ReceiptFormatError, ZkinferError
from zkinfer.llm import sampling
from zkinfer.llm.trace_claim import TraceClaim

SCHEMA_VERSION: Final = "zkinfer.llm-receipt/1"
SIGNING_DOMAIN = SCHEMA_VERSION.encode() + b"\x00"  # never the proof receipt's domain: one signature, one meaning
PROMPT_DOMAIN = "zkinfer.llm-prompt/1"
COMMITMENT_SCHEME = "toploc-bf16"
MAX_TOKENS = 1 << 20
TokenId = Annotated[int, Field(ge=0, lt=1 << 31)]


def prompt_digest(token_ids: list[int]) -> str:
    return digest_json({"domain": PROMPT_DOMAIN, "token_ids": token_ids})


class _Strict(BaseModel):
    # as the proof receipt: unknown fields refused, no coercion, no NaN (it has no canonical bytes)
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ModelSection(_Strict):
    name: str
    digest: Digest
    files: dict[str, Digest] = Field(description="each covered file's digest (which file differs, when one does)")


class PromptSection(_Strict):
    kind: Literal["chat", "text"]
    token_ids: list[TokenId] = Field(max_length=MAX_TOKENS)
    digest: Digest


class SamplingSection(_Strict):
    sampler: Literal["zkinfer.llm-sample/1"]
    temperature: float = Field(ge=0, le=2)
    top_p: float = Field(gt=0, le=1)
    seed: int = Field(ge=0, le=sampling.MAX_SEED)
    max_tokens: int = Field(ge=1, le=MAX_TOKENS)
    stop: list[str] = Field(default=[], max_length=4)

    def params(self) -> sampling.Params:
        return sampling.Params(temperature=self.temperature, top_p=self.top_p, seed=self.seed)


class CompletionSection(_Strict):
    token_ids: list[TokenId] = Field(min_length=1, max_length=MAX_TOKENS)
    finish_reason: Literal["stop", "length"]


class CommitmentSection(_Strict):
    scheme: Literal["toploc-bf16"]
    activations: Literal["last-hidden-state"] = Field(
        description="the final hidden state (after the last norm) at each position that produced a completion token"
    )
    chunk_tokens: int = Field(ge=1, le=4096)
    topk: int = Field(ge=1, le=4096)
    values: list[Base64Bytes]


class Timings(_Strict):
    generate_ms: float = Field(ge=0)
    commit_ms: float = Field(ge=0)


class LlmReceipt(_Strict):
    schema_version: Literal["zkinfer.llm-receipt/1"]
    issued_at: str
    request_id: str = Field(min_length=1, max_length=200)
    model: ModelSection
    prompt: PromptSection
    sampling: SamplingSection
    completion: CompletionSection
    commitments: CommitmentSection
    timings: Timings
    signature: Signature | None = None
    trace_signature: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{192}$",
        description="the signing key's BLS signature over the trace claim (hex, 96 bytes); omitted when absent",
    )

    @model_serializer(mode="wrap")
    def _omit_absent_trace_signature(self, handler: SerializerFunctionWrapHandler) -> Any:
        """A receipt without a trace signature dumps (and digests) exactly as before the field existed."""
        data = handler(self)
        if isinstance(data, dict) and data.get("trace_signature", "") is None:
            del data["trace_signature"]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> LlmReceipt:
        """What form alone fixes: the prompt digest, the length against max_tokens, one commitment per chunk of each
        size."""
        if self.prompt.digest != prompt_digest(self.prompt.token_ids):
            raise ValueError("prompt.digest is not the digest of prompt.token_ids")
        count = len(self.completion.token_ids)
        if count > self.sampling.max_tokens:
            raise ValueError(
                f"completion.token_ids: {count} tokens, more than sampling.max_tokens ({self.sampling.max_tokens})"
            )
        expected = math.ceil(count / self.commitments.chunk_tokens)
        if len(self.commitments.values) != expected:
            raise ValueError(
                f"commitments.values: {len(self.commitments.values)} commitments for {count} tokens; expected "
                f"{expected}"
            )
        if any(len(v) != 2 + 2 * self.commitments.topk for v in self.commitments.values):
            raise ValueError(
                f"commitments.values: each is {2 + 2 * self.commitments.topk} bytes at topk {self.commitments.topk}"
            )
        return self

    @property
    def id(self) -> str:
        return self.request_id

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude={"signature", "trace_signature"}))

    def trace_claim(self) -> TraceClaim:
        """The claim the trace signature covers, rebuilt from this receipt's own fields."""
        return TraceClaim.of(
            self.model.digest,
            self.prompt.token_ids,
            self.completion.token_ids,
            self.request_id,
            self.sampling.temperature,
            self.sampling.top_p,
            self.sampling.seed,
        )

    def digest(self) -> str:
        return digest_json(self.model_dump(mode="json"))


def sign(receipt: LlmReceipt, key: identity.NodeKey) -> LlmReceipt:
    """The receipt signed twice by `key`: its canonical bytes, and its trace claim (for the dispute contract)."""
    signature = bls.sign(key.secret, SIGNING_DOMAIN + receipt.canonical_bytes())
    traced = bls.sign(key.secret, receipt.trace_claim().message())
    return receipt.model_copy(
        update={
            "signature": Signature(scheme=identity.SCHEME, public_key=key.public_hex, signature=signature.hex()),
            "trace_signature": traced.hex(),
        }
    )


def check_signature(receipt: LlmReceipt) -> str:
    """A description when the signature is valid; ZkinferError otherwise (and when there is none)."""
    if receipt.signature is None:
        raise ZkinferError("the receipt is not signed")
    public = identity.parse_public_key(receipt.signature.public_key, "field signature.public_key")
    signature = bytes.fromhex(receipt.signature.signature)
    if len(signature) != identity.SIGNATURE_BYTES or not bls.verify(
        public, SIGNING_DOMAIN + receipt.canonical_bytes(), signature
    ):
        raise ZkinferError(
            f"the signature does not verify for key {receipt.signature.public_key[:16]}… over this receipt's contents"
        )
    if receipt.trace_signature is None:
        return f"valid {identity.SCHEME} signature by {receipt.signature.public_key}"
    if not bls.verify(public, receipt.trace_claim().message(), bytes.fromhex(receipt.trace_signature)):
        raise ZkinferError(
            f"field trace_signature: does not verify for key {receipt.signature.public_key[:16]}… over this "
            "receipt's trace claim (the tokens, counts or sampling parameters were changed after signing)"
        )
    return f"valid {identity.SCHEME} signatures by {receipt.signature.public_key} (receipt and trace claim)"


def parse(document: Any, source: str = "LLM receipt") -> LlmReceipt:
    if not isinstance(document, dict):
        raise ReceiptFormatError(f"{source}: an LLM receipt must be a JSON object, got {type(document).__name__}")
    try:
        return LlmReceipt.model_validate(document)
    except ValidationError as exc:
        raise ReceiptFormatError(
            describe_validation_error(exc, source).replace("zkinfer.receipt/1", SCHEMA_VERSION)
        ) from exc


def load(path: Path) -> LlmReceipt:
    return parse(read_document(path), str(path))


def save(receipt: LlmReceipt, path: Path) -> None:
    cache.write_atomically(path, (receipt.model_dump_json(indent=2) + "\n").encode())
