"""Proven segments → one receipt: a `zkinfer.receipt/1` for a chain of one, a split `/2` for more.

Both state the same things (the first input, the last output, the fast answer) and carry each
segment's circuit, SRS and proof; a /1 receipt holds its one segment's sections at the top level,
with the weights' visibility its circuit has. Before it is handed out, a receipt is checked as the
verifier would check it (`check_as_verifier`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from zkinfer.core.crypto import polycommit
from zkinfer.core.crypto.digest import split_vk_digest
from zkinfer.core.formats import inputs, split_receipt
from zkinfer.core.formats import receipt as single
from zkinfer.core.formats.circuit import Circuit
from zkinfer.core.formats.receipt import (
    FastSection,
    InputSection,
    ModelSection,
    OutputSection,
    ParamsSection,
    ProofSection,
    SegmentSection,
    SegmentTimings,
    SrsSection,
    TensorData,
)
from zkinfer.core.formats.split_circuit import AnyCircuit
from zkinfer.core.formats.split_receipt import AnyReceipt
from zkinfer.core.support.errors import CircuitError, ProverLostError, ProvingError, ZkinferError
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.core.zkp.ezkl_views import Witness
from zkinfer.core.zkp.onnx_model import TensorSpec
from zkinfer.prover import keys


@dataclass(frozen=True)
class SegmentKeys:
    """A segment's keys and what a receipt embeds of them (read once, when the prover is made)."""

    keys: keys.Keys
    vk_bytes: bytes
    reduced_srs: bytes


@dataclass(frozen=True)
class FastAnswer:
    """The float answer and where it was computed: an onnxruntime provider, or "onnx-reference"."""

    outputs: list[np.ndarray]
    provider: str
    ms: float


@dataclass(frozen=True)
class Proven:
    """What proving one input through a chain gave: each segment's witness, proof and proving time."""

    sample: inputs.Sample
    witnesses: list[Witness]
    proofs: list[dict[str, Any]]
    prove_seconds: list[float]
    witness_ms: float
    prove_ms: float


def tensors(specs: tuple[TensorSpec, ...], arrays: list[np.ndarray]) -> list[TensorData]:
    return [
        TensorData(name=spec.name, shape=[int(d) for d in array.shape], values=[float(v) for v in array.ravel()])
        for spec, array in zip(specs, arrays, strict=True)
    ]


def commitment(hashes: list[str] | None, part: str) -> list[str]:
    """The witness's commitment for a part the circuit hashes (see `ezkl_views.Witness`)."""
    if hashes is None:
        raise ProvingError(
            f"ezkl's witness has no {part} for a circuit compiled with hashed visibility; recompile the circuit"
        )
    return hashes


def _segment(circuit: Circuit, found: SegmentKeys, proof: dict[str, Any], timings: SegmentTimings) -> SegmentSection:
    return SegmentSection(
        model=ModelSection(
            name=circuit.name,
            model_digest=circuit.manifest.model_digest,
            compiled_digest=circuit.manifest.compiled_digest,
            settings_digest=circuit.manifest.settings_digest,
            settings=circuit.settings.raw,
            vk_digest=found.keys.vk_digest,
            verifying_key=found.vk_bytes,
            ezkl_version=_ezkl.VERSION,
        ),
        srs=SrsSection(
            fingerprint=found.keys.srs.fingerprint,
            k=found.keys.srs.k,
            development=found.keys.srs.development,
            reduced=found.reduced_srs,
        ),
        proof=ProofSection(
            hex=bytes.fromhex(str(proof["hex_proof"]).removeprefix("0x")),
            instances=[[str(x) for x in col] for col in proof["instances"]],
        ),
        timings=timings,
    )


def build(circuit: AnyCircuit, found: list[SegmentKeys], proven: Proven, fast: FastAnswer) -> AnyReceipt:
    """The receipt of `proven` (unsigned): /1 for one segment, /2 with its links for a chain;
    `fast` is the float answer for the same sample."""
    segments, first, last = circuit.segments, proven.witnesses[0], proven.witnesses[-1]
    out_scales = segments[-1].settings.output_scales
    proven_out = [
        flat.reshape(spec.shape)
        for flat, spec in zip(_ezkl.witness_outputs(last, out_scales), circuit.output_specs, strict=True)
    ]
    deviation = max(
        float(np.max(np.abs(p - f.reshape(p.shape)))) for p, f in zip(proven_out, fast.outputs, strict=True)
    )
    visibility = circuit.visibility
    hashed_input = visibility.input == "hashed"
    stated: dict[str, Any] = {
        "issued_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "input": InputSection(
            visibility=visibility.stated_input,
            scales=segments[0].settings.input_scales,
            tensors=None if hashed_input else tensors(circuit.input_specs, proven.sample),
            commitment=commitment(first.input_commitment, "input commitment") if hashed_input else None,
        ),
        "params": ParamsSection(
            visibility=visibility.params,
            commitment=commitment(first.params_commitment, "weights commitment")
            if visibility.params == "hashed"
            else None,
        ),
        "output": OutputSection(
            visibility="public",
            scales=out_scales,
            tensors=tensors(circuit.output_specs, proven_out),
            felts=last.outputs,
        ),
        "fast": FastSection(
            provider=fast.provider,
            tensors=tensors(circuit.output_specs, fast.outputs),
            max_abs_deviation=deviation,
        ),
    }
    sections = [
        _segment(s, k, p, SegmentTimings(witness_ms=proven.witness_ms / len(segments), prove_ms=seconds * 1000))
        for s, k, p, seconds in zip(segments, found, proven.proofs, proven.prove_seconds, strict=True)
    ]
    if len(sections) == 1:
        return single.Receipt(
            schema_version=single.SCHEMA_VERSION,
            model=sections[0].model,
            srs=sections[0].srs,
            proof=sections[0].proof,
            timings=single.Timings(fast_ms=fast.ms, witness_ms=proven.witness_ms, prove_ms=proven.prove_ms),
            **stated,
        )
    polycommit_links = _polycommit_links(segments, proven.proofs) if circuit.links == "polycommit" else None
    return split_receipt.SplitReceipt(
        schema_version=split_receipt.SCHEMA_VERSION,
        model=split_receipt.ChainSection(
            name=circuit.name,
            model_digest=circuit.manifest.model_digest,
            vk_digest=split_vk_digest([k.keys.vk_digest for k in found]),
            ezkl_version=_ezkl.VERSION,
        ),
        segments=sections,
        link_kind=None if polycommit_links is None else "polycommit",
        links=polycommit_links
        if polycommit_links is not None
        else [(w.input_commitment or [""])[0] for w in proven.witnesses[1:]],
        timings=split_receipt.SplitTimings(fast_ms=fast.ms, witness_ms=proven.witness_ms, prove_ms=proven.prove_ms),
        **stated,
    )


def _polycommit_links(segments: tuple[Circuit, ...], proofs: list[dict[str, Any]]) -> list[str]:
    """Each link's KZG point, read from both proofs where the verifier reads it; CircuitError when
    the two differ (the segments' columns are laid out differently: a broken circuit, not a proof)."""
    raw = [bytes.fromhex(str(p["hex_proof"]).removeprefix("0x")) for p in proofs]
    links = []
    for i in range(len(segments) - 1):
        before = polycommit.positions(segments[i].settings, f"{segments[i].settings_path}").outputs
        after = polycommit.positions(segments[i + 1].settings, f"{segments[i + 1].settings_path}").inputs
        produced, consumed = (
            polycommit.point(raw[i], before[0], f"segment {i}"),
            polycommit.point(raw[i + 1], after[0], f"segment {i + 1}"),
        )
        if produced != consumed:
            raise CircuitError(
                f"{segments[i + 1].path}: its proof's input commitment differs from segment {i}'s output "
                "commitment; recompile the split circuit with --link polycommit"
            )
        links.append("0x" + produced.hex())
    return links


def check_as_verifier(receipt: AnyReceipt, circuit_name: str, executor: str | None = None) -> None:
    """Run the verifier's own checks of what a receipt states, reading it back from its JSON as an
    auditor does (well-formed, settings, binding, a chain's links, the fast answer), before anyone
    gets it: the prover never hands out a receipt `zkinfer verify` rejects (exit 2, nothing written,
    the check named). A millisecond, no process; the proofs themselves are not verified again here
    (those from an executor's process are, by `zkinfer.verify.executor_check`). For a proof made in
    this process a failure is a ProvingError (the prover and the verifier disagree: a bug); for one
    that came back from `executor` it is a ProverLostError, retried as a lost prover is (most likely
    the executor proved something else)."""
    from zkinfer.verify import checks  # the auditor's checks, run on the prover's side too

    try:
        read_back = split_receipt.parse_any(json.loads(receipt.model_dump_json()), "the receipt just built")
        checks.check_statement(read_back)
    except checks.CheckFailed as exc:
        _refuse(ProvingError(str(exc)), circuit_name, executor)
    except ZkinferError as exc:
        _refuse(exc, circuit_name, executor)


def _refuse(exc: ZkinferError, circuit_name: str, executor: str | None) -> None:
    if executor is not None:
        raise ProverLostError(
            f"{circuit_name}: the proof from the {executor} executor does not verify for this input ({exc}); not used"
        ) from exc
    raise ProvingError(
        f"{circuit_name}: zkinfer's verifier would reject this receipt ({exc}), so it is not handed out; "
        "the prover and the verifier disagree on this circuit: please report it, with the model"
    ) from exc
