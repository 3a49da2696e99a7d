"""CPU per request by component (web process, statement workers, provers, gateway), read from Linux's /proc.

A node is a process tree: the web process (HTTP, fast path, coalescing), its statement workers
(`zkinfer-signer` in /proc/PID/comm: witness + signatures), its prover workers (`zkinfer-prover`, and
any process they start). On a 2-core machine the latency of a burst cannot show how a node scales,
but the CPU each component spends per request can: with N cores, the web process (one process, one
GIL) answers at most 1 / (its CPU per request) requests a second, and the statement workers share the
other cores, so the rate a node sustains is bounded by the smaller of the two (`scaled`).
"""

from __future__ import annotations

import os
from pathlib import Path

PROVER, SIGNER = "zkinfer-prover", "zkinfer-signer"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (its threads included; 0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:
            continue
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def node_components(node_pid: int) -> dict[str, list[int]]:
    """The node's processes by component: web, statement workers, provers (with what they started)."""
    groups: dict[str, list[int]] = {"web process": [node_pid], "statement workers": [], "provers": []}
    for child in _children(node_pid):
        name = _comm(child)
        if name == SIGNER:
            groups["statement workers"].append(child)
        elif name == PROVER:
            groups["provers"] += [child, *_descendants(child)]
    return groups


def _descendants(pid: int) -> list[int]:
    below = _children(pid)
    return below + [d for child in below for d in _descendants(child)]


def snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds spent so far by each component (a worker replaced meanwhile is not counted)."""
    return {name: sum(cpu_seconds(p) for p in pids) for name, pids in groups.items()}


def per_request_ms(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    return {name: 1000 * (after[name] - before.get(name, 0.0)) / max(1, requests) for name in after}


def report(
    per_request: dict[str, float],
    one_core: tuple[str, ...] = ("web process",),
    any_core: tuple[str, ...] = ("statement workers",),
) -> str:
    """The per-request CPU table and the answer rate it allows on N cores: each `one_core` component is
    one process (one GIL), so it answers at most 1 / (its CPU per request); the answer path's CPU as a
    whole (`one_core` + `any_core`) fits N cores. Components in neither (the provers, at idle
    priority on what the answers leave) are listed, not counted."""
    lines = ["CPU per request by component (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in per_request.items())]
    single = [per_request[k] for k in one_core if per_request.get(k, 0.0) > 0]
    path = sum(per_request.get(k, 0.0) for k in (*one_core, *any_core))
    if single and path > 0:
        lines.append(
            "answers/s the answer path sustains on N cores, min(1000 / max(one-process ms), 1000 N / path ms) "
            f"with {' + '.join((*one_core, *any_core))} = {path:.2f} ms:"
        )
        lines.append(
            "  " + ", ".join(f"{n} cores ~{min(1000 / max(single), 1000 * n / path):.0f}" for n in (2, 4, 8, 16, 32))
        )
    rest = [name for name in per_request if name not in (*one_core, *any_core)]
    if rest:
        lines.append("  (" + ", ".join(rest) + ": off the answer's path, not counted)")
    return "\n".join(lines)
