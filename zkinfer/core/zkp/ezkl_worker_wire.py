"""How zkinfer starts an ezkl worker process and talks to it: the command (the worker script, in
isolated mode), its environment, one JSON line each way (read with a timeout, since a worker fed a
hostile receipt may hang), and a one-shot worker run for a single request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ezkl_worker_script.py")


def command(*args: str) -> list[str]:
    """The worker script run as a worker (isolated mode: only the standard library and ezkl)."""
    return [sys.executable, "-I", SCRIPT, *args]


def env() -> dict[str, str]:
    return {**os.environ, "RUST_BACKTRACE": "0"}  # a panic's backtrace would only be noise on stderr


def request_line(request: dict[str, Any]) -> str:
    return json.dumps(request) + "\n"


def running(process: subprocess.Popen[str] | None, start: Callable[[], subprocess.Popen[str]]) -> subprocess.Popen[str]:
    """`process` while it runs, else a fresh worker from `start` (one that died is replaced)."""
    return process if process is not None and process.poll() is None else start()


def send(process: subprocess.Popen[str], request: dict[str, Any]) -> IO[str]:
    """Write one request line to a worker; its stdout, where the answer line will come."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(request_line(request))
    process.stdin.flush()
    return process.stdout


def ok_reason(line: str) -> tuple[bool, str]:
    """A worker's (ok, reason) answer line."""
    answer = json.loads(line)
    return bool(answer["ok"]), str(answer["reason"])


def readline(stream: IO[str], timeout: float) -> str | None:
    """A line from the worker, or None if it died or did not answer in time."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive() or not result or not result[0]:
        return None
    return result[0]


def run_once(mode: str, request: dict[str, Any], timeout_s: float) -> subprocess.CompletedProcess[str] | None:
    """A one-shot worker in `mode` given `request`: the finished process (its answer is the last line
    of its stdout), or None when it ran over `timeout_s` (it is killed)."""
    try:
        return subprocess.run(
            command(mode), input=request_line(request), capture_output=True, text=True, env=env(), timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return None
