"""Run ezkl.verify (and, for the executors, ezkl.prove) in separate, memory-limited worker processes.

A receipt is untrusted input, and ezkl trusts the settings it is given: absurd values make it
divide by zero (a panic), allocate without bound (the OOM killer) or segfault. A verifier must
answer with a verdict instead, so the proof check runs in a long-lived worker (one `import ezkl`,
~0.1 s, then milliseconds per proof); if the worker dies or overruns, that receipt fails the
proof check and the next call starts a fresh worker.

Proving runs here too when an executor asks for it (`zkinfer.prover.executor`): a prove worker is
a process of its own so that a memory ceiling (RLIMIT_AS) bounds ezkl alone, not the caller's
onnxruntime or Ray runtime, and so that a proof that exceeds it kills only that process.

This file is also the worker: run as a script it imports only the standard library and ezkl.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

MEMORY_LIMIT_BYTES = 4 << 30
TIMEOUT_S = 30.0


def _serve() -> None:  # the worker: one JSON request per line on stdin, one JSON answer per line
    _limit_memory()
    import ezkl

    for line in sys.stdin:
        request = json.loads(line)
        try:
            ok, reason = (
                bool(
                    ezkl.verify(
                        request["proof"], request["settings"], request["vk"], request["srs"], request["reduced_srs"]
                    )
                ),
                "",
            )
        except BaseException as exc:  # pyo3's PanicException is a BaseException
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        sys.stdout.write(json.dumps({"ok": ok, "reason": reason}) + "\n")
        sys.stdout.flush()


def _run_args(ezkl: Any, values: dict[str, Any]) -> Any:
    """ezkl's PyRunArgs from the run_args object of a settings file (pairs and ranges are tuples there)."""
    args = ezkl.PyRunArgs()
    for key, value in values.items():
        if value is None:
            continue
        if key.endswith("_visibility"):  # settings spell "Public" / {"Hashed": {"hash_is_public": true, ...}}
            hashed = (
                isinstance(value, dict)
                and isinstance(value.get("Hashed"), dict)
                and value["Hashed"].get("hash_is_public") is True
            )
            value = "hashed" if hashed else value.lower() if isinstance(value, str) else value
        elif isinstance(value, list):
            value = [tuple(v) for v in value] if all(isinstance(v, list) for v in value) and value else tuple(value)
        setattr(args, key, value)
    return args


def _reproduce_once() -> (
    None
):  # one request: settings from the model under the receipt's run args; compile, set up, maybe a witness
    request = json.loads(sys.stdin.readline())
    _limit_memory(int(request["memory_bytes"]))
    import ezkl

    answer: dict[str, Any] = {"ok": True, "reason": ""}
    try:
        with open(request["settings"]) as file:
            run_args = json.load(file)["run_args"]
        ezkl.gen_settings(request["model"], request["derived_settings"], py_run_args=_run_args(ezkl, run_args))
        ezkl.compile_circuit(request["model"], request["compiled"], request["settings"])
        ezkl.setup(request["compiled"], request["vk"], request["pk"], request["srs"], None, False)
        if request["input"] is not None:
            ezkl.gen_witness(request["input"], request["compiled"], request["witness"], None, None)
    except BaseException as exc:  # pyo3's PanicException is a BaseException
        answer = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def _evm_verifier_once() -> None:  # one request: the Solidity verifier of a (possibly untrusted) key, settings and SRS
    request = json.loads(sys.stdin.readline())
    _limit_memory()
    import asyncio

    import ezkl

    async def render() -> Any:  # ezkl returns an awaitable that needs a running loop
        return await ezkl.create_evm_verifier(
            request["vk"], request["settings"], request["sol"], request["abi"], request["srs"], False
        )

    answer: dict[str, Any] = {"ok": True, "reason": ""}
    try:
        asyncio.run(render())
    except BaseException as exc:  # pyo3's PanicException is a BaseException
        # ezkl 23 writes the .sol, then downloads solc to make the ABI: offline that fails, and the
        # .sol is complete (solcjs compiles it and gives the ABI)
        written = os.path.isfile(request["sol"]) and os.path.getsize(request["sol"]) > 0
        if not (written and ("svm" in str(exc) or "solc" in str(exc))):
            answer = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    # the failed download leaves ezkl's async runtime behind, and tearing the interpreter down under it
    # aborts or segfaults about one run in four (seen here): the answer is out, so leave at once
    os._exit(0)


def _prove_serve(memory_bytes: int) -> None:  # the prove worker: one JSON request per line, one answer per line
    _die_with_parent()
    if memory_bytes:
        _limit_memory(memory_bytes)
    import resource
    import time

    try:
        import ezkl
    except MemoryError as exc:  # a ceiling below what importing ezkl takes
        sys.stdout.write(
            json.dumps({"ok": False, "reason": f"MemoryError: importing ezkl: {exc}", "memory": True}) + "\n"
        )
        sys.stdout.flush()
        return
    for line in sys.stdin:
        request = json.loads(line)
        start, memory = time.perf_counter(), False
        before = resource.getrusage(resource.RUSAGE_SELF)
        try:
            ezkl.prove(request["witness"], request["compiled"], request["pk"], request["proof"], request["srs"])
            ok, reason = True, ""
        except MemoryError as exc:
            ok, reason, memory = False, f"MemoryError: {exc}", True
        except BaseException as exc:  # pyo3's PanicException is a BaseException
            ok, reason = False, f"{type(exc).__name__}: {exc}"
            memory = any(
                word in reason
                for word in ("memory allocation", "capacity overflow", "Cannot allocate", "out of memory")
            )
        after = resource.getrusage(resource.RUSAGE_SELF)
        answer = {
            "ok": ok,
            "reason": reason,
            "memory": memory,
            "seconds": time.perf_counter() - start,
            "cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
            "peak_rss_bytes": _peak_rss(),
            "pid": os.getpid(),
        }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def _peak_rss() -> int:
    """This process's own peak resident memory: Linux's VmHWM (ru_maxrss would also count the memory of
    the parent it was forked from: Linux keeps the pre-exec high-water mark), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _die_with_parent() -> None:
    """SIGKILL this worker when its parent dies (Linux), so a killed caller (a Ray worker) leaves no orphan prover."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _limit_memory(limit: int = MEMORY_LIMIT_BYTES) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform: run unlimited
        pass


def _worker_command(*args: str) -> list[str]:
    """This file run as a worker script (isolated mode: only the standard library and ezkl)."""
    return [sys.executable, "-I", os.path.abspath(__file__), *args]


def _worker_env() -> dict[str, str]:
    return {**os.environ, "RUST_BACKTRACE": "0"}  # a panic's backtrace would only be noise on stderr


class _Worker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            _worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_worker_env(),
        )

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def prestart(self) -> None:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()

    def call(self, request: dict[str, Any], on_sent: Callable[[], None]) -> tuple[bool, str]:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            process = self._process
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
                on_sent()
                line = _readline(process.stdout, TIMEOUT_S)
            except (BrokenPipeError, OSError):
                line = None
            if line is None:
                self._stop()
                return (
                    False,
                    f"ezkl crashed or ran over {TIMEOUT_S:.0f} s on this proof (malformed settings, key or proof)",
                )
            answer = json.loads(line)
            return bool(answer["ok"]), str(answer["reason"])


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

        env = _worker_env()
        # glibc reserves 64 MiB of address space per thread's arena: under RLIMIT_AS that is a ceiling
        # spent on nothing
        if self.memory_bytes:
            env["MALLOC_ARENA_MAX"] = "2"
        if self.rayon_threads:
            env["RAYON_NUM_THREADS"] = str(self.rayon_threads)
        self._stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by close()) -- a file, not a pipe: a chatty ezkl can never block on it
        command = _worker_command("prove", str(self.memory_bytes or 0))
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
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            process = self._process
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(
                    json.dumps({"witness": witness, "compiled": compiled, "pk": pk, "proof": proof, "srs": srs}) + "\n"
                )
                process.stdin.flush()
                line = process.stdout.readline()
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


def _readline(stream: IO[str], timeout: float) -> str | None:
    """A line from the worker, or None if it died or did not answer in time."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive() or not result or not result[0]:
        return None
    return result[0]


_worker = _Worker()
atexit.register(_worker._stop)


def stop() -> None:
    """Stop the verify worker now (it is also stopped at exit); the next verify() starts another."""
    with _worker._lock:
        _worker._stop()


def prestart() -> None:
    """Start the verify worker now, so that its start (a Python process importing ezkl, ~0.1 s) overlaps the
    caller's own work, such as the CLI importing the verifier; the first verify() then finds it ready."""
    _worker.prestart()


def verify(
    proof: str, settings: str, vk: str, srs: str, reduced_srs: bool, on_sent: Callable[[], None] = lambda: None
) -> tuple[bool, str]:
    """ezkl.verify on files, in the worker: (ok, reason). Never raises for a bad proof.
    `on_sent` runs once the worker has the request, before its answer is awaited."""
    return _worker.call(
        {"proof": proof, "settings": settings, "vk": vk, "srs": srs, "reduced_srs": reduced_srs}, on_sent
    )


def reproduce(request: dict[str, Any], timeout_s: float) -> tuple[bool, str]:
    """compile_circuit + setup (+ gen_witness) with untrusted settings, in a one-shot worker process
    limited to `request["memory_bytes"]`: (ok, reason). Files go where the request says."""
    try:
        done = subprocess.run(
            _worker_command("reproduce"),
            input=json.dumps(request) + "\n",
            capture_output=True,
            text=True,
            env=_worker_env(),
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return False, f"compiling and setting up took over {timeout_s:.0f} s"
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines:
        return False, f"ezkl crashed (exit {done.returncode}) compiling or setting up with the receipt's settings"
    answer = json.loads(lines[-1])
    return bool(answer["ok"]), str(answer["reason"])


def evm_verifier(vk: str, settings: str, srs: str, sol: str, abi: str, timeout_s: float = 300.0) -> tuple[bool, str]:
    """ezkl.create_evm_verifier in a one-shot, memory-limited worker (the key and settings may come
    from an untrusted receipt): (ok, reason). The .sol is at `sol` when ok."""
    request = {"vk": vk, "settings": settings, "srs": srs, "sol": sol, "abi": abi}
    try:
        done = subprocess.run(
            _worker_command("evm-verifier"),
            input=json.dumps(request) + "\n",
            capture_output=True,
            text=True,
            env=_worker_env(),
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return False, f"generating the Solidity verifier took over {timeout_s:.0f} s"
    lines = done.stdout.splitlines()
    if not lines:  # no answer: it died while generating (an answer followed by a crash at exit still counts)
        return False, f"ezkl crashed (exit {done.returncode}) generating the Solidity verifier"
    answer = json.loads(lines[-1])
    return bool(answer["ok"]), str(answer["reason"])


if __name__ == "__main__":
    if sys.argv[1:2] == ["prove"]:
        _prove_serve(int(sys.argv[2]))
    elif sys.argv[1:] == ["reproduce"]:
        _reproduce_once()
    elif sys.argv[1:] == ["evm-verifier"]:
        _evm_verifier_once()
    else:
        _serve()
