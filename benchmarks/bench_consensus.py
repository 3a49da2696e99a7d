"""Consensus latency: a burst of requests through `zkinfer gateway` over 3 and 5 real nodes, while they prove.

For each node count N it starts N `zkinfer serve` nodes on the bundled digits MLP (one shared key
cache, one prover worker each) and a `zkinfer gateway` over them, on this machine's loopback. Then:
1. one node alone: REQUESTS fast answers straight from node 0 (the baseline), CONCURRENCY in flight;
   each answer queues a proof, so the node is proving for the rest of the run;
2. the same burst through the gateway, with tritonclient's asyncio client (an unmodified KServe
   client), timing each consensus answer (quorum: majority, statements must be identical);
3. checks: every answer HTTP 200, and a sample of certificates valid against the pinned nodes.toml.
Prints p50/p99 for both, the ratio of the gateway's p50 to one node's, where the time goes, the CPU
each component spent per consensus answer (the gateway; every node's web process, statement workers
and provers: `components`) with the rate that allows on N cores, and the goals with met / not met
(3 nodes, 1 in flight: p99 <= 100 ms, the gateway's own share p50 <= 5 ms; gateway p50 <= 1.3x one
node's p50).

Every node computes the witness (the statement it signs) for every request, so on one machine the
N nodes share its cores: the numbers are for N nodes on 2 cores, a worst case for the gateway.

Run from the repository root: `python -m benchmarks.bench_consensus [--nodes 3 5] [--requests 500]`
(a few minutes on 2 cores; `--quick`, the goals' setting only, about 30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODEL = "digits_mlp"
GOAL_P99_MS = 100.0  # a consensus answer, 3 nodes, 1 in flight
GOAL_OWN_P50_MS = 5.0  # the gateway's own share of it


@dataclass(frozen=True)
class Answer:
    status: int
    ms: float
    parameters: dict[str, Any]
    error: str = ""


async def burst(url: str, auth: dict[str, str], inputs: list[np.ndarray], concurrency: int) -> list[Answer]:
    """Send every input with tritonclient's asyncio client, at most `concurrency` in flight."""
    import tritonclient.http as http
    import tritonclient.http.aio as aio
    from tritonclient.utils import InferenceServerException

    client = aio.InferenceServerClient(url.removeprefix("http://"), conn_limit=concurrency)
    gate = asyncio.Semaphore(concurrency)

    async def one(values: np.ndarray) -> Answer:
        tensor = http.InferInput("input", [1, values.size], "FP32")
        tensor.set_data_from_numpy(values.reshape(1, -1).astype(np.float32))
        async with gate:
            start = time.perf_counter()
            try:
                result = await client.infer(MODEL, [tensor], headers=dict(auth))
            except InferenceServerException as exc:
                return Answer(int(exc.status() or 0), (time.perf_counter() - start) * 1000, {}, str(exc)[:300])
            except (
                TimeoutError,
                OSError,
            ) as exc:  # the client's own timeout or a dropped connection: a failed request, not a failed run
                return Answer(0, (time.perf_counter() - start) * 1000, {}, f"{type(exc).__name__}: {exc}"[:300])
            ms = (time.perf_counter() - start) * 1000
        return Answer(200, ms, dict(result.get_response().get("parameters") or {}))

    try:
        return list(await asyncio.gather(*(one(v) for v in inputs)))
    finally:
        await client.close()


def percentiles(answers: list[Answer]) -> tuple[float, float]:
    ms = [a.ms for a in answers if a.status == 200]
    return (float(np.percentile(ms, 50)), float(np.percentile(ms, 99))) if ms else (float("nan"), float("nan"))


def _pick(xs: list[float]) -> tuple[float, float]:
    return (float(np.percentile(xs, 50)), float(np.percentile(xs, 99))) if xs else (float("nan"), float("nan"))


def breakdown(answers: list[Answer]) -> tuple[tuple[float, float], ...]:
    """(p50, p99) of the wait for the quorum's slowest signer (its HTTP answer, as the gateway timed it)
    and of the rest of each answer's time: the gateway's own share (fan-out, checks, certificate,
    records, encoding) and the client's HTTP round trip to it. Splits "the nodes are slow on these
    cores" from "the gateway adds". The own share is split again at the decision: checking the
    last signer's answer (decided - its arrival), and the rest (HTTP in and out, certificate, records)."""
    waits, rest, last_check, around = [], [], [], []
    for a in answers:
        timed = a.parameters.get("zkinfer_latency_ms") or {}
        signers = [timed[name] for name in a.parameters.get("zkinfer_signers") or [] if name in timed]
        if a.status == 200 and signers:
            waits.append(max(signers))
            rest.append(a.ms - max(signers))
            if "decided" in timed:
                last_check.append(timed["decided"] - max(signers))
                around.append(a.ms - timed["decided"])
    return _pick(waits), _pick(rest), _pick(last_check), _pick(around)


def check_certificates(answers: list[Answer], nodes_toml: Path, sample: int = 20) -> tuple[int, int]:
    """(valid, checked) over up to `sample` certificates, against the pinned node set."""
    from zkinfer.network import certificate, nodeset
    from zkinfer.verify import certificate_check

    pinned = nodeset.load(nodes_toml)
    certs = [
        a.parameters["zkinfer_certificate"]
        for a in answers
        if a.status == 200 and "zkinfer_certificate" in a.parameters
    ][:sample]
    valid = sum(certificate_check.check(certificate.Certificate.from_json(c), pinned).verified for c in certs)
    return valid, len(certs)


def run(n_nodes: int, requests: int, levels: list[int], folder: Path, node_options: list[str]) -> list[dict[str, Any]]:
    """One row per concurrency level: one node's burst, then the gateway's, on the same running nodes."""
    from benchmarks import components
    from tests.gateway_harness import node_entry, pinned_toml, start_gateway
    from tests.node_harness import start_node
    from zkinfer.core.formats import circuit
    from zkinfer.prover.keys import ensure

    circuits = folder / "circuits"
    shutil.copytree(REPO / "circuits" / MODEL, circuits / MODEL)
    # One key setup (one SRS) shared by every node, as a network shares one published circuit: nodes
    # set up with different SRSs have different verifying keys, so their statements never agree.
    ensure(circuit.load(circuits / MODEL))
    with ThreadPoolExecutor(n_nodes) as pool:
        nodes = list(
            pool.map(
                lambda i: start_node(
                    circuits,
                    folder / f"node{i}",
                    "--max-queue",
                    str(10 * requests * len(levels) + 100),
                    *node_options,
                    statement_workers=None,  # the node's default (one per core)
                ),
                range(n_nodes),
            )
        )
    gateway = None
    rows = []
    try:
        names = [f"node{i}" for i in range(n_nodes)]
        toml = pinned_toml([node_entry(name, node) for name, node in zip(names, nodes, strict=True)], timeout_ms=5_000)
        gateway = start_gateway(folder / "gateway", toml)
        from models.digits import load_split

        _, x_test, _, _ = load_split()
        rng = np.random.default_rng(n_nodes)
        pick = lambda: [x_test[i] for i in rng.integers(0, len(x_test), requests)]  # noqa: E731
        asyncio.run(burst(nodes[0].url, nodes[0].auth, pick()[:8], 4))  # warm-up: connections, first witness
        asyncio.run(burst(gateway.url, gateway.auth, pick()[:8], 4))
        for concurrency in levels:
            single = asyncio.run(burst(nodes[0].url, nodes[0].auth, pick(), concurrency))
            groups = {"gateway": [gateway.process.pid]}
            for node in nodes:  # every node's components, summed: CPU per consensus answer
                for name, pids in components.node_components(node.process.pid).items():
                    groups.setdefault(f"nodes' {name}", []).extend(pids)
            cpu = components.snapshot(groups)
            start = time.monotonic()
            through = asyncio.run(burst(gateway.url, gateway.auth, pick(), concurrency))
            seconds = time.monotonic() - start
            cpu_ms = components.per_request_ms(cpu, components.snapshot(groups), len(through))
            valid, checked = check_certificates(through, gateway.nodes_toml)
            failed = [a for a in single + through if a.status != 200]
            if failed:
                print(f"  {len(failed)} request(s) failed; the first: HTTP {failed[0].status} {failed[0].error}")
            rows.append(
                {
                    "nodes": n_nodes,
                    "concurrency": concurrency,
                    "single": percentiles(single),
                    "gateway": percentiles(through),
                    "breakdown": breakdown(through),
                    "ok": sum(a.status == 200 for a in through),
                    "rate": requests / seconds,
                    "certificates": (valid, checked),
                    "cpu_ms": cpu_ms,
                }
            )
            print(
                f"  {n_nodes} nodes, {concurrency} in flight: "
                f"one node p50/p99 {rows[-1]['single']}, gateway {rows[-1]['gateway']} ms",
                flush=True,
            )
    finally:
        if gateway is not None:
            gateway.stop()
        for node in nodes:
            node.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 4], help="requests in flight (one burst per level)"
    )
    parser.add_argument(
        "--node-option",
        action="append",
        default=[],
        help="an option for every `zkinfer serve` (repeatable), e.g. --node-option=--worker-priority=idle",
    )
    parser.add_argument(
        "--quick", action="store_true", help="while developing: 3 nodes, 1 in flight, 200 requests (the goals' setting)"
    )
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.concurrency, args.requests = [3], [1], min(args.requests, 200)
    print(f"load average at the start: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    from benchmarks import components
    from zkinfer.node.config import cpu_count

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="zkinfer-bench-consensus-") as tmp:
        os.environ["ZKINFER_HOME"] = str(Path(tmp) / "home")
        for n in args.nodes:
            print(
                f"{n} nodes: starting; per level {args.concurrency}, "
                f"{args.requests} requests to one node, then {args.requests} through the gateway",
                flush=True,
            )
            rows += run(n, args.requests, args.concurrency, Path(tmp) / f"n{n}", args.node_option)
    print(
        f"\n{MODEL}, {cpu_count()} cores, every node and the gateway on this machine, nodes proving throughout; "
        f"{args.requests} requests per burst"
    )
    print(
        f"{'nodes':>5} {'in flight':>9} {'one node p50/p99 ms':>20} {'gateway p50/p99 ms':>20} "
        f"{'p50 ratio':>9} {'answered':>9} {'req/s':>6} {'certs valid':>11}"
    )
    for r in rows:
        (s50, s99), (g50, g99) = r["single"], r["gateway"]
        valid, checked = r["certificates"]
        print(
            f"{r['nodes']:>5} {r['concurrency']:>9} {s50:>9.1f} / {s99:<8.1f} {g50:>9.1f} / {g99:<8.1f} "
            f"{g50 / s50:>9.2f} {r['ok']:>5}/{args.requests:<3} {r['rate']:>6.1f} {valid:>5}/{checked:<5}"
        )
    print(
        "\nwhere a consensus answer's time goes (p50 / p99 ms): waiting for the quorum's slowest signer | "
        "the gateway's own share + the client's round trip to it = checking the last signer's answer + the rest "
        "(HTTP in and out, certificate, records, encoding)"
    )
    for r in rows:
        (w50, w99), (o50, o99), (c50, c99), (a50, a99) = r["breakdown"]
        print(
            f"{r['nodes']:>5} {r['concurrency']:>9} {w50:>9.1f} / {w99:<8.1f} | {o50:>7.1f} / {o99:<8.1f}"
            f" = {c50:>5.1f} / {c99:<6.1f} + {a50:>5.1f} / {a99:<6.1f}"
        )
    for r in rows:
        print(f"\n{r['nodes']} nodes, {r['concurrency']} in flight, per consensus answer (every node's share summed):")
        print(
            components.report(
                r["cpu_ms"],
                one_core=("gateway", "nodes' web process"),
                any_core=("nodes' statement workers",),
            )
        )
    for r in (r for r in rows if r["nodes"] == 3):
        (s50, _), (g50, g99) = r["single"], r["gateway"]
        own50 = r["breakdown"][1][0]
        before = ("; before 108.4, quiet", "; before 8.2, quiet") if r["concurrency"] == 1 else ("", "")
        print(
            f"goals, 3 nodes, {r['concurrency']} in flight: "
            f"p99 <= {GOAL_P99_MS:.0f} ms {'met' if g99 <= GOAL_P99_MS else 'not met'} ({g99:.1f} ms{before[0]}); "
            f"the gateway's own share p50 <= {GOAL_OWN_P50_MS:.0f} ms "
            f"{'met' if own50 <= GOAL_OWN_P50_MS else 'not met'} ({own50:.1f} ms{before[1]}); "
            f"gateway p50 <= 1.3x one node's {'met' if g50 <= 1.3 * s50 else 'not met'} ({g50 / s50:.2f}x)"
        )
    print(f"load average at the end: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
