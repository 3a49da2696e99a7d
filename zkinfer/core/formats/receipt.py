"""The receipt: one self-contained, versioned JSON document an auditor checks offline.

It embeds everything a verifier needs (verifying key, settings, the 388-byte reduced SRS) and
states what was proven. `canonical_bytes` is what a node signs: everything but the signature.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
)

from zkinfer.core.crypto.digest import canonical_json, digest_json
from zkinfer.core.formats import strict_json
from zkinfer.core.formats.chains import LinkKind
from zkinfer.core.support import cache
from zkinfer.core.support.errors import ReceiptFormatError
from zkinfer.core.zkp.ezkl_views import Settings

SCHEMA_VERSION: Final = "zkinfer.receipt/1"
Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
# Receipts for the models a node can prove are kilobytes to a few megabytes; a larger file is refused
# before it is parsed (a 247 MB receipt once took 104 s and 6.5 GB to fail). Configurable.
MAX_RECEIPT_BYTES = 32 << 20
MAX_RECEIPT_BYTES_ENV = "ZKINFER_MAX_RECEIPT_BYTES"
MAX_PROOF_BYTES = 1 << 24


_Document = TypeVar("_Document", bound=BaseModel)
_HEX = re.compile(r"[0-9a-fA-F]*")


def _from_base64(value: object) -> object:
    if not isinstance(value, str):
        return value  # bytes from Python code; anything else fails the strict bytes check
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ValueError(f"not valid base64 ({exc})") from exc


def _from_hex(value: object) -> object:
    if not isinstance(value, str):
        return value
    if not _HEX.fullmatch(value) or len(value) % 2:  # bytes.fromhex would skip whitespace: one text, one meaning
        raise ValueError("not hex (an even number of hex digits, nothing else)")
    return bytes.fromhex(value)


# Binary fields are decoded once, while parsing, and written back in the same text form, so a
# receipt's canonical bytes (what the node signs) are unchanged and no check decodes them again.
Base64Bytes = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(lambda data: base64.b64encode(data).decode(), return_type=str, when_used="json"),
]
HexBytes = Annotated[
    bytes, BeforeValidator(_from_hex), PlainSerializer(lambda data: data.hex(), return_type=str, when_used="json")
]


class _Strict(BaseModel):
    # NaN/inf are not JSON and have no canonical bytes to sign: a receipt never holds them
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class TensorData(_Strict):
    """A named tensor as flat row-major values and a shape."""

    name: str
    shape: list[int]
    values: list[float]

    @field_validator("values")
    @classmethod
    def _within_float32(cls, values: list[float]) -> list[float]:
        """Models compute in float32: a value beyond its range is inf there, whatever it is here."""
        for j, value in enumerate(values):
            if not abs(value) <= strict_json.FLOAT32_MAX:
                raise ValueError(
                    f"values[{j}] = {value:.4g} is beyond float32's range (±{strict_json.FLOAT32_MAX:.4g})"
                )
        return values


class InputSection(_Strict):
    visibility: Literal["public", "hashed"]
    scales: list[int]
    tensors: list[TensorData] | None = Field(default=None, description="present when the input is public")
    commitment: list[str] | None = Field(default=None, description="Poseidon commitment felts when hashed")


class ParamsSection(_Strict):
    visibility: Literal["fixed", "hashed"]
    commitment: list[str] | None = None


class OutputSection(_Strict):
    visibility: Literal["public"]
    scales: list[int]
    tensors: list[TensorData]
    felts: list[list[str]]


class FastSection(_Strict):
    """The float answer from onnxruntime, for comparison with the proven (quantized) one."""

    provider: str
    tensors: list[TensorData]
    max_abs_deviation: float = Field(ge=0)


class ModelSection(_Strict):
    name: str
    model_digest: Digest
    compiled_digest: Digest
    settings_digest: Digest
    settings: dict[str, Any]
    vk_digest: Digest
    verifying_key: Base64Bytes = Field(description="the verifying key file (base64 in JSON)")
    ezkl_version: str
    _where: str = PrivateAttr(default="model.settings")  # where the settings sit in the receipt, for errors

    @property
    def settings_view(self) -> Settings:
        """The typed view of `settings` (hostile: each field is checked when it is read)."""
        return Settings(self.settings, self._where)


class SrsSection(_Strict):
    fingerprint: Digest
    k: int
    development: bool
    reduced: Base64Bytes = Field(description="the reduced SRS (g[0], g2, tau·g2) used to verify (base64 in JSON)")


class ProofSection(_Strict):
    hex: HexBytes = Field(max_length=MAX_PROOF_BYTES, description="the proof (hex in JSON)")
    instances: list[list[str]]


class Timings(_Strict):
    fast_ms: float
    witness_ms: float
    prove_ms: float


class SegmentTimings(_Strict):
    witness_ms: float  # a chain's witnesses run as one sequence: its time shared evenly between the segments
    prove_ms: float


class SegmentSection(_Strict):
    """One proven circuit: its model section, the SRS it was set up with, and its proof. A /1 receipt
    is one of them (`Receipt.segments`); a split /2 receipt lists a chain of them."""

    model: ModelSection
    srs: SrsSection
    proof: ProofSection
    timings: SegmentTimings


class Signature(_Strict):
    scheme: Literal["bls12-381-g2-pop"]
    public_key: Annotated[str, StringConstraints(pattern=r"^(0x)?[0-9a-fA-F]{96}$")]  # 48 bytes, compressed G1
    signature: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{192}$")]  # 96 bytes, compressed G2


class Receipt(_Strict):
    schema_version: Literal["zkinfer.receipt/1"]
    issued_at: str
    model: ModelSection
    srs: SrsSection
    input: InputSection
    params: ParamsSection
    output: OutputSection
    fast: FastSection
    proof: ProofSection
    timings: Timings
    signature: Signature | None = None

    @property
    def segments(self) -> list[SegmentSection]:
        """The proofs in order: this receipt's one, a chain with no links (its sections, not copies)."""
        timings = SegmentTimings.model_construct(witness_ms=self.timings.witness_ms, prove_ms=self.timings.prove_ms)
        return [SegmentSection.model_construct(model=self.model, srs=self.srs, proof=self.proof, timings=timings)]

    @property
    def links(self) -> list[str]:
        return []

    @property
    def links_kind(self) -> LinkKind | None:
        return None

    def canonical_bytes(self) -> bytes:
        """Bytes a signature covers: the canonical JSON of everything except the signature."""
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def digest(self) -> str:
        return digest_json(self.model_dump(mode="json"))


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """One line per bad field, with its dotted path, so the user knows exactly what to fix."""
    lines = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        lines.append(f"field {where}: {err['msg']}")
    return f"{source}: not a valid {SCHEMA_VERSION} receipt: " + "; ".join(lines)


def max_receipt_bytes() -> int:
    """The size limit: $ZKINFER_MAX_RECEIPT_BYTES when set, else MAX_RECEIPT_BYTES."""
    text = os.environ.get(MAX_RECEIPT_BYTES_ENV)
    if text is None:
        return MAX_RECEIPT_BYTES
    if not text.isdigit() or int(text) < 1:
        raise ReceiptFormatError(f"${MAX_RECEIPT_BYTES_ENV} = {text[:40]!r} is not a positive number of bytes")
    return int(text)


def read_document(path: Path, max_bytes: int | None = None) -> Any:
    """Read a receipt file as strict JSON (see `strict_json`), refusing files over `max_bytes`
    (default `max_receipt_bytes()`) before reading them; problems raise ReceiptFormatError (exit 2)."""
    fixes = {
        "directory": f"give the receipt JSON that `zkinfer prove` writes (e.g. {path / 'receipt.json'})",
        "size": f"raise it with --max-receipt-bytes or ${MAX_RECEIPT_BYTES_ENV} if you expect receipts this large",
        "format": "a receipt is the JSON file `zkinfer prove` writes",
    }
    return strict_json.load_file(
        path, max_receipt_bytes() if max_bytes is None else max_bytes, ReceiptFormatError, "receipt file", fixes
    )


def validated(schema: type[_Document], document: Any, source: str, version: str = SCHEMA_VERSION) -> _Document:
    """`document` held to `schema` (the receipt model of `version`); ReceiptFormatError names each bad field."""
    if not isinstance(document, dict):
        raise ReceiptFormatError(f"{source}: a receipt must be a JSON object, got {type(document).__name__}")
    try:
        return schema.model_validate(document)
    except ValidationError as exc:
        raise ReceiptFormatError(describe_validation_error(exc, source).replace(SCHEMA_VERSION, version)) from exc


def parse(document: Any, source: str = "receipt") -> Receipt:
    """Validate a parsed JSON document against the receipt schema."""
    return validated(Receipt, document, source)


def load(path: Path, max_bytes: int | None = None) -> Receipt:
    return parse(read_document(path, max_bytes), str(path))


def save(receipt: Receipt, path: Path) -> None:
    cache.write_atomically(path, (receipt.model_dump_json(indent=2) + "\n").encode())
