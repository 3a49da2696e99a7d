"""The circuits a node serves: found under `--circuits`, loaded once, keys set up before listening.

A circuit compiled for batch N (manifest `batch_size` N > 1) still serves one sample per request:
the request shape is the model's with a leading 1, and a proof stacks up to N queued requests
(zero rows pad a short batch). Row i of the receipt is job i of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zkinfer.core.crypto.identity import NodeKey
from zkinfer.core.formats import circuit
from zkinfer.core.formats.inputs import Sample
from zkinfer.core.support.errors import CircuitError
from zkinfer.core.zkp.onnx_model import TensorSpec
from zkinfer.prover.executor import Executor
from zkinfer.prover.prove import FastAnswer, Prover


def discover(root: Path) -> list[Path]:
    """`root` itself when it is a circuit directory, else each circuit directory directly under it."""
    if (root / circuit.MANIFEST_FILE).is_file():
        return [root]
    if not root.is_dir():
        raise CircuitError(
            f"{root}: no such directory; give --circuits a folder of compiled circuits (`zkinfer compile ... -o "
            f"{root}/NAME`)"
        )
    found = sorted(p for p in root.iterdir() if (p / circuit.MANIFEST_FILE).is_file())
    if not found:
        raise CircuitError(
            f"{root}: holds no compiled circuit (no */{circuit.MANIFEST_FILE}); compile one with `zkinfer compile "
            f"MODEL.onnx --data CALIB -o {root}/NAME`"
        )
    return found


def row_specs(specs: tuple[TensorSpec, ...], batch_size: int) -> tuple[TensorSpec, ...]:
    """One request's tensor specs: the circuit's, with the batch axis cut to 1."""
    if batch_size == 1:
        return specs
    return tuple(TensorSpec(s.name, (1, *s.shape[1:])) for s in specs)


def stack(samples: list[Sample], batch_size: int) -> Sample:
    """Requests' samples stacked on the batch axis and zero-padded to `batch_size` rows."""
    stacked = [np.concatenate(rows, axis=0) for rows in zip(*samples, strict=True)]
    return [
        np.concatenate([a, np.zeros((batch_size - a.shape[0], *a.shape[1:]), dtype=a.dtype)], axis=0) for a in stacked
    ]


@dataclass
class ServedModel:
    """One circuit as the web process sees it: its request/response shapes and its fast path."""

    prover: Prover
    jobs_per_proof: int

    @property
    def name(self) -> str:
        return self.prover.circuit.name

    @property
    def batch_size(self) -> int:
        return self.prover.circuit.manifest.batch_size

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        return row_specs(self.prover.circuit.input_specs, self.batch_size)

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        return row_specs(self.prover.circuit.output_specs, self.batch_size)

    def answer(self, sample: Sample) -> FastAnswer:
        """The fast float answer for one request (padded through a batch circuit's model if need be)."""
        if self.batch_size == 1:
            return self.prover.fast(sample)
        fast = self.prover.fast(stack([sample], self.batch_size))
        return FastAnswer(outputs=[y[:1] for y in fast.outputs], provider=fast.provider, ms=fast.ms)


def check_batchable(c: circuit.Circuit) -> None:
    """A batch circuit must carry the batch on axis 0 of every input and output, or rows cannot be split."""
    n = c.manifest.batch_size
    if n > 1 and any(not s.shape or s.shape[0] != n for s in (*c.input_specs, *c.output_specs)):
        raise CircuitError(
            f"{c.path}: compiled for batch_size {n}, but not every input/output has {n} on axis 0; the node cannot "
            "split its rows"
        )


def load_provers(
    root: Path, *, prefer_gpu: bool, signer: NodeKey | None = None, executor: Executor | None = None
) -> dict[str, Prover]:
    """A Prover per circuit under `root`, by circuit name; keys are set up here (never per request).
    `executor`: where their proofs run (None: in the calling process)."""
    provers: dict[str, Prover] = {}
    for path in discover(root):
        prover = Prover(path, prefer_gpu=prefer_gpu, signer=signer, executor=executor)
        check_batchable(prover.circuit)
        if prover.circuit.name in provers:
            raise CircuitError(
                f"{path}: circuit name {prover.circuit.name!r} is also used by "
                f"{provers[prover.circuit.name].circuit.path}; rename one"
            )
        provers[prover.circuit.name] = prover
    return provers
