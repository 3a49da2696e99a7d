"""Fast inference + witness + proof → a `Receipt`.

`Prover` holds what is costly to load (the onnxruntime session, the key paths) so the node can
answer the fast path in milliseconds and prove the same input later in a worker process.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from zkinfer.core import circuit, identity, inputs, split_receipt, srs, statement
from zkinfer.core import ezkl_adapter as _ezkl
from zkinfer.core.errors import ProverLostError, ProvingError, ZkinferError
from zkinfer.core.ezkl_views import Settings, Witness
from zkinfer.core.receipt import (
    SCHEMA_VERSION,
    FastSection,
    InputSection,
    ModelSection,
    OutputSection,
    ParamsSection,
    ProofSection,
    Receipt,
    SrsSection,
    TensorData,
    Timings,
)
from zkinfer.core.split_receipt import AnyReceipt
from zkinfer.core.statement import Statement
from zkinfer.prover import keys
from zkinfer.prover.executor import Executor, ProofTask
from zkinfer.prover.runtime import open_session
from zkinfer.verify import checks, split_checks
from zkinfer.verify.policy import Policy


@dataclass(frozen=True)
class FastAnswer:
    """The float answer and where it was computed: an onnxruntime provider, or "onnx-reference"."""

    outputs: list[np.ndarray]
    provider: str
    ms: float


def tensors(specs: tuple[object, ...], arrays: list[np.ndarray]) -> list[TensorData]:
    return [
        TensorData(name=spec.name, shape=[int(d) for d in array.shape], values=[float(v) for v in array.ravel()])  # type: ignore[attr-defined]
        for spec, array in zip(specs, arrays, strict=True)
    ]


def _commitment(hashes: list[str] | None, part: str) -> list[str]:
    """The witness's commitment for a part the circuit hashes (see `ezkl_views.Witness`)."""
    if hashes is None:
        raise ProvingError(
            f"ezkl's witness has no {part} for a circuit compiled with hashed visibility; recompile the circuit"
        )
    return hashes


class Prover:
    """Proves inputs for one circuit; keys are set up (once, cached) when it is created."""

    def __init__(
        self,
        circuit_dir: Path | circuit.Circuit,
        *,
        srs_fingerprint: str | None = None,
        prefer_gpu: bool = True,
        allow_development_srs: bool = True,
        signer: identity.NodeKey | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.signer = signer
        self.executor = executor  # where ezkl.prove runs (`zkinfer.prover.executor`); None: in this process
        self.circuit = circuit_dir if isinstance(circuit_dir, circuit.Circuit) else circuit.load(circuit_dir)
        self.keys = keys.ensure(self.circuit, srs_fingerprint, allow_development_srs)
        self.session = open_session(
            self.circuit.model_path, prefer_gpu=prefer_gpu
        )  # onnxruntime, or onnx's reference evaluator where it refuses the model
        self._vk_bytes = self.keys.vk.read_bytes()
        self._reduced_srs = srs.reduced(self.keys.srs.path.read_bytes())

    def load_input(self, path: Path) -> inputs.Sample:
        return inputs.load_sample(path, self.circuit.input_specs)

    def fast(self, sample: inputs.Sample) -> FastAnswer:
        start = time.perf_counter()
        outputs = self.session.run(sample)
        return FastAnswer(outputs=outputs, provider=self.session.provider, ms=(time.perf_counter() - start) * 1000)

    @property
    def circuit_digest(self) -> str:
        return self.keys.circuit_digest(self.circuit)

    def witness(self, sample: inputs.Sample) -> Witness:
        """The quantized forward pass alone (tens of milliseconds): what the proof will attest."""
        with tempfile.TemporaryDirectory(prefix="zkinfer-witness-") as tmp:
            data_file, witness_file = Path(tmp) / "input.json", Path(tmp) / "witness.json"
            data_file.write_text(json.dumps(inputs.to_ezkl_data([sample])))
            return _ezkl.gen_witness(data_file, self.circuit.compiled_path, witness_file)

    def statement(self, sample: inputs.Sample, request_id: str, row: int = 0) -> Statement:
        """The statement this circuit's proof of `sample` will attest (the node signs it at once).
        `row` picks one request's row out of a batch circuit's padded sample."""
        return self._statements(self.witness(sample), [(row, request_id)])[0]

    def statements(self, sample: inputs.Sample, request_ids: list[str]) -> list[Statement]:
        """One witness, one statement per row: request i is row i of a batch circuit's stacked
        `sample`. The node answers concurrent requests this way (one witness run for many)."""
        return self._statements(self.witness(sample), list(enumerate(request_ids)))

    def claimable_statement(self, sample: inputs.Sample, request_id: str) -> tuple[Statement, list[list[str]]]:
        """A batch-1 circuit's statement and the input felts its proof will expose: what an on-chain
        claim hashes (the statement itself keeps only their digest)."""
        witness = self.witness(sample)
        return self._statements(witness, [(0, request_id)])[0], self._input_felts(witness)

    def _input_felts(self, witness: Witness) -> list[list[str]]:
        hashed = self.circuit.manifest.visibility.input == "hashed"
        return [[c] for c in _commitment(witness.input_commitment, "input commitment")] if hashed else witness.inputs

    def _statements(self, witness: Witness, rows: list[tuple[int, str]]) -> list[Statement]:
        hashed = self.circuit.manifest.visibility.input == "hashed"
        input_felts = self._input_felts(witness)
        weights = (
            _commitment(witness.params_commitment, "weights commitment")
            if self.circuit.manifest.visibility.params == "hashed"
            else None
        )
        digest, scales, batch = (
            self.circuit_digest,
            Settings(self.circuit.settings).output_scales,
            self.circuit.manifest.batch_size,
        )
        return [
            statement.make(
                circuit=digest,
                request_id=request_id,
                input_visibility="hashed" if hashed else "public",
                input_felts=input_felts,
                weights_commitment=weights,
                output_scales=scales,
                output_felts=witness.outputs,
                row=row,
                rows=batch,
            )
            for row, request_id in rows
        ]

    def prove(self, sample: inputs.Sample, fast: FastAnswer | None = None) -> Receipt:
        """Prove `sample`; `fast` is reused when the caller already answered it."""
        fast = fast or self.fast(sample)
        settings = self.circuit.settings
        out_scales = Settings(settings).output_scales
        with tempfile.TemporaryDirectory(prefix="zkinfer-prove-") as tmp:
            data_file, witness_file, proof_file = (
                Path(tmp) / "input.json",
                Path(tmp) / "witness.json",
                Path(tmp) / "proof.json",
            )
            data_file.write_text(json.dumps(inputs.to_ezkl_data([sample])))
            start = time.perf_counter()
            witness = _ezkl.gen_witness(data_file, self.circuit.compiled_path, witness_file)
            witness_ms = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            if self.executor is None:
                proof = _ezkl.prove(
                    witness_file, self.circuit.compiled_path, self.keys.pk, proof_file, self.keys.srs.path
                )
            else:
                task = ProofTask(
                    compiled=self.circuit.compiled_path,
                    pk=self.keys.pk,
                    srs=self.keys.srs.path,
                    witness=witness_file,
                    proof=proof_file,
                )
                proof = self.executor.prove_many([task])[0].proof
            prove_ms = (time.perf_counter() - start) * 1000
        out_felts = witness.outputs
        proven = [
            flat.reshape(spec.shape)
            for flat, spec in zip(_ezkl.witness_outputs(witness, out_scales), self.circuit.output_specs, strict=True)
        ]
        deviation = max(
            float(np.max(np.abs(p - f.reshape(p.shape)))) for p, f in zip(proven, fast.outputs, strict=True)
        )
        visibility = self.circuit.manifest.visibility
        hashed_input = visibility.input == "hashed"
        receipt = Receipt(
            schema_version=SCHEMA_VERSION,
            issued_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            model=ModelSection(
                name=self.circuit.name,
                model_digest=self.circuit.manifest.model_digest,
                compiled_digest=self.circuit.manifest.compiled_digest,
                settings_digest=self.circuit.manifest.settings_digest,
                settings=settings,
                vk_digest=self.keys.vk_digest,
                verifying_key=self._vk_bytes,
                ezkl_version=_ezkl.VERSION,
            ),
            srs=SrsSection(
                fingerprint=self.keys.srs.fingerprint,
                k=self.keys.srs.k,
                development=self.keys.srs.development,
                reduced=self._reduced_srs,
            ),
            input=InputSection(
                visibility=visibility.stated_input,
                scales=Settings(settings).input_scales,
                tensors=None if hashed_input else tensors(self.circuit.input_specs, sample),
                commitment=_commitment(witness.input_commitment, "input commitment") if hashed_input else None,
            ),
            params=ParamsSection(
                visibility=visibility.params,
                commitment=_commitment(witness.params_commitment, "weights commitment")
                if visibility.params == "hashed"
                else None,
            ),
            output=OutputSection(
                visibility="public",
                scales=out_scales,
                tensors=tensors(self.circuit.output_specs, proven),
                felts=out_felts,
            ),
            fast=FastSection(
                provider=fast.provider,
                tensors=tensors(self.circuit.output_specs, fast.outputs),
                max_abs_deviation=deviation,
            ),
            proof=ProofSection(
                hex=bytes.fromhex(str(proof["hex_proof"]).removeprefix("0x")),
                instances=[[str(x) for x in col] for col in proof["instances"]],
            ),
            timings=Timings(fast_ms=fast.ms, witness_ms=witness_ms, prove_ms=prove_ms),
        )
        check_as_verifier(receipt, self.circuit.name, self.executor.name if self.executor is not None else None)
        return identity.sign_receipt(receipt, self.signer) if self.signer else receipt


def check_as_verifier(receipt: AnyReceipt, circuit_name: str, executor: str | None = None) -> None:
    """Run the verifier's own checks of what a receipt states, reading it back from its JSON as an
    auditor does (well-formed, settings, binding, a split receipt's links, the fast answer), before
    anyone gets it: the prover never hands out a receipt `zkinfer verify` rejects (exit 2, nothing
    written, the check named). A millisecond, no process; the proofs themselves are not verified
    again here (those from an executor's process are, by its caller: `zkinfer.verify.executor_check`).
    For a proof made in this process a failure is a ProvingError (the prover and the verifier
    disagree: a bug); for one that came back from `executor` it is a ProverLostError, retried as a
    lost prover is (most likely the executor proved something else)."""
    try:
        read_back = split_receipt.parse_any(json.loads(receipt.model_dump_json()), "the receipt just built")
        steps: tuple[tuple[str, Callable[[Any], str]], ...]
        if isinstance(read_back, split_receipt.SplitReceipt):
            steps = (
                ("settings", split_checks.check_settings),
                ("binding", split_checks.check_binding),
                ("links", split_checks.check_links),
            )
        else:
            steps = (("settings", checks.check_settings), ("binding", checks.check_binding))
        for name, check in (*steps, ("fast", lambda r: checks.check_fast(r, Policy()))):
            try:
                check(read_back)
            except checks.CheckFailed as exc:
                raise ProvingError(f"{name}: {exc}") from exc
    except ZkinferError as exc:
        if executor is not None:
            raise ProverLostError(
                f"{circuit_name}: the proof from the {executor} executor does not verify for this input ({exc}); not used"
            ) from exc
        raise ProvingError(
            f"{circuit_name}: zkinfer's verifier would reject this receipt ({exc}), so it is not handed out; "
            "the prover and the verifier disagree on this circuit: please report it, with the model"
        ) from exc


def prove_file(circuit_dir: Path, input_path: Path, **options: object) -> Receipt:
    """One-shot convenience for the CLI and notebooks."""
    prover = Prover(circuit_dir, **options)  # type: ignore[arg-type]
    return prover.prove(prover.load_input(input_path))
