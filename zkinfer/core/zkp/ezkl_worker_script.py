"""The worker side of `zkinfer.core.zkp.ezkl_worker`: what runs inside a worker process.

Run as a script (`python -I ezkl_worker_script.py [prove N | reproduce | evm-verifier]`), in isolated
mode, so it imports only the standard library and ezkl (never the caller's zkinfer, which may be
another version). Requests come as JSON lines on stdin, answers go as JSON lines to stdout
(`{"ok": ..., "reason": ...}`, plus the prove worker's measurements); a panic, an allocation past
the memory ceiling or a segfault ends only this process.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

MEMORY_LIMIT_BYTES = 4 << 30


def _reply(answer: dict[str, Any]) -> None:
    """One answer line to the caller, flushed (it is waiting on it)."""
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def _serve() -> None:
    """The verify worker: one JSON request per line on stdin, one JSON answer per line."""
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
        _reply({"ok": ok, "reason": reason})


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


def _reproduce_once() -> None:
    """One request: settings from the model under the receipt's run args; compile, set up, maybe a witness."""
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
    _reply(answer)


def _evm_verifier_once() -> None:
    """One request: the Solidity verifier of a (possibly untrusted) key, settings and SRS."""
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
    _reply(answer)
    # the failed download leaves ezkl's async runtime behind, and tearing the interpreter down under it
    # aborts or segfaults about one run in four (seen here): the answer is out, so leave at once
    os._exit(0)


def _prove_serve(memory_bytes: int) -> None:
    """The prove worker: one JSON request per line, one answer per line."""
    _die_with_parent()
    if memory_bytes:
        _limit_memory(memory_bytes)
    import resource
    import time

    try:
        import ezkl
    except MemoryError as exc:  # a ceiling below what importing ezkl takes
        _reply({"ok": False, "reason": f"MemoryError: importing ezkl: {exc}", "memory": True})
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
        _reply(answer)


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


if __name__ == "__main__":
    if sys.argv[1:2] == ["prove"]:
        _prove_serve(int(sys.argv[2]))
    elif sys.argv[1:] == ["reproduce"]:
        _reproduce_once()
    elif sys.argv[1:] == ["evm-verifier"]:
        _evm_verifier_once()
    else:
        _serve()
