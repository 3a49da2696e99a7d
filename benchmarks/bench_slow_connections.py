"""Slow-header and slow-body connections against a real proving node (the security review's issue 8).

The review: "10k slow-header plus 10k slow-body connections exhaust the node's file descriptors;
legitimate requests are reset and the node stays unresponsive >= 30 s after release". This script
replays that attack on loopback and measures what a legitimate client sees:
1. compiles the tiny test MLP (tests/tiny.py) in a temporary folder with its own $ZKINFER_HOME and
   starts `python -m zkinfer serve` on it (tests/node_harness.py, an API key), with the node's
   default connection limits unless --header-timeout/--body-timeout/--max-connections are given;
2. raises this process's soft RLIMIT_NOFILE to the hard limit and opens --slow-header connections
   (a request line and headers that never end: one more header byte every --trickle-s seconds) and
   --slow-body connections (complete headers with the API key and Content-Length 1,000,000, just
   under the node's 1 MiB body cap, then one body byte every --trickle-s seconds), interleaved,
   from one asyncio loop (open_connection), at most --connect-concurrency connects in flight;
   the counts are capped to what this process's descriptor limit allows;
3. from the start of the opening to the end of the --hold period, sends one legitimate infer
   request (httpx, a fresh connection each) every --interval seconds from a second process (so the
   attacker's loop does not hold its GIL), and records status codes and latencies; counts the attacking
   connections the node closed itself
   (classified by their age: younger than the node's deadline = evicted at the cap, else deadline);
4. releases (aborts) every attacking connection still open, then probes back to back until the
   first 200 (time to first success) and keeps probing for --after seconds;
5. samples /proc/<node pid>/fd throughout and prints a summary table, including the number of
   tracebacks in the node's log.

Run from the repository root: `python -m benchmarks.bench_slow_connections` (about 2 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
OWN_FDS = 256  # descriptors this process keeps for itself: legitimate requests, the node's log, imports
SLOW_BODY_LENGTH = 1_000_000  # declared Content-Length: under the node's 1 MiB cap, so it waits for the body
KINDS = ("slow-header", "slow-body")
TIMELINE_S = 10.0  # the timeline's step


@dataclass(frozen=True)
class Probe:
    phase: str  # "attack" (opening + hold) or "after" (after the release)
    sent_at: float  # seconds since the attack started
    status: int  # 0: no HTTP answer
    seconds: float
    error: str = ""


@dataclass
class AttackStats:
    opened: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    failed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    failure_kinds: dict[str, int] = field(default_factory=dict)
    # closed by the node: younger than its deadline (only the cap closes those), or older (the deadline, or
    # the cap: the node's clock starts at accept(), which may come after the client's connect completed)
    evicted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    expired: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    answered: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(KINDS, 0)
    )  # the node sent bytes (an error answer)
    live: dict[asyncio.StreamWriter, str] = field(default_factory=dict)
    released: bool = False
    opening_s: float = 0.0
    opening_end: float = 0.0  # seconds from the attack's start to the last connection opened
    timeline: list[tuple[float, int, int, int]] = field(
        default_factory=list
    )  # (t, opened, still open (client's view), node fds)

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())


@dataclass
class FdSampler:
    """Counts /proc/<pid>/fd every `period` seconds in a thread; keeps the peak and when it happened."""

    pid: int
    period: float = 0.2
    peak: int = 0
    peak_at: float = 0.0  # time.monotonic() of the peak
    last: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def count(self) -> int:
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return -1

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.last = self.count()
            if self.last > self.peak:
                self.peak, self.peak_at = self.last, time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def build_circuits(folder: Path) -> Path:
    """The tiny MLP compiled (no search) with its keys, in a --circuits folder, as the node tests serve it."""
    from tests import tiny
    from tests.node_harness import copy_circuits
    from zkinfer import compile_model
    from zkinfer.prover.keys import ensure

    source = folder / "tiny"
    source.mkdir()
    start = time.perf_counter()
    circuit = compile_model(
        tiny.mlp(source / "model.onnx"),
        tiny.samples(source / "calibration.json", n=16, size=8),
        source / "circuit",
        search=False,
    )
    ensure(circuit)
    print(
        f"compiled the tiny MLP and set up its keys in {time.perf_counter() - start:.0f} s "
        "(not part of the measurement)"
    )
    return copy_circuits(circuit.path, folder / "circuits")


def raise_own_fd_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE to the hard limit; (soft, hard) afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (its own threads, not its children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def node_fd_limit(pid: int) -> int:
    """The node's soft RLIMIT_NOFILE, from /proc (the node raises its own at start)."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    return -1


def infer_body() -> bytes:
    from tests.node_harness import SAMPLE

    return json.dumps(
        {"inputs": [{"name": "input", "shape": [1, len(SAMPLE)], "datatype": "FP32", "data": SAMPLE}]}
    ).encode()


def legit(url: str, phase: str, t0: float, timeout_s: float) -> Probe:
    """One legitimate infer request on a fresh connection, as a new client would send it."""
    from tests.node_harness import API_KEY, MODEL

    sent = time.monotonic()
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    try:
        response = httpx.post(
            f"{url}/v2/models/{MODEL}/infer", content=infer_body(), headers=headers, timeout=timeout_s
        )
        return Probe(phase, sent - t0, response.status_code, time.monotonic() - sent)
    except httpx.HTTPError as exc:
        return Probe(phase, sent - t0, 0, time.monotonic() - sent, type(exc).__name__)


def attack_requests() -> dict[str, tuple[bytes, bytes]]:
    """Per kind: the first bytes sent, and the byte trickled after them."""
    from tests.node_harness import API_KEY, MODEL

    request_line = (
        f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: node\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
    )
    return {
        "slow-header": ((request_line + "X-Slow: ").encode(), b"a"),  # the header block never ends
        "slow-body": ((request_line + f"Content-Length: {SLOW_BODY_LENGTH}\r\n\r\n").encode() + b'{"inputs": [', b" "),
    }


async def hold_one(
    host: str,
    port: int,
    kind: str,
    first: bytes,
    gate: asyncio.Semaphore,
    stats: AttackStats,
    deadline_s: float,
    connect_timeout_s: float,
) -> None:
    """Open one attacking connection, send its first bytes, and wait until either side closes it."""
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_timeout_s)
        except (TimeoutError, OSError) as exc:
            stats.failed[kind] += 1
            name = type(exc).__name__
            stats.failure_kinds[name] = stats.failure_kinds.get(name, 0) + 1
            return
    opened = time.monotonic()
    stats.opened[kind] += 1
    stats.live[writer] = kind
    writer.write(first)
    answered = False
    try:
        while await reader.read(65536):
            answered = True
    except OSError:
        pass
    stats.answered[kind] += answered
    stats.live.pop(writer, None)
    if not stats.released:  # closed by the node: before its deadline only the cap can have done it
        (stats.expired if time.monotonic() - opened >= deadline_s - 0.5 else stats.evicted)[kind] += 1
    writer.transport.abort()


async def trickle(stats: AttackStats, payload: dict[str, bytes], every_s: float) -> None:
    """One byte to every open attacking connection every `every_s` seconds (the 'byte every few seconds')."""
    while True:
        await asyncio.sleep(every_s)
        for i, (writer, kind) in enumerate(list(stats.live.items())):
            if not writer.transport.is_closing():
                writer.write(payload[kind])
            if i % 1000 == 999:
                await asyncio.sleep(0)  # let the readers run between batches


async def monitor(stats: AttackStats, t0: float, node_fds: Callable[[], int], every_s: float) -> None:
    while True:
        stats.timeline.append((time.monotonic() - t0, sum(stats.opened.values()), len(stats.live), node_fds()))
        await asyncio.sleep(every_s)


async def attack(
    url: str,
    counts: dict[str, int],
    args: argparse.Namespace,
    deadlines: dict[str, float],
    t0: float,
    stats: AttackStats,
    node_fds: Callable[[], int],
) -> None:
    """Open the slow connections (interleaved), hold them for args.hold seconds, then abort those still open."""
    host, port = url.removeprefix("http://").split(":")
    requests = attack_requests()
    gate = asyncio.Semaphore(args.connect_concurrency)
    kinds = [k for i in range(max(counts.values())) for k in KINDS if i < counts[k]]
    tasks = [
        asyncio.create_task(
            hold_one(host, int(port), k, requests[k][0], gate, stats, deadlines[k], args.connect_timeout)
        )
        for k in kinds
    ]
    trickler = asyncio.create_task(trickle(stats, {k: requests[k][1] for k in KINDS}, args.trickle_s))
    watcher = asyncio.create_task(monitor(stats, t0, node_fds, TIMELINE_S))
    opening = time.monotonic()
    while sum(stats.opened.values()) + stats.failed_total < len(tasks):
        await asyncio.sleep(0.05)
    stats.opening_s = time.monotonic() - opening
    stats.opening_end = time.monotonic() - t0
    print(
        f"[{time.monotonic() - t0:5.1f} s] opened {stats.opened['slow-header']} slow-header + "
        f"{stats.opened['slow-body']} slow-body in {stats.opening_s:.1f} s "
        f"({stats.failed_total} failed to connect); {len(stats.live)} still open; holding {args.hold:.0f} s"
    )
    await asyncio.sleep(args.hold)
    stats.released = True
    trickler.cancel()
    watcher.cancel()
    print(f"[{time.monotonic() - t0:5.1f} s] releasing {len(stats.live)} attacking connection(s) still open")
    for writer in list(stats.live):
        writer.transport.abort()
    await asyncio.gather(*tasks, return_exceptions=True)


def probe_process(
    url: str, t0: float, interval: float, timeout_s: float, stop: EventType, out: Queue[list[Probe]]
) -> None:
    """In a process of its own (so the attacker's loop does not hold its GIL): a legitimate request every
    `interval` seconds until `stop`, each on its own thread so that one slow answer does not delay the next."""
    with ThreadPoolExecutor(max_workers=64) as executor:
        futures = []
        while not stop.is_set():
            futures.append(executor.submit(legit, url, "attack", t0, timeout_s))
            stop.wait(interval)
        out.put([f.result() for f in futures])


def after_release(
    url: str, t0: float, released_at: float, args: argparse.Namespace
) -> tuple[float | None, list[Probe]]:
    """Probe back to back until the first 200 (at most args.recovery_limit s),
    then every args.interval for args.after s."""
    probes: list[Probe] = []
    first_ok: float | None = None
    while time.monotonic() - released_at < args.recovery_limit:
        probe = legit(url, "after", t0, args.request_timeout)
        probes.append(probe)
        if probe.status == 200:
            first_ok = time.monotonic() - released_at
            break
        time.sleep(0.05)
    end = time.monotonic() + args.after
    while time.monotonic() < end:
        probes.append(legit(url, "after", t0, args.request_timeout))
        time.sleep(args.interval)
    return first_ok, probes


def describe(probes: list[Probe]) -> str:
    ok = [p.seconds * 1000 for p in probes if p.status == 200]
    failed = [p for p in probes if p.status != 200]
    kinds: dict[str, int] = {}
    for p in failed:
        key = p.error or f"HTTP {p.status}"
        kinds[key] = kinds.get(key, 0) + 1
    latency = f"p50 {statistics.median(ok):.0f} ms, max {max(ok):.0f} ms" if ok else "no 200"
    detail = f" ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})" if kinds else ""
    return f"{len(probes)} sent / {len(ok)} 200 / {len(failed)} failed{detail}; {latency}"


def main() -> int:
    from zkinfer.node.config import NodeConfig, cpu_count

    defaults = NodeConfig(circuits=Path("."), state_dir=Path("."))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--slow-header", type=int, default=10_000, help="slow-header connections (capped by this process's fd limit)"
    )
    parser.add_argument(
        "--slow-body", type=int, default=10_000, help="slow-body connections (capped by this process's fd limit)"
    )
    parser.add_argument(
        "--hold", type=float, default=40.0, help="seconds the connections are held after the last one opened"
    )
    parser.add_argument(
        "--trickle-s",
        type=float,
        default=5.0,
        help="one more byte on each attacking connection every this many seconds",
    )
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between legitimate requests")
    parser.add_argument(
        "--after", type=float, default=5.0, help="seconds of probing after the first success after the release"
    )
    parser.add_argument(
        "--recovery-limit", type=float, default=60.0, help="longest wait for the first success after the release"
    )
    parser.add_argument("--request-timeout", type=float, default=10.0, help="httpx timeout of one legitimate request")
    parser.add_argument("--connect-concurrency", type=int, default=256, help="attacking connects in flight at once")
    parser.add_argument("--connect-timeout", type=float, default=15.0)
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=None,
        help=f"node option (default: the node's, {defaults.header_timeout_s:g} s)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=None,
        help=f"node option (default: the node's, {defaults.body_timeout_s:g} s)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=None,
        help=f"node option (default: the node's, {defaults.max_connections})",
    )
    args = parser.parse_args()

    from tests.node_harness import start_node

    soft, hard = raise_own_fd_limit()
    room = max(0, soft - OWN_FDS)
    wanted = {"slow-header": args.slow_header, "slow-body": args.slow_body}
    scale = min(1.0, room / max(1, sum(wanted.values())))
    counts = {k: int(n * scale) for k, n in wanted.items()}
    print(
        f"this process: RLIMIT_NOFILE soft {soft} (hard {hard}), {OWN_FDS} kept for itself -> "
        f"{counts['slow-header']} slow-header + {counts['slow-body']} slow-body connections "
        f"(asked for {wanted['slow-header']} + {wanted['slow-body']})"
    )

    node_options: list[str] = []
    for option, value in (
        ("--header-timeout", args.header_timeout),
        ("--body-timeout", args.body_timeout),
        ("--max-connections", args.max_connections),
    ):
        if value is not None:
            node_options += [option, str(value)]
    header_s = args.header_timeout if args.header_timeout is not None else defaults.header_timeout_s
    body_s = args.body_timeout if args.body_timeout is not None else defaults.body_timeout_s
    cap = args.max_connections if args.max_connections is not None else defaults.max_connections
    deadlines = {
        "slow-header": header_s,
        "slow-body": body_s,
    }  # slow-body headers arrive at once, so its body deadline is ~from the opening

    with tempfile.TemporaryDirectory(prefix="zkinfer-bench-slow-") as tmp:
        folder = Path(tmp)
        os.environ["ZKINFER_HOME"] = str(folder / "home")
        circuits = build_circuits(folder)
        load = os.getloadavg()
        node = start_node(circuits, folder / "state", *node_options)
        sampler = FdSampler(node.process.pid)
        try:
            node_limit = node_fd_limit(node.process.pid)
            baseline_fds = sampler.count()
            warm = legit(node.url, "warm-up", time.monotonic(), args.request_timeout)
            print(
                f"node pid {node.process.pid}: RLIMIT_NOFILE {node_limit}, {baseline_fds} fds open at rest; "
                f"warm-up request: HTTP {warm.status} in {warm.seconds * 1000:.0f} ms"
            )

            stats = AttackStats()
            spawn = multiprocessing.get_context("spawn")
            stop, results = spawn.Event(), spawn.Queue()
            t0 = time.monotonic()  # CLOCK_MONOTONIC: the same clock in the prober process
            prober = spawn.Process(
                target=probe_process,
                args=(node.url, t0, args.interval, args.request_timeout, stop, results),
                daemon=True,
            )
            prober.start()
            node_cpu, own_cpu = process_cpu_s(node.process.pid), own_cpu_s()
            asyncio.run(attack(node.url, counts, args, deadlines, t0, stats, lambda: sampler.last))
            released_at = time.monotonic()
            node_cpu, own_cpu = process_cpu_s(node.process.pid) - node_cpu, own_cpu_s() - own_cpu
            stop.set()
            fds_at_release = sampler.count()
            first_ok, after = after_release(node.url, t0, released_at, args)
            during: list[Probe] = results.get()
            prober.join()
            fds_end = sampler.count()
            alive = node.process.poll() is None
        finally:
            sampler.stop()
            node.stop()
        log = node.log.read_text(errors="replace")

    closed = {k: stats.evicted[k] + stats.expired[k] for k in KINDS}
    opening_end = stats.opening_end
    tracebacks = log.count("Traceback")
    rows = [
        (
            "machine",
            f"{cpu_count()} cores (attacker, legitimate client and node share them), Python {sys.version.split()[0]}",
        ),
        (
            "attacking connections opened",
            f"{stats.opened['slow-header']} slow-header + {stats.opened['slow-body']} slow-body "
            f"(asked {wanted['slow-header']} + {wanted['slow-body']}; "
            f"capped to {counts['slow-header']} + {counts['slow-body']} by this process's fd limit {soft}); "
            f"{stats.failed_total} failed to connect{f' {stats.failure_kinds}' if stats.failed_total else ''}; "
            f"opening took {stats.opening_s:.1f} s",
        ),
        (
            "node limits",
            f"--max-connections {cap}, --header-timeout {header_s:g} s, --body-timeout {body_s:g} s "
            f"({'the node defaults' if not node_options else 'given: ' + ' '.join(node_options)})",
        ),
        (
            "held",
            f"{args.hold:g} s after the last connection opened, one byte per connection every {args.trickle_s:g} s",
        ),
        (
            "closed by the node during the attack",
            f"{closed['slow-header']} slow-header + {closed['slow-body']} slow-body; "
            f"by age at close: {stats.evicted['slow-header']} + {stats.evicted['slow-body']} "
            "younger than the deadline (cap eviction), "
            f"{stats.expired['slow-header']} + {stats.expired['slow-body']} older (deadline or cap)",
        ),
        ("still open at release", f"{sum(stats.opened.values()) - sum(closed.values())}"),
        (
            "attacking connections the node answered",
            f"{stats.answered['slow-header']} slow-header + {stats.answered['slow-body']} slow-body",
        ),
        (
            "CPU during opening + hold",
            f"node {node_cpu:.1f} s, attacker {own_cpu:.1f} s, over {released_at - t0:.1f} s; "
            f"load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} at the end",
        ),
        ("legitimate requests during the attack", f"every {args.interval:g} s: {describe(during)}"),
        (
            "  of which while opening",
            describe([p for p in during if p.sent_at < opening_end])
            if any(p.sent_at < opening_end for p in during)
            else "none",
        ),
        (
            "  of which while holding",
            describe([p for p in during if p.sent_at >= opening_end])
            if any(p.sent_at >= opening_end for p in during)
            else "none",
        ),
        (
            "time to first success after release",
            f"{first_ok:.2f} s" if first_ok is not None else f"none within {args.recovery_limit:g} s",
        ),
        ("legitimate requests after release", describe(after) if after else "none"),
        (
            "node fds",
            f"peak {sampler.peak} ({sampler.peak_at - t0:+.1f} s from the attack's start) of limit {node_limit}; "
            f"at rest {baseline_fds}, at release {fds_at_release}, at the end {fds_end}",
        ),
        ("node process", "alive at the end" if alive else f"EXITED with {node.process.returncode}"),
        (
            "node log",
            f"{tracebacks} traceback(s), {log.count(' ERROR ')} ERROR line(s), "
            f"{log.count(' WARNING ')} WARNING line(s), {log.count('went away')} 'went away' line(s)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    print("\n" + "\n".join(f"{name:<{width}}  {value}" for name, value in rows))
    if tracebacks:
        at = log.index("Traceback")
        print("\nfirst traceback in the node log:\n" + log[at : at + 3000])
    print(f"\ntimeline (every {TIMELINE_S:g} s; legitimate requests counted by when they were sent):")
    print(f"  {'t s':>6} {'opened':>7} {'open (client)':>13} {'node fds':>8}   legitimate: 200 / failed / max latency")
    for i, (t, opened, still_open, fds) in enumerate(stats.timeline):
        end = stats.timeline[i + 1][0] if i + 1 < len(stats.timeline) else released_at - t0
        window = [p for p in during if t <= p.sent_at < end]
        worst = f"{max(p.seconds for p in window):.1f} s" if window else "-"
        print(
            f"  {t:6.1f} {opened:7d} {still_open:13d} {fds:8d}   "
            f"{sum(p.status == 200 for p in window):3d} / {sum(p.status != 200 for p in window):3d} / {worst}"
        )
    failing = [p for p in during + after if p.status != 200]
    if failing:
        print("\nfailed legitimate requests (seconds since the attack started: status/error, seconds):")
        print(
            "  " + "; ".join(f"{p.phase} {p.sent_at:.1f}: {p.error or p.status} {p.seconds:.2f}" for p in failing[:40])
        )
    ok = not failing and first_ok is not None and not tracebacks and alive
    print(
        "\nverdict: "
        + (
            "every legitimate request was served, the node recovered at once, no tracebacks"
            if ok
            else "PROBLEMS (see above)"
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
