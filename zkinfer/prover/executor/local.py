"""The `local` executor: proofs in this machine's prove worker processes, up to `parallel` at once.

Workers are kept between calls (ezkl imported once each) and grouped by their rayon thread count:
a call proving N tasks side by side gives each worker cores // N threads, so parallel proofs do not
oversubscribe the cores, while a single proof still spreads over all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from zkinfer.core.zkp.ezkl_worker import ProveProcess
from zkinfer.prover.executor.tasks import ProofResult, ProofTask, cpu_count, result


class LocalExecutor:
    name = "local"

    def __init__(self, max_memory: int | None = None, parallel: int | None = None) -> None:
        self.max_memory = max_memory
        self.parallel = max(1, parallel or cpu_count())
        self._idle: dict[int, list[ProveProcess]] = {}
        self._lock = threading.Lock()

    def _take(self, threads: int) -> ProveProcess:
        with self._lock:
            idle = self._idle.get(threads)
            return idle.pop() if idle else ProveProcess(self.max_memory, threads)

    def _give_back(self, process: ProveProcess) -> None:
        with self._lock:
            self._idle.setdefault(process.rayon_threads or 0, []).append(process)

    def _prove(self, task: ProofTask, threads: int) -> ProofResult:
        process = self._take(threads)
        try:
            answer = process.prove(str(task.witness), str(task.compiled), str(task.pk), str(task.proof), str(task.srs))
            return result(task, answer, self.max_memory, f"local pid {answer.pid or '?'}")
        finally:
            self._give_back(process)

    def prove_many(self, tasks: Sequence[ProofTask]) -> list[ProofResult]:
        """Prove every task, `parallel` at a time; results in the tasks' order (the first error is raised)."""
        if not tasks:
            return []
        width = min(self.parallel, len(tasks))
        threads = max(1, cpu_count() // width)
        if width == 1:
            return [self._prove(task, threads) for task in tasks]
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="zkinfer-prove") as pool:
            return list(pool.map(lambda task: self._prove(task, threads), tasks))

    def close(self) -> None:
        with self._lock:
            processes = [p for idle in self._idle.values() for p in idle]
            self._idle.clear()
        for process in processes:
            process.close()
