"""Where proof tasks run. A proof task is (compiled circuit, proving key, SRS, witness) → a proof file.

Two executors, one interface (`prove_many(tasks) -> results`, in the tasks' order):
- `local` (`LocalExecutor`): this machine's processes, up to `parallel` proofs at once;
- `ray` (`RayExecutor`): Ray actors on a local Ray started on demand, or on the cluster at `--ray-address`;
  one actor per proving key (and executor instance), kept across tasks.

Both run ezkl in a prove worker process (`ezkl_worker.ProveProcess`), never in the caller: ezkl holds
the GIL for a whole proof, and a memory ceiling (`--max-prove-memory`, RLIMIT_AS on that process)
must bound ezkl alone, not the caller's onnxruntime or Ray runtime. A proof over the ceiling is a
`ProofMemoryError` (naming the limit and suggesting `--split`); a prove worker that dies for another
reason (killed, crashed) is a `ProverLostError`, which the node answers by re-queuing the job.
`ray` is an optional extra (`pip install zkinfer[ray]`), imported only when chosen.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from zkinfer.core.errors import ProofMemoryError, ProverLostError, ProvingError, UsageError
from zkinfer.core.ezkl_worker import ProveAnswer

EXECUTORS = ("local", "ray")


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ProofTask:
    """One proof to make: ezkl's inputs, and where its proof document goes."""

    compiled: Path
    pk: Path
    srs: Path
    witness: Path
    proof: Path


@dataclass(frozen=True)
class ProofResult:
    proof: dict[str, Any]  # ezkl's proof document (as written to the task's `proof` path)
    seconds: float  # ezkl.prove alone, in the prove worker
    cpu_seconds: float  # its user + system time, all threads
    peak_rss_bytes: int  # the prove worker's own resident high-water mark (VmHWM) when it answered
    worker: str  # where it ran, for logs: "local pid N" or "ray actor NAME pid N"


class Executor(Protocol):
    """Runs proof tasks; `close` releases its processes (and a Ray it started)."""

    name: str

    def prove_many(self, tasks: Sequence[ProofTask]) -> list[ProofResult]: ...

    def close(self) -> None: ...


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "B": 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "KI": 1 << 10,
    "MI": 1 << 20,
    "GI": 1 << 30,
    "TI": 1 << 40,
}
MIN_PROVE_MEMORY = 64 << 20  # below this not even Python starts; a smaller value is surely a typo


def parse_memory(text: str, option: str = "--max-prove-memory") -> int:
    """Bytes from a size such as `2GiB`, `512MiB`, `1.5G` or `1000000` (plain bytes)."""
    match = _SIZE_RE.match(text)
    if not match:
        raise UsageError(f"{option}: {text!r} is not a size; write e.g. 2GiB, 512MiB or 1.5G")
    unit = (match.group(2) or "").upper().removesuffix("B")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < MIN_PROVE_MEMORY:
        raise UsageError(
            f"{option}: {text!r} is {size} bytes, "
            f"below the {MIN_PROVE_MEMORY >> 20} MiB a prove worker needs to start; give a larger size such as 2GiB"
        )
    return size


def format_memory(size: int) -> str:
    return f"{size / (1 << 30):.3g} GiB" if size >= 1 << 30 else f"{size / (1 << 20):.0f} MiB"


def result(task: ProofTask, answer: ProveAnswer, max_memory: int | None, worker: str) -> ProofResult:
    """A prove worker's answer as a result, or the typed error it amounts to (shared by every executor)."""
    if answer.ok:
        return ProofResult(
            proof=json.loads(task.proof.read_text()),
            seconds=answer.seconds,
            cpu_seconds=answer.cpu_seconds,
            peak_rss_bytes=answer.peak_rss_bytes,
            worker=worker,
        )
    if answer.memory:
        limit = (
            f"the proving memory ceiling {format_memory(max_memory)} (--max-prove-memory)"
            if max_memory
            else "the memory available"
        )
        raise ProofMemoryError(
            f"{task.compiled}: proving needed more than {limit} ({answer.reason}); raise --max-prove-memory, "
            "or compile the model with --split K so that each segment's proof fits"
        )
    if answer.lost:
        raise ProverLostError(
            f"{task.compiled}: {answer.reason} ({worker}) before the proof was done; the task may be retried"
        )
    raise ProvingError(f"{task.compiled}: proving failed: {answer.reason}")


def open_executor(
    name: str = "local", *, ray_address: str | None = None, max_memory: int | None = None, parallel: int | None = None
) -> Executor:
    """The executor called `name` (`local` or `ray`). `parallel`: proofs at once (local; default the cores)."""
    if name == "local":
        if ray_address is not None:
            raise UsageError("--ray-address is for --executor ray; drop it or choose --executor ray")
        from zkinfer.prover.executor.local import LocalExecutor

        return LocalExecutor(max_memory=max_memory, parallel=parallel)
    if name == "ray":
        from zkinfer.prover.executor.ray_actors import RayExecutor

        return RayExecutor(address=ray_address, max_memory=max_memory)
    raise UsageError(f"--executor: {name!r} is not one of {', '.join(EXECUTORS)}")


def choose(
    name: str = "local", *, ray_address: str | None = None, max_memory: int | None = None, parallel: int | None = None
) -> Executor | None:
    """The executor `--executor`, `--ray-address` and `--max-prove-memory` ask for (the CLI's and the
    node's one rule); None: prove in this process, as with none of them (no worker process to start
    for an unbounded local proof)."""
    if name == "local" and ray_address is None and max_memory is None:
        return None
    return open_executor(name, ray_address=ray_address, max_memory=max_memory, parallel=parallel)
