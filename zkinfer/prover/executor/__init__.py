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

from zkinfer.core.support.errors import UsageError
from zkinfer.prover.executor.tasks import (
    MIN_PROVE_MEMORY,
    Executor,
    ProofResult,
    ProofTask,
    cpu_count,
    format_memory,
    parse_memory,
    result,
)

__all__ = [
    "EXECUTORS",
    "MIN_PROVE_MEMORY",
    "Executor",
    "ProofResult",
    "ProofTask",
    "choose",
    "cpu_count",
    "format_memory",
    "open_executor",
    "parse_memory",
    "result",
]

EXECUTORS = ("local", "ray")


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
