"""How zkinfer starts an ezkl worker process and talks to it: the command (the worker script, in
isolated mode), its environment, one JSON line each way (read with a timeout, since a worker fed a
hostile receipt may hang), and a one-shot worker run for a single request."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from typing import IO, Any, AnyStr

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ezkl_worker_script.py")


def command(*args: str) -> list[str]:
    """The worker script run as a worker (isolated mode: only the standard library and ezkl)."""
    return [sys.executable, "-I", SCRIPT, *args]


def env() -> dict[str, str]:
    return {**os.environ, "RUST_BACKTRACE": "0"}  # a panic's backtrace would only be noise on stderr


def request_line(request: dict[str, Any]) -> str:
    return json.dumps(request) + "\n"


def running(
    process: subprocess.Popen[AnyStr] | None, start: Callable[[], subprocess.Popen[AnyStr]]
) -> subprocess.Popen[AnyStr]:
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


def read_line(fd: int, pending: bytearray, timeout: float) -> str | None:
    """The next line from a worker's stdout `fd`, or None if it died (end of file) or gave no line within
    `timeout` seconds. Waits in select, not on a thread per call (a thread start and two hand-overs of
    the GIL cost more than a millisecond per verify on a busy machine); `pending` keeps what was read
    past the line, for the next call."""
    deadline = time.monotonic() + timeout
    while (end := pending.find(b"\n")) < 0:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        pending += chunk
    line = bytes(pending[: end + 1])
    del pending[: end + 1]
    return line.decode(errors="replace")


def run_once(mode: str, request: dict[str, Any], timeout_s: float) -> subprocess.CompletedProcess[str] | None:
    """A one-shot worker in `mode` given `request`: the finished process (its answer is the last line
    of its stdout), or None when it ran over `timeout_s` (it is killed)."""
    try:
        return subprocess.run(
            command(mode), input=request_line(request), capture_output=True, text=True, env=env(), timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return None
