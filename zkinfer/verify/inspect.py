"""A readable summary of a receipt (what it claims, who signed it), without verifying anything.

`zkinfer inspect` is for a human deciding what to pin: it prints the digests an auditor copies
into a policy (verifying key, model, weights commitment, SRS fingerprint, signer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from zkinfer.core.crypto.digest import circuit_digest, digest_bytes, split_circuit_digest
from zkinfer.core.formats.receipt import load
from zkinfer.core.formats.split_receipt import AnyReceipt, SplitReceipt, load_any
from zkinfer.core.zkp.ezkl_views import SettingsError

# What a receipt states that neither its proof nor any pin covers: the node's own word, shown as such.
# (The circuit pin covers the key and every decoding setting, the proof the values: never these.)
AS_THE_NODE_STATES = (
    "model name",
    "model digest (unless pinned by --model)",
    "tensor names",
    "ezkl version",
    "issue time",
    "timings",
    "fast-path provider",
)


class TensorSummary(BaseModel):
    name: str
    shape: list[int]
    values: list[float]
    argmax: int | None


class Summary(BaseModel):
    source: str
    schema_version: str
    issued_at: str
    model_name: str
    model_digest: str
    circuit_digest: str
    vk_digest: str
    settings_digest: str
    ezkl_version: str
    k: int
    srs_fingerprint: str
    srs_kind: str
    input_visibility: str
    input: list[TensorSummary] | None
    input_commitment: list[str] | None
    params_visibility: str
    params_commitment: list[str] | None
    outputs: list[TensorSummary]
    fast_provider: str
    fast_max_abs_deviation: float
    proof_bytes: int
    public_instances: int
    vk_bytes: int
    prove_ms: float
    signer: str | None
    signature_scheme: str | None
    as_the_node_states: list[str] = list(AS_THE_NODE_STATES)


def _tensor(name: str, shape: list[int], values: list[float]) -> TensorSummary:
    argmax = max(range(len(values)), key=values.__getitem__) if values else None
    return TensorSummary(name=name, shape=shape, values=values, argmax=argmax)


class SegmentSummary(BaseModel):
    index: int
    name: str
    circuit_digest: str
    vk_digest: str
    k: int
    srs_fingerprint: str
    input_visibility: str
    output_visibility: str
    public_instances: int
    proof_bytes: int
    vk_bytes: int
    prove_ms: float


class SplitSummary(BaseModel):
    """What a split receipt (zkinfer.receipt/2) states: the chain's pin, each segment, the links."""

    source: str
    schema_version: str
    issued_at: str
    model_name: str
    model_digest: str
    circuit_digest: str  # over the segments' circuit digests in order: what --expect-circuit pins
    vk_digest: str
    segments: list[SegmentSummary]
    links: list[str]
    input_visibility: str
    input: list[TensorSummary] | None
    input_commitment: list[str] | None
    outputs: list[TensorSummary]
    fast_provider: str
    fast_max_abs_deviation: float
    prove_ms: float  # wall time, segments in parallel
    signer: str | None
    signature_scheme: str | None
    as_the_node_states: list[str] = list(AS_THE_NODE_STATES)


def _segments(receipt: AnyReceipt) -> list[SegmentSummary]:
    summaries = []
    for i, segment in enumerate(receipt.segments):
        settings = segment.model.settings_view
        try:
            visibility = (settings.visibility("input"), settings.visibility("output"))
        except SettingsError:
            visibility = ("?", "?")
        summaries.append(
            SegmentSummary(
                index=i,
                name=segment.model.name,
                circuit_digest=circuit_digest(digest_bytes(segment.model.verifying_key), segment.model.settings),
                vk_digest=segment.model.vk_digest,
                k=segment.srs.k,
                srs_fingerprint=segment.srs.fingerprint,
                input_visibility=visibility[0],
                output_visibility=visibility[1],
                public_instances=sum(len(c) for c in segment.proof.instances),
                proof_bytes=len(segment.proof.hex),
                vk_bytes=len(segment.model.verifying_key),
                prove_ms=segment.timings.prove_ms,
            )
        )
    return summaries


def summarize(receipt: AnyReceipt, source: str = "receipt") -> Summary | SplitSummary:
    """What a receipt states, one segment (`Summary`) or a split chain (`SplitSummary`: each
    segment and the links). Digests and sizes are computed; nothing is checked (use `verify`)."""
    segments, section = _segments(receipt), receipt.input
    stated: dict[str, Any] = {
        "source": source,
        "schema_version": receipt.schema_version,
        "issued_at": receipt.issued_at,
        "model_name": receipt.model.name,
        "model_digest": receipt.model.model_digest,
        "vk_digest": receipt.model.vk_digest,
        "input_visibility": section.visibility,
        "input": None if section.tensors is None else [_tensor(t.name, t.shape, t.values) for t in section.tensors],
        "input_commitment": section.commitment,
        "outputs": [_tensor(t.name, t.shape, t.values) for t in receipt.output.tensors],
        "fast_provider": receipt.fast.provider,
        "fast_max_abs_deviation": receipt.fast.max_abs_deviation,
        "prove_ms": receipt.timings.prove_ms,
        "signer": receipt.signature.public_key if receipt.signature else None,
        "signature_scheme": receipt.signature.scheme if receipt.signature else None,
    }
    if isinstance(receipt, SplitReceipt):
        digest = split_circuit_digest([s.circuit_digest for s in segments])
        return SplitSummary(circuit_digest=digest, segments=segments, links=receipt.links, **stated)
    only, development = segments[0], receipt.srs.development
    return Summary(
        circuit_digest=only.circuit_digest,
        settings_digest=receipt.model.settings_digest,
        ezkl_version=receipt.model.ezkl_version,
        k=only.k,
        srs_fingerprint=only.srs_fingerprint,
        srs_kind="development, as the receipt admits (not for production)"
        if development
        else "ceremony, as the receipt states (not evidence: pin --trusted-srs)",
        params_visibility=receipt.params.visibility,
        params_commitment=receipt.params.commitment,
        proof_bytes=only.proof_bytes,
        public_instances=only.public_instances,
        vk_bytes=only.vk_bytes,
        **stated,
    )


def inspect_any(path: Path) -> Summary | SplitSummary:
    """Summarize a receipt file, /1 or a split /2 (by its schema_version); an unreadable or
    malformed one raises ReceiptFormatError (exit 2)."""
    return summarize(load_any(path), str(path))


def inspect_file(path: Path) -> Summary:
    """Summarize a /1 receipt file (a split one is refused as a /1 receipt is: ReceiptFormatError)."""
    summary = summarize(load(path), str(path))
    if not isinstance(summary, Summary):  # a /1 receipt is one segment, summarized as one
        raise TypeError(f"{path}: a /1 receipt summarized as a chain")
    return summary


def disclosed_words(document: object) -> set[str]:
    """Every 32-byte word a receipt's JSON discloses, as lower-case hex.

    Hex strings are cut at word boundaries (a proof is a run of 32-byte words), so a
    check like "no quantized input value appears in this hashed-input receipt" compares
    whole field elements instead of substrings that straddle two words by chance.
    """
    if isinstance(document, dict):
        return set().union(*map(disclosed_words, document.values()))
    if isinstance(document, list):
        return set().union(*map(disclosed_words, document))
    if (
        isinstance(document, str)
        and document
        and len(document) % 64 == 0
        and all(c in "0123456789abcdefABCDEF" for c in document)
    ):
        return {document[i : i + 64].lower() for i in range(0, len(document), 64)}
    return set()
