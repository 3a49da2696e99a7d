"""Run ezkl.verify (and, for the executors, ezkl.prove) in separate, memory-limited worker processes.

A receipt is untrusted input, and ezkl trusts the settings it is given: absurd values make it
divide by zero (a panic), allocate without bound (the OOM killer) or segfault. A verifier must
answer with a verdict instead, so the proof check runs in a long-lived worker (one `import ezkl`,
~0.1 s, then milliseconds per proof); if the worker dies or overruns, that receipt fails the
proof check and the next call starts a fresh worker.

Proving runs in a worker too when an executor asks for it (`ezkl_prove_worker.ProveProcess`,
re-exported here). The worker side is `ezkl_worker_script` (run as a script: only the standard library and ezkl);
how a worker is started and spoken to is `ezkl_worker_wire`.
"""

from __future__ import annotations

import atexit
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from zkinfer.core.zkp import ezkl_worker_wire as wire
from zkinfer.core.zkp.ezkl_prove_worker import ProveAnswer as ProveAnswer
from zkinfer.core.zkp.ezkl_prove_worker import ProveProcess as ProveProcess
from zkinfer.core.zkp.ezkl_worker_script import MEMORY_LIMIT_BYTES as MEMORY_LIMIT_BYTES

TIMEOUT_S = 30.0


class _Worker:
    """The long-lived verify worker: started on first use, replaced when it died or overran."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pending = bytearray()  # what was read from its stdout past the last answer line

    def _start(self) -> subprocess.Popen[bytes]:
        self._pending.clear()
        return subprocess.Popen(
            wire.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=wire.env()
        )

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def prestart(self) -> None:
        with self._lock:
            self._process = wire.running(self._process, self._start)

    def call(self, request: dict[str, Any], on_sent: Callable[[], None]) -> tuple[bool, str]:
        with self._lock:
            process = self._process = wire.running(self._process, self._start)
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(wire.request_line(request).encode())
                process.stdin.flush()
                on_sent()
                line = wire.read_line(process.stdout.fileno(), self._pending, TIMEOUT_S)
            except (BrokenPipeError, OSError):
                line = None
            if line is None:
                self._stop()
                return (
                    False,
                    f"ezkl crashed or ran over {TIMEOUT_S:.0f} s on this proof (malformed settings, key or proof)",
                )
            try:
                return wire.ok_reason(line)
            except (ValueError, KeyError, TypeError):  # not its answer line: never read a later answer as this one's
                self._stop()
                return False, f"the verify worker answered {line[:80]!r} instead of a verdict"


_worker = _Worker()
atexit.register(_worker._stop)


def stop() -> None:
    """Stop the verify worker now (it is also stopped at exit); the next verify() starts another."""
    with _worker._lock:
        _worker._stop()


def prestart() -> None:
    """Start the verify worker now, so that its start (a Python process importing ezkl, ~0.1 s) overlaps
    the caller's own work, such as the CLI importing the verifier; the first verify() then finds it ready."""
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
    done = wire.run_once("reproduce", request, timeout_s)
    if done is None:
        return False, f"compiling and setting up took over {timeout_s:.0f} s"
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines:
        return False, f"ezkl crashed (exit {done.returncode}) compiling or setting up with the receipt's settings"
    return wire.ok_reason(lines[-1])


def evm_verifier(vk: str, settings: str, srs: str, sol: str, abi: str, timeout_s: float = 300.0) -> tuple[bool, str]:
    """ezkl.create_evm_verifier in a one-shot, memory-limited worker (the key and settings may come
    from an untrusted receipt): (ok, reason). The .sol is at `sol` when ok."""
    request = {"vk": vk, "settings": settings, "srs": srs, "sol": sol, "abi": abi}
    done = wire.run_once("evm-verifier", request, timeout_s)
    if done is None:
        return False, f"generating the Solidity verifier took over {timeout_s:.0f} s"
    lines = done.stdout.splitlines()
    if not lines:  # no answer: it died generating (an answer followed by a crash at exit still counts)
        return False, f"ezkl crashed (exit {done.returncode}) generating the Solidity verifier"
    return wire.ok_reason(lines[-1])
