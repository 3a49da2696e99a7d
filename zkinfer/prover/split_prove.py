"""Prove a split circuit: chained witnesses, the segments' proofs in parallel, one `zkinfer.receipt/2`.

The witnesses run in order (segment i+1 reads segment i's output field elements), each a fraction
of a second; the proofs, the costly part, are independent once the witnesses exist, so they go to
an executor (`zkinfer.prover.executor`: local processes by default, or Ray) all at once.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from zkinfer.core import ezkl_adapter as _ezkl
from zkinfer.core import identity, inputs, polycommit, split_circuit, srs
from zkinfer.core.circuit import Circuit
from zkinfer.core.digest import split_circuit_digest, split_vk_digest
from zkinfer.core.errors import CircuitError, ProverLostError, ProvingError
from zkinfer.core.ezkl_views import Settings, Witness
from zkinfer.core.receipt import (
    FastSection,
    InputSection,
    ModelSection,
    OutputSection,
    ParamsSection,
    ProofSection,
    SrsSection,
)
from zkinfer.core.split_receipt import (
    SCHEMA_VERSION,
    ChainSection,
    SegmentSection,
    SegmentTimings,
    SplitReceipt,
    SplitTimings,
)
from zkinfer.prover import keys
from zkinfer.prover.executor import Executor, ProofTask, open_executor
from zkinfer.prover.prove import FastAnswer, check_as_verifier, tensors
from zkinfer.prover.runtime import open_session
from zkinfer.prover.split import chain_witnesses


@dataclass(frozen=True)
class SegmentKeys:
    keys: keys.Keys
    vk_bytes: bytes
    reduced_srs: bytes


class SplitProver:
    """Proves inputs for one split circuit; every segment's keys are set up (once, cached) when it is created."""

    def __init__(
        self,
        circuit_dir: Path | split_circuit.SplitCircuit,
        *,
        srs_fingerprint: str | None = None,
        prefer_gpu: bool = True,
        allow_development_srs: bool = True,
        signer: identity.NodeKey | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.signer = signer
        self.circuit = (
            circuit_dir if isinstance(circuit_dir, split_circuit.SplitCircuit) else split_circuit.load(circuit_dir)
        )
        self.segment_keys = []
        for segment in self.circuit.segments:
            found = keys.ensure(segment, srs_fingerprint, allow_development_srs)
            self.segment_keys.append(
                SegmentKeys(found, found.vk.read_bytes(), srs.reduced(found.srs.path.read_bytes()))
            )
        self.session = open_session(self.circuit.model_path, prefer_gpu=prefer_gpu)
        self._own_executor = executor is None
        self.executor = executor or open_executor("local")

    def close(self) -> None:
        """Stop the prove workers this prover started (an executor given to it is the caller's)."""
        if self._own_executor:
            self.executor.close()

    def load_input(self, path: Path) -> inputs.Sample:
        return inputs.load_sample(path, self.circuit.input_specs)

    @property
    def segment_circuit_digests(self) -> list[str]:
        return [k.keys.circuit_digest(s) for s, k in zip(self.circuit.segments, self.segment_keys, strict=True)]

    @property
    def circuit_digest(self) -> str:
        """What an auditor pins (`--expect-circuit`): the segments' circuit digests, in order."""
        return split_circuit_digest(self.segment_circuit_digests)

    def fast(self, sample: inputs.Sample) -> FastAnswer:
        start = time.perf_counter()
        outputs = self.session.run(sample)
        return FastAnswer(outputs=outputs, provider=self.session.provider, ms=(time.perf_counter() - start) * 1000)

    def prove(self, sample: inputs.Sample, fast: FastAnswer | None = None) -> SplitReceipt:
        """Prove `sample` through every segment; `fast` is reused when the caller already answered it."""
        fast = fast or self.fast(sample)
        segments = self.circuit.segments
        with tempfile.TemporaryDirectory(prefix="zkinfer-split-prove-") as tmp:
            work = Path(tmp)
            start = time.perf_counter()
            witness_files = chain_witnesses(segments, sample, work)
            witness_ms = (time.perf_counter() - start) * 1000
            tasks = [
                ProofTask(
                    compiled=s.compiled_path,
                    pk=k.keys.pk,
                    srs=k.keys.srs.path,
                    witness=w,
                    proof=work / f"seg{i}-proof.json",
                )
                for i, (s, k, w) in enumerate(zip(segments, self.segment_keys, witness_files, strict=True))
            ]
            start = time.perf_counter()
            try:
                results = self.executor.prove_many(tasks)
            except (
                ProverLostError
            ):  # a prove worker died mid-proof (killed, or its machine left): the tasks are sound, so once more
                results = self.executor.prove_many(tasks)
            prove_ms = (time.perf_counter() - start) * 1000
            witnesses = [Witness.of(_read_json(w)) for w in witness_files]
        first, last = witnesses[0], witnesses[-1]
        first_settings, last_settings = Settings(segments[0].settings), Settings(segments[-1].settings)
        out_scales = last_settings.output_scales
        proven = [
            flat.reshape(spec.shape)
            for flat, spec in zip(_ezkl.witness_outputs(last, out_scales), self.circuit.output_specs, strict=True)
        ]
        deviation = max(
            float(np.max(np.abs(p - f.reshape(p.shape)))) for p, f in zip(proven, fast.outputs, strict=True)
        )
        hashed_input = self.circuit.manifest.visibility.input == "hashed"
        if hashed_input and first.input_commitment is None:
            raise ProvingError(
                f"{segments[0].path}: ezkl's witness has no input commitment for a hashed input; recompile the circuit"
            )
        polycommit_links = (
            _polycommit_links(segments, [r.proof for r in results])
            if self.circuit.manifest.links == "polycommit"
            else None
        )
        receipt = SplitReceipt(
            schema_version=SCHEMA_VERSION,
            issued_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            model=ChainSection(
                name=self.circuit.name,
                model_digest=self.circuit.manifest.model_digest,
                vk_digest=split_vk_digest([k.keys.vk_digest for k in self.segment_keys]),
                ezkl_version=_ezkl.VERSION,
            ),
            segments=[
                SegmentSection(
                    model=ModelSection(
                        name=s.name,
                        model_digest=s.manifest.model_digest,
                        compiled_digest=s.manifest.compiled_digest,
                        settings_digest=s.manifest.settings_digest,
                        settings=s.settings,
                        vk_digest=k.keys.vk_digest,
                        verifying_key=k.vk_bytes,
                        ezkl_version=_ezkl.VERSION,
                    ),
                    srs=SrsSection(
                        fingerprint=k.keys.srs.fingerprint,
                        k=k.keys.srs.k,
                        development=k.keys.srs.development,
                        reduced=k.reduced_srs,
                    ),
                    proof=ProofSection(
                        hex=bytes.fromhex(str(r.proof["hex_proof"]).removeprefix("0x")),
                        instances=[[str(x) for x in col] for col in r.proof["instances"]],
                    ),
                    timings=SegmentTimings(witness_ms=witness_ms / len(segments), prove_ms=r.seconds * 1000),
                )
                for s, k, r in zip(segments, self.segment_keys, results, strict=True)
            ],
            link_kind=None if polycommit_links is None else "polycommit",
            links=polycommit_links
            if polycommit_links is not None
            else [(w.input_commitment or [""])[0] for w in witnesses[1:]],
            input=InputSection(
                visibility=self.circuit.manifest.visibility.stated_input,
                scales=first_settings.input_scales,
                tensors=None if hashed_input else tensors(self.circuit.input_specs, sample),
                commitment=first.input_commitment if hashed_input else None,
            ),
            params=ParamsSection(visibility="fixed"),
            output=OutputSection(
                visibility="public",
                scales=out_scales,
                tensors=tensors(self.circuit.output_specs, proven),
                felts=last.outputs,
            ),
            fast=FastSection(
                provider=fast.provider,
                tensors=tensors(self.circuit.output_specs, fast.outputs),
                max_abs_deviation=deviation,
            ),
            timings=SplitTimings(fast_ms=fast.ms, witness_ms=witness_ms, prove_ms=prove_ms),
        )
        check_as_verifier(
            receipt, self.circuit.name, self.executor.name
        )  # the segments were proven in the executor's processes
        return identity.sign_receipt(receipt, self.signer) if self.signer else receipt


def _polycommit_links(segments: tuple[Circuit, ...], proofs: list[dict[str, Any]]) -> list[str]:
    """Each link's KZG point, read from both proofs where the verifier reads it; CircuitError when
    the two differ (the segments' columns are laid out differently: a broken circuit, not a proof)."""
    raw = [bytes.fromhex(str(p["hex_proof"]).removeprefix("0x")) for p in proofs]
    links = []
    for i in range(len(segments) - 1):
        before = polycommit.positions(Settings(segments[i].settings), f"{segments[i].settings_path}").outputs
        after = polycommit.positions(Settings(segments[i + 1].settings), f"{segments[i + 1].settings_path}").inputs
        produced, consumed = (
            polycommit.point(raw[i], before[0], f"segment {i}"),
            polycommit.point(raw[i + 1], after[0], f"segment {i + 1}"),
        )
        if produced != consumed:
            raise CircuitError(
                f"{segments[i + 1].path}: its proof's input commitment differs from segment {i}'s output commitment; recompile the split circuit with --link polycommit"
            )
        links.append("0x" + produced.hex())
    return links


def _read_json(path: Path) -> dict[str, object]:
    import json

    return dict(json.loads(path.read_text()))


def prove_split_file(circuit_dir: Path, input_path: Path, **options: object) -> SplitReceipt:
    """One-shot convenience (benchmarks, notebooks): load, prove one input, stop the prove workers."""
    prover = SplitProver(circuit_dir, **options)  # type: ignore[arg-type]
    try:
        return prover.prove(prover.load_input(input_path))
    finally:
        prover.close()
