"""What every executor shares: a proof task, its result, the memory-size option, and how a prove worker's
answer becomes a result or a typed error. The executors import this, never the package that picks one."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from zkinfer.core.support.errors import ProofMemoryError, ProverLostError, ProvingError, UsageError
from zkinfer.core.zkp.ezkl_worker import ProveAnswer


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
