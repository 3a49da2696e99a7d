"""The split receipt (`zkinfer.receipt/2`): one signed document for a model proven in linked segments.

It holds, per segment, what a `zkinfer.receipt/1` holds for its circuit (settings, verifying key,
reduced SRS, proof and its public instances), plus the links: the commitment each segment's
output shares with the next one's input (Poseidon, or with `link_kind: polycommit` a KZG point). The first input
and the last output are stated as in a /1 receipt; the fast answer is the whole model's. The node signs the canonical
bytes of everything but the signature, as for /1. Unsplit circuits still write /1 receipts, which verify as before.

Nothing here is trusted: `zkinfer.verify.links` takes every link from the proofs' instances
and checks the receipt's own statement of it against them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field, model_validator

from zkinfer.core.crypto.digest import canonical_json, digest_json
from zkinfer.core.formats.chains import MAX_SEGMENTS, LinkKind
from zkinfer.core.formats.receipt import (
    Digest,
    FastSection,
    InputSection,
    OutputSection,
    ParamsSection,
    Receipt,
    SegmentSection,
    SegmentTimings,
    Signature,
    _Strict,
    read_document,
    validated,
)
from zkinfer.core.support import cache

SCHEMA_VERSION: Final = "zkinfer.receipt/2"
__all__ = [  # SegmentSection and SegmentTimings are defined with the /1 receipt (a chain of one segment)
    "SCHEMA_VERSION",
    "AnyReceipt",
    "ChainSection",
    "SegmentSection",
    "SegmentTimings",
    "SplitReceipt",
    "SplitTimings",
    "is_split_document",
    "load_any",
    "parse",
    "parse_any",
    "save",
]


class ChainSection(_Strict):
    """The whole model: its name and digest (as stated), and the digest of the segments' keys in order."""

    name: str
    model_digest: Digest
    vk_digest: Digest = Field(description="split_vk_digest of the segments' verifying-key digests, in order")
    ezkl_version: str


class SplitTimings(_Strict):
    fast_ms: float
    witness_ms: float  # the segments' witnesses, one after the other
    prove_ms: float  # wall time of proving every segment (in parallel)


class SplitReceipt(_Strict):
    schema_version: Literal["zkinfer.receipt/2"]
    issued_at: str
    model: ChainSection
    segments: list[SegmentSection] = Field(min_length=2, max_length=MAX_SEGMENTS)
    link_kind: LinkKind | None = Field(
        default=None,
        description="hashed (the default when absent, as in receipts made before polycommit links) or polycommit",
    )
    links: list[str] = Field(
        max_length=MAX_SEGMENTS,
        description=(
            "the commitment segment i's output shares with segment i+1's input (polycommit: the 64-byte point, 0x-hex)"
        ),
    )
    input: InputSection
    params: ParamsSection
    output: OutputSection
    fast: FastSection
    timings: SplitTimings
    signature: Signature | None = None

    @model_validator(mode="after")
    def _fixed_weights(self) -> SplitReceipt:
        """Each segment's weights are baked into its key: a weights commitment would be a field no proof covers."""
        if self.params.commitment is not None:
            raise ValueError(
                "params: a split receipt's weights are fixed in each segment's circuit, "
                "with no params.commitment (remove it)"
            )
        for i, segment in enumerate(self.segments):
            segment.model._where = f"segments[{i}].model.settings"  # errors name the segment's field
        return self

    @property
    def links_kind(self) -> LinkKind:
        return self.link_kind or "hashed"

    def _absent(self) -> set[str]:
        """An absent link_kind stays absent, so receipts made before it existed keep their bytes (and signatures)."""
        return {"link_kind"} if self.link_kind is None else set()

    def canonical_bytes(self) -> bytes:
        """Bytes a signature covers: the canonical JSON of everything except the signature."""
        return canonical_json(self.model_dump(mode="json", exclude={"signature", *self._absent()}))

    def digest(self) -> str:
        return digest_json(self.model_dump(mode="json", exclude=self._absent()))


AnyReceipt = Receipt | SplitReceipt


def is_split_document(document: Any) -> bool:
    """Whether a parsed JSON document claims the split schema (then `parse` holds it to it)."""
    return isinstance(document, dict) and document.get("schema_version") == SCHEMA_VERSION


def parse(document: Any, source: str = "receipt") -> SplitReceipt:
    return validated(SplitReceipt, document, source, SCHEMA_VERSION)


def parse_any(document: Any, source: str = "receipt") -> AnyReceipt:
    """A /2 (split) or /1 receipt, by its schema_version; anything else fails as a /1 receipt does."""
    from zkinfer.core.formats import receipt

    return parse(document, source) if is_split_document(document) else receipt.parse(document, source)


def load_any(path: Path, max_bytes: int | None = None) -> AnyReceipt:
    return parse_any(read_document(path, max_bytes), str(path))


def save(receipt: AnyReceipt, path: Path) -> None:
    """Write a receipt, /1 or /2, as `zkinfer prove` does (a /2 one without the fields it lacks)."""
    absent = receipt._absent() if isinstance(receipt, SplitReceipt) else set()
    cache.write_atomically(path, (receipt.model_dump_json(indent=2, exclude=absent) + "\n").encode())
