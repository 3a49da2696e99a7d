"""Fast inference + witnesses + proofs → a receipt, for a circuit split into linked segments or not.

An unsplit circuit is a chain of one segment: `ChainProver` proves either kind (one /1 receipt, or a
split /2 one), holding what is costly to load (the onnxruntime session, every segment's keys) so the
node can answer the fast path in milliseconds and prove the same input later in a worker process.
`Prover` is the same for an unsplit circuit, with the statements a node signs before it proves.
`prove_receipt` is the whole command: load, prove, check an executor's proofs, stop the workers.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TypedDict, Unpack

from zkinfer.core.crypto import identity, srs
from zkinfer.core.crypto.digest import split_circuit_digest
from zkinfer.core.formats import circuit, inputs, split_circuit, statement
from zkinfer.core.formats.circuit import Circuit
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.formats.split_circuit import AnyCircuit
from zkinfer.core.formats.split_receipt import AnyReceipt
from zkinfer.core.formats.statement import Statement
from zkinfer.core.support import scratch
from zkinfer.core.support.errors import ProverLostError, ProvingError
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.core.zkp.ezkl_views import Witness
from zkinfer.prover import keys
from zkinfer.prover.executor import Executor, ProofTask, open_executor
from zkinfer.prover.receipts import FastAnswer, Proven, SegmentKeys, build, check_as_verifier, commitment, tensors
from zkinfer.prover.runtime import open_session
from zkinfer.prover.witnesses import chain_witnesses

__all__ = [
    "ChainProver",
    "FastAnswer",
    "Prover",
    "ProverOptions",
    "check_as_verifier",
    "prove_file",
    "prove_receipt",
    "tensors",
]


class ChainProver:
    """Proves inputs for one circuit, split or not; every segment's keys are set up (once, cached)
    when it is made. `executor`: where ezkl.prove runs (`zkinfer.prover.executor`); None proves an
    unsplit circuit in this process and a split one in local prove processes this prover starts."""

    def __init__(
        self,
        circuit_dir: Path | AnyCircuit,
        *,
        srs_fingerprint: str | None = None,
        prefer_gpu: bool = True,
        allow_development_srs: bool = True,
        signer: identity.NodeKey | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.signer = signer
        self.circuit: AnyCircuit = self._load(circuit_dir) if isinstance(circuit_dir, Path) else circuit_dir
        self.segment_keys = []
        for segment in self.circuit.segments:
            found = keys.ensure(segment, srs_fingerprint, allow_development_srs)
            self.segment_keys.append(
                SegmentKeys(found, found.vk.read_bytes(), srs.reduced(found.srs.path.read_bytes()))
            )
        # onnxruntime, or onnx's reference evaluator where it refuses the model
        self.session = open_session(self.circuit.model_path, prefer_gpu=prefer_gpu)
        self._own_executor = executor is None and len(self.circuit.segments) > 1
        self.executor = open_executor("local") if self._own_executor else executor

    def _load(self, path: Path) -> AnyCircuit:
        return split_circuit.load_any(path)

    def close(self) -> None:
        """Stop the prove workers this prover started (an executor given to it is the caller's)."""
        if self._own_executor and self.executor is not None:
            self.executor.close()

    def __enter__(self) -> ChainProver:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def load_input(self, path: Path) -> inputs.Sample:
        return inputs.load_sample(path, self.circuit.input_specs)

    def fast(self, sample: inputs.Sample) -> FastAnswer:
        start = time.perf_counter()
        outputs = self.session.run(sample)
        return FastAnswer(outputs=outputs, provider=self.session.provider, ms=(time.perf_counter() - start) * 1000)

    @property
    def segment_circuit_digests(self) -> list[str]:
        return [k.keys.circuit_digest(s) for s, k in zip(self.circuit.segments, self.segment_keys, strict=True)]

    @property
    def circuit_digest(self) -> str:
        """What an auditor pins (`--expect-circuit`): the circuit's digest, or a chain's over its segments' in order."""
        digests = self.segment_circuit_digests
        return digests[0] if len(digests) == 1 else split_circuit_digest(digests)

    def prove(self, sample: inputs.Sample, fast: FastAnswer | None = None) -> AnyReceipt:
        """Prove `sample` through every segment; `fast` is reused when the caller already answered it.
        The receipt is checked as a verifier reads it before it is returned (`check_as_verifier`)."""
        fast = fast or self.fast(sample)
        with tempfile.TemporaryDirectory(prefix="zkinfer-prove-") as tmp:
            proven = self._proven(sample, Path(tmp))
        receipt = build(self.circuit, self.segment_keys, proven, fast)
        check_as_verifier(receipt, self.circuit.name, self.executor.name if self.executor is not None else None)
        return identity.sign_receipt(receipt, self.signer) if self.signer else receipt

    def _proven(self, sample: inputs.Sample, work: Path) -> Proven:
        """The witnesses in order, then every segment's proof (in parallel on the executor)."""
        segments = self.circuit.segments
        start = time.perf_counter()
        witness_files = chain_witnesses(segments, sample, work)
        witness_ms = (time.perf_counter() - start) * 1000
        tasks = [
            ProofTask(compiled=s.compiled_path, pk=k.keys.pk, srs=k.keys.srs.path, witness=w, proof=work / f"seg{i}.pf")
            for i, (s, k, w) in enumerate(zip(segments, self.segment_keys, witness_files, strict=True))
        ]
        start = time.perf_counter()
        if self.executor is None:
            one = tasks[0]
            proofs = [_ezkl.prove(one.witness, one.compiled, one.pk, one.proof, one.srs)]
            seconds = [time.perf_counter() - start]
        else:
            try:
                results = self.executor.prove_many(tasks)
            except ProverLostError:
                if len(tasks) == 1:
                    raise  # the caller retries one lost proof (the node re-queues the job)
                results = self.executor.prove_many(tasks)  # a worker died mid-chain: the tasks are sound, once more
            proofs, seconds = [r.proof for r in results], [r.seconds for r in results]
        prove_ms = (time.perf_counter() - start) * 1000
        witnesses = [Witness.of(json.loads(w.read_text())) for w in witness_files]
        return Proven(sample, witnesses, proofs, seconds, witness_ms, prove_ms)


class Prover(ChainProver):
    """A `ChainProver` for an unsplit circuit (a split one is refused: `circuit.load` names it), with
    the statements a node signs at once and proves later."""

    circuit: Circuit

    def _load(self, path: Path) -> Circuit:
        return circuit.load(path)

    @property
    def keys(self) -> keys.Keys:
        return self.segment_keys[0].keys

    def prove(self, sample: inputs.Sample, fast: FastAnswer | None = None) -> Receipt:
        receipt = super().prove(sample, fast)
        if not isinstance(receipt, Receipt):  # one segment always gives a /1 receipt (`receipts.build`)
            raise ProvingError(f"{self.circuit.name}: an unsplit circuit gave a {receipt.schema_version} receipt")
        return receipt

    def witness(self, sample: inputs.Sample) -> Witness:
        """The quantized forward pass alone (tens of milliseconds): what the proof will attest."""
        with scratch.files("input.json", "witness.json") as (data_file, witness_file):  # no temp dir: see scratch
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
        return [[c] for c in commitment(witness.input_commitment, "input commitment")] if hashed else witness.inputs

    def _statements(self, witness: Witness, rows: list[tuple[int, str]]) -> list[Statement]:
        hashed = self.circuit.manifest.visibility.input == "hashed"
        input_felts = self._input_felts(witness)
        weights = (
            commitment(witness.params_commitment, "weights commitment")
            if self.circuit.manifest.visibility.params == "hashed"
            else None
        )
        digest, scales, batch = (
            self.circuit_digest,
            self.circuit.settings.output_scales,
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


class ProverOptions(TypedDict, total=False):
    """`ChainProver`'s options besides the circuit and the executor, as `prove_receipt` passes them on."""

    srs_fingerprint: str | None
    prefer_gpu: bool
    allow_development_srs: bool
    signer: identity.NodeKey | None


def prove_receipt(
    circuit_dir: Path, input_path: Path, *, executor: Executor | None = None, **options: Unpack[ProverOptions]
) -> AnyReceipt:
    """`zkinfer prove`, whole: load the circuit (split or not) and its keys, prove the input file,
    check the proofs the caller's `executor` returned as an auditor would (ProverLostError when
    they do not verify: nothing is handed out), and stop the prove workers the prover started."""
    from zkinfer.verify.executor_check import check_executor_receipt

    with ChainProver(circuit_dir, executor=executor, **options) as prover:
        receipt = prover.prove(prover.load_input(input_path))
        if executor is not None:  # proofs made in the caller's executor (Ray machines): checked before use
            check_executor_receipt(receipt, prover.circuit.name, executor.name)
    return receipt


prove_file = prove_receipt  # the name `zkinfer.prove_file` exported before split circuits shared the prover
