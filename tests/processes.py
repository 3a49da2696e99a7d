"""Which processes are alive, read from Linux's /proc (no psutil): what the leftover-process checks
(the session-end check in conftest, the gateway's SIGTERM test) look at. A zombie (exited, not yet
reaped by its parent) counts as gone: it runs nothing and holds no memory."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tests.waiting import WaitTimeout, wait_until

PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process; None when it is gone or a zombie."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    state, ppid = text.rsplit(")", 1)[1].split()[:2]  # the name, in parentheses, may hold spaces
    return None if state in ("Z", "X") else (state, int(ppid))


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def alive(pid: int) -> bool:
    return _stat(pid) is not None


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`, and theirs, and so on."""
    parents = {p: s[1] for p in _pids() if (s := _stat(p)) is not None}
    found, frontier = [], [pid]
    while frontier:
        below = [p for p, parent in parents.items() if parent in frontier]
        found += below
        frontier = below
    return found


def marked(variable: str, value: str) -> list[int]:
    """Live processes other than this one whose environment holds `variable=value` (they inherited
    it from the process that set it, however far they were reparented since)."""
    needle = f"{variable}={value}".encode()
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            environ = (PROC / str(pid) / "environ").read_bytes()
        except OSError:  # gone, or another user's
            continue
        if needle in environ.split(b"\0") and alive(pid):
            found.append(pid)
    return found


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    except OSError:
        return "(gone)"


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Wait up to `timeout_s` for these processes to exit; those still alive."""

    def still_alive() -> list[int]:
        return [p for p in pids if alive(p)]

    with contextlib.suppress(WaitTimeout):
        wait_until(lambda: not still_alive(), what=f"processes {pids} gone", timeout_s=timeout_s)
    return still_alive()
