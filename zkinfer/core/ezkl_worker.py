"""Run ezkl.verify in a separate, memory-limited worker process.

A receipt is untrusted input, and ezkl trusts the settings it is given: absurd values make it
divide by zero (a panic), allocate without bound (the OOM killer) or segfault. A verifier must
answer with a verdict instead, so the proof check runs in a long-lived worker (one `import ezkl`,
~0.1 s, then milliseconds per proof); if the worker dies or overruns, that receipt fails the
proof check and the next call starts a fresh worker.

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
from typing import IO, Any

MEMORY_LIMIT_BYTES = 4 << 30
TIMEOUT_S = 30.0


def _serve() -> None:  # the worker: one JSON request per line on stdin, one JSON answer per line
    _limit_memory()
    import ezkl

    for line in sys.stdin:
        request = json.loads(line)
        try:
            ok, reason = bool(ezkl.verify(request["proof"], request["settings"], request["vk"], request["srs"], request["reduced_srs"])), ""
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
            hashed = isinstance(value, dict) and isinstance(value.get("Hashed"), dict) and value["Hashed"].get("hash_is_public") is True
            value = "hashed" if hashed else value.lower() if isinstance(value, str) else value
        elif isinstance(value, list):
            value = [tuple(v) for v in value] if all(isinstance(v, list) for v in value) and value else tuple(value)
        setattr(args, key, value)
    return args


def _reproduce_once() -> None:  # one request: settings from the model under the receipt's run args; compile, set up, maybe a witness
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
        return await ezkl.create_evm_verifier(request["vk"], request["settings"], request["sol"], request["abi"], request["srs"], False)

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
            _worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_worker_env(),
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
                return False, f"ezkl crashed or ran over {TIMEOUT_S:.0f} s on this proof (malformed settings, key or proof)"
            answer = json.loads(line)
            return bool(answer["ok"]), str(answer["reason"])


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


def prestart() -> None:
    """Start the verify worker now, so that its start (a Python process importing ezkl, ~0.1 s) overlaps the
    caller's own work, such as the CLI importing the verifier; the first verify() then finds it ready."""
    _worker.prestart()


def verify(proof: str, settings: str, vk: str, srs: str, reduced_srs: bool, on_sent: Callable[[], None] = lambda: None) -> tuple[bool, str]:
    """ezkl.verify on files, in the worker: (ok, reason). Never raises for a bad proof.
    `on_sent` runs once the worker has the request, before its answer is awaited."""
    return _worker.call({"proof": proof, "settings": settings, "vk": vk, "srs": srs, "reduced_srs": reduced_srs}, on_sent)


def reproduce(request: dict[str, Any], timeout_s: float) -> tuple[bool, str]:
    """compile_circuit + setup (+ gen_witness) with untrusted settings, in a one-shot worker process
    limited to `request["memory_bytes"]`: (ok, reason). Files go where the request says."""
    try:
        done = subprocess.run(_worker_command("reproduce"), input=json.dumps(request) + "\n", capture_output=True, text=True, env=_worker_env(), timeout=timeout_s)
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
        done = subprocess.run(_worker_command("evm-verifier"), input=json.dumps(request) + "\n", capture_output=True, text=True, env=_worker_env(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False, f"generating the Solidity verifier took over {timeout_s:.0f} s"
    lines = done.stdout.splitlines()
    if not lines:  # no answer: it died while generating (an answer followed by a crash at exit still counts)
        return False, f"ezkl crashed (exit {done.returncode}) generating the Solidity verifier"
    answer = json.loads(lines[-1])
    return bool(answer["ok"]), str(answer["reason"])


if __name__ == "__main__":
    modes = {"reproduce": _reproduce_once, "evm-verifier": _evm_verifier_once}
    modes.get(sys.argv[1] if len(sys.argv) > 1 else "", _serve)()
