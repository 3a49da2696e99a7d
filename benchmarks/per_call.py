"""Per-call overhead of zkinfer's witness and verify against the same ezkl call made raw (issue 21).

A witness (~8 ms for the digits MLP) and a verify (~7 ms) are short enough that one scheduler hiccup
on a shared machine decides a ratio taken over a handful of calls. So the calls run in blocks: each
block makes CALLS calls of every side, the sides' order alternating from block to block, and a
block's ratio is zkinfer's mean over raw ezkl's mean in that block. The goal is judged on the median
block ratio; the spread over blocks (quartiles, min-max) says how far to trust it.

Sides:
- witness, raw: `ezkl.gen_witness(input file, compiled circuit, a fresh witness file)`;
- witness, zkinfer: `ezkl_adapter.gen_witness` (what `Prover.prove` and the fidelity check call: ezkl's
  console output hidden, the witness read back); and `Prover.witness(sample)` (what a node's statement
  runs: the input written as ezkl's JSON, the witness, read back). Every side writes its witness to a
  fresh file in zkinfer's in-memory scratch directory and removes it, so all pay the same file costs.
- verify, raw: `ezkl.verify(proof, settings, vk, SRS file)` on the raw pipeline's files;
- verify, zkinfer: `verify_file(receipt)`: read and parse the receipt, ezkl.verify in the isolated,
  memory-limited worker process (hostile receipts), the binding and digest checks beside it.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WITNESS_GOAL = 1.1
VERIFY_GOAL = 1.2


@dataclass(frozen=True)
class Ratio:
    """One comparison over blocks: the sides' median per-call times and the block ratios."""

    label: str
    raw_ms: float
    zk_ms: float
    raw_cpu_ms: float
    zk_cpu_ms: float
    cpu_ratio: float  # zkinfer's CPU over raw's, summed over all blocks
    ratios: list[float]
    goal: float | None

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def row(self) -> str:
        q1, _, q3 = statistics.quantiles(self.ratios, n=4) if len(self.ratios) > 1 else [self.median] * 3
        verdict = ""
        if self.goal is not None:
            verdict = (
                f"≤ {self.goal}x: wall {'met' if self.median <= self.goal else 'not met'}, "
                f"CPU {'met' if self.cpu_ratio <= self.goal else 'not met'}"
            )
        return (
            f"| {self.label} | {self.raw_ms:.2f} | {self.zk_ms:.2f} | **{self.median:.3f}x** "
            f"| {q1:.3f}–{q3:.3f} | {min(self.ratios):.3f}–{max(self.ratios):.3f} "
            f"| {self.raw_cpu_ms:.2f} / {self.zk_cpu_ms:.2f} | {self.cpu_ratio:.3f}x | {verdict} |"
        )


def _children_cpu_s() -> float:
    """CPU seconds of this process's live children (the verify worker), from /proc (Linux; else 0): its CPU
    counts too, or the isolated verify would look cheaper than it is. Clock ticks (10 ms): summed over
    all blocks, not per block."""
    total, me, tick = 0.0, str(os.getpid()), os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return 0.0
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid; then utime and stime are fields 14 and 15 of the line (11, 12 here)
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time() + _children_cpu_s()


def _block(action: Callable[[], object], calls: int) -> tuple[float, float]:
    """Mean wall and CPU milliseconds per call over `calls` calls (CPU: this process and its workers)."""
    wall, cpu = _now()
    for _ in range(calls):
        action()
    wall2, cpu2 = _now()
    return (wall2 - wall) * 1000 / calls, (cpu2 - cpu) * 1000 / calls


def compare(
    sides: dict[str, Callable[[], object]], raw: str, blocks: int, calls: int
) -> dict[str, list[tuple[float, float]]]:
    """Each side's (wall ms, CPU ms) per call, one entry per block; sides interleaved, order alternating."""
    for action in sides.values():  # warm: the worker started, files cached by the OS
        action()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    names = list(sides)
    for b in range(blocks):
        for name in names if b % 2 == 0 else list(reversed(names)):
            times[name].append(_block(sides[name], calls))
    assert raw in times
    return times


def ratio(times: dict[str, list[tuple[float, float]]], raw: str, zk: str, label: str, goal: float | None) -> Ratio:
    pairs = list(zip(times[raw], times[zk], strict=True))
    raw_cpu, zk_cpu = sum(r[1] for r, _ in pairs), sum(z[1] for _, z in pairs)
    return Ratio(
        label,
        statistics.median(r[0] for r, _ in pairs),
        statistics.median(z[0] for _, z in pairs),
        raw_cpu / len(pairs),
        zk_cpu / len(pairs),
        zk_cpu / raw_cpu,
        [z[0] / r[0] for r, z in pairs],
        goal,
    )


def run(
    compiled: Path,
    input_file: Path,
    sample: Any,
    prover: Any,
    raw_verify_files: tuple[Path, Path, Path, Path],
    receipt: Path,
    blocks: int,
    calls: int,
) -> list[Ratio]:
    """The witness and verify comparisons; `raw_verify_files` is (proof, settings, vk, SRS)."""
    import ezkl

    from zkinfer import verify_file
    from zkinfer.core.support import scratch
    from zkinfer.core.zkp import ezkl_adapter

    def raw_witness() -> None:
        with scratch.files("witness.json") as (out,):
            ezkl.gen_witness(str(input_file), str(compiled), str(out), None, None)

    def adapter_witness() -> None:
        with scratch.files("witness.json") as (out,):
            ezkl_adapter.gen_witness(input_file, compiled, out)

    sides = {"raw": raw_witness, "adapter": adapter_witness, "statement": lambda: prover.witness(sample)}
    witness = compare(sides, "raw", blocks, calls)
    proof, settings, vk, srs = (str(p) for p in raw_verify_files)

    def raw_verify() -> None:
        assert ezkl.verify(proof, settings, vk, srs, False)

    def zk_verify() -> None:
        assert verify_file(receipt).verified

    verify = compare({"raw": raw_verify, "zk": zk_verify}, "raw", blocks, calls)
    return [
        ratio(witness, "raw", "adapter", "witness: `ezkl_adapter.gen_witness` vs raw", WITNESS_GOAL),
        ratio(witness, "raw", "statement", "witness: `Prover.witness` (a node's statement) vs raw", WITNESS_GOAL),
        ratio(verify, "raw", "zk", "`verify_file` vs raw `ezkl.verify`", VERIFY_GOAL),
    ]


def report(ratios: list[Ratio], blocks: int, calls: int, load: tuple[float, float, float]) -> None:
    print(
        f"\n### Per call, {blocks} interleaved blocks of {calls} calls per side "
        f"(load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})\n"
    )
    print(
        "| comparison | raw wall ms | zkinfer wall ms | median block ratio (wall) | IQR | min–max "
        "| CPU ms raw / zkinfer | CPU ratio | goal |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in ratios:
        print(r.row())
    print(
        "\nwall ms: medians over blocks of the mean per call; wall ratios per block (zkinfer's mean over raw's in the "
        "same block).\nCPU: this process and its verify worker (/proc), summed over all blocks: what the machine "
        "spends per call,\nwhich neighbours move far less than wall time. The goal is the wall ratio on a quiet "
        "machine; under load\nthe verify's two process hand-overs (to the worker and back) each wait for a core."
    )
