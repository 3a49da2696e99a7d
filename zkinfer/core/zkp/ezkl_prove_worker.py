"""The prove worker: ezkl.prove in a process of its own, so that a memory ceiling (RLIMIT_AS) bounds
ezkl alone, not the caller's onnxruntime or Ray runtime, and so that a proof that exceeds it kills
only that process. The executors (`zkinfer.prover.executor`) turn its answers into typed errors."""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass
from typing import IO, Any

from zkinfer.core.zkp import ezkl_worker_wire as wire


@dataclass(frozen=True)
class ProveAnswer:
    """What a prove worker reports for one proof."""

    ok: bool
    reason: str
    memory: bool  # failed for want of memory: a MemoryError, a failed allocation, or an abort under the ceiling
    lost: bool  # the worker died (killed, or crashed) before answering
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # user + system time of the proof, all of ezkl's threads
    peak_rss_bytes: int = 0  # the worker's own resident high-water mark so far (VmHWM)
    pid: int = 0


_spawner_lock = threading.Lock()
_spawner_pool: Any = None


def _spawner() -> Any:
    """One long-lived thread that starts every prove worker. A worker asks for SIGKILL when its parent
    dies (PR_SET_PDEATHSIG), and Linux sends it when the *thread* that forked it exits: a worker forked
    by a short-lived thread (an executor's pool thread) would be killed as soon as that call returned."""
    global _spawner_pool
    with _spawner_lock:
        if _spawner_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _spawner_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zkinfer-prove-spawner")
        return _spawner_pool


class ProveProcess:
    """A prove worker: one process, ezkl imported once, proofs one at a time, its address space capped at
    `memory_bytes` (RLIMIT_AS; None: no cap). `rayon_threads` bounds ezkl's threads (None: all cores).
    A worker that died is replaced by the next `prove`."""

    def __init__(self, memory_bytes: int | None = None, rayon_threads: int | None = None) -> None:
        self.memory_bytes = memory_bytes
        self.rayon_threads = rayon_threads
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def _start(self) -> subprocess.Popen[str]:
        import tempfile

        env = wire.env()
        # glibc reserves 64 MiB of address space per thread's arena: under RLIMIT_AS that is a ceiling
        # spent on nothing
        if self.memory_bytes:
            env["MALLOC_ARENA_MAX"] = "2"
        if self.rayon_threads:
            env["RAYON_NUM_THREADS"] = str(self.rayon_threads)
        # a file, not a pipe: a chatty ezkl can never block on it
        self._stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by close())
        command = wire.command("prove", str(self.memory_bytes or 0))
        started: subprocess.Popen[str] = (
            _spawner()
            .submit(
                subprocess.Popen,
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                text=True,
                env=env,
            )
            .result()
        )
        return started

    def prove(self, witness: str, compiled: str, pk: str, proof: str, srs: str) -> ProveAnswer:
        with self._lock:
            process = self._process = wire.running(self._process, self._start)
            try:
                request = {"witness": witness, "compiled": compiled, "pk": pk, "proof": proof, "srs": srs}
                line = wire.send(process, request).readline()
            except (BrokenPipeError, OSError):
                line = ""
            if line:
                answer = json.loads(line)
                if "seconds" not in answer:  # it could not even import ezkl under the ceiling, and has exited
                    process.wait()
                    self._close_locked()
                return ProveAnswer(lost=False, **answer)
            return self._died(process)

    def _died(self, process: subprocess.Popen[str]) -> ProveAnswer:
        code = process.wait()
        tail = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            tail = self._stderr.read()[-2000:].strip()
        self._close_locked()
        memory = bool(self.memory_bytes) and (
            "memory allocation" in tail or "MemoryError" in tail or code in (-6, -11)
        )  # SIGABRT, SIGSEGV
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        lines = tail.splitlines()
        said = next(
            (line for line in lines if "memory allocation" in line or "panicked" in line), lines[-1] if lines else ""
        )
        return ProveAnswer(
            ok=False, reason=f"the prove worker {how}" + (f": {said}" if said else ""), memory=memory, lost=not memory
        )

    def _close_locked(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
            self._process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()
