"""Load on the proving node: a burst of infer requests over loopback while proofs run.

Compiles a model for batch N (axis 0 made symbolic) in a temporary folder with its own
$ZKINFER_HOME, sets up its keys, and starts `python -m zkinfer serve` as a second process with a
batching window. Then, from this process:
1. primes the node with one full batch, so a proof is running before the burst starts;
2. fires the burst with `tritonclient.http.aio` (an unmodified KServe client): REQUESTS infer
   requests, CONCURRENCY in flight, timing each fast answer;
3. waits (bounded) until the node's queue is empty, fetches every job's receipt, checks each job
   ended proven with its own input in its row, and verifies every distinct receipt.
Prints answer latency p50/p90/p99/max (every answer now carries a signed statement and promise:
a witness run and two BLS signatures), what the statement costs (measured alone in this process,
and as the node saw it during the burst), the CPU each component spent per request (web process,
statement workers, provers: `components`) and the answer rate that allows on N cores, proofs and
samples proven per minute, and the checks; the goal (p99 < 100 ms) with met / not met.
`--node-option` passes options to `zkinfer serve` (e.g. `--node-option=--worker-priority=nice`
to compare with provers that are only niced).

Run from the repository root: `python -m benchmarks.bench_node_load` (about 5 minutes on 2 cores
with the defaults, `--quick` about 1 minute: the burst only; `--model digits_mlp` uses the bundled
digits MLP, slower per proof).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks import components

REPO = Path(__file__).resolve().parent.parent
GOAL_P99_MS = 100.0


@dataclass(frozen=True)
class Sent:
    values: list[float]
    status: int
    seconds: float
    receipt_id: str | None
    answer: list[float] | None


def build_circuit(model: str, batch: int, folder: Path) -> tuple[Path, int]:
    """Compile `model` for `batch` under folder/circuits and set up its keys; returns (circuits dir, input size)."""
    from tests import tiny
    from tests.tiny import with_batch_axis
    from zkinfer import compile_model
    from zkinfer.prover.keys import ensure

    if model == "tiny":
        source, calibration, size = (
            tiny.mlp(folder / "fixed.onnx"),
            tiny.samples(folder / "calibration.json", n=64, size=8),
            8,
        )
    else:
        source, calibration, size = REPO / "models" / f"{model}.onnx", REPO / "models" / f"{model}_calibration.json", 64
    onnx_path = with_batch_axis(source, folder / "model.onnx")
    start = time.perf_counter()
    circuit = compile_model(onnx_path, calibration, folder / "circuits" / model, search=False, batch_size=batch)
    ensure(circuit)
    print(
        f"compiled {model} for batch {batch}: k={circuit.logrows}; "
        f"keys ready in {time.perf_counter() - start:.0f} s (not part of the load)"
    )
    return folder / "circuits", size


async def fire(
    client: Any, model: str, auth: dict[str, str], inputs: list[list[float]], concurrency: int
) -> list[Sent]:
    """Send every input (binary tensors, tritonclient's default), at most `concurrency` in flight; time each answer."""
    import tritonclient.http as http
    from tritonclient.utils import InferenceServerException

    gate = asyncio.Semaphore(concurrency)

    async def one(values: list[float]) -> Sent:
        tensor = http.InferInput("input", [1, len(values)], "FP32")
        tensor.set_data_from_numpy(np.asarray([values], dtype=np.float32))
        async with gate:
            start = time.perf_counter()
            try:
                result = await client.infer(model, [tensor], headers=dict(auth))
            except InferenceServerException as exc:
                return Sent(values, int(exc.status() or 0), time.perf_counter() - start, None, None)
            seconds = time.perf_counter() - start
        return Sent(
            values,
            200,
            seconds,
            result.get_response()["parameters"]["receipt_id"],
            result.as_numpy("output").ravel().tolist(),
        )

    return list(await asyncio.gather(*(one(v) for v in inputs)))


async def load(
    url: str,
    model: str,
    auth: dict[str, str],
    primer: list[list[float]],
    burst: list[list[float]],
    concurrency: int,
    web_pid: int,
) -> tuple[list[Sent], list[Sent], str, float, dict[str, float]]:
    """Prime with one batch, wait until it is being proven, then fire the burst on the same (warm)
    connections with tritonclient's asyncio client, an unmodified KServe client.
    Returns (primer results, burst results, /metrics just before the burst, burst seconds,
    each component's CPU milliseconds per burst request)."""
    import tritonclient.http.aio as aio

    client = aio.InferenceServerClient(url.removeprefix("http://"), conn_limit=concurrency)
    try:
        primed = await fire(client, model, auth, primer, concurrency)
        await asyncio.to_thread(wait_until_proving, url, auth, primed[0].receipt_id)
        before = httpx.get(f"{url}/metrics", headers=auth).text
        groups = components.node_components(web_pid)
        start, cpu = time.monotonic(), components.snapshot(groups)
        sent = await fire(client, model, auth, burst, concurrency)
        seconds = time.monotonic() - start
        return primed, sent, before, seconds, components.per_request_ms(cpu, components.snapshot(groups), len(sent))
    finally:
        await client.close()


def random_inputs(rng: np.random.Generator, n: int, size: int) -> list[list[float]]:
    return [rng.random(size).round(4).tolist() for _ in range(n)]


def wait_until_proving(url: str, auth: dict[str, str], receipt_id: str | None, timeout_s: float = 120.0) -> None:
    """Block until the given job is being proven, so the burst runs against a busy prover."""
    deadline = time.monotonic() + timeout_s
    while httpx.get(f"{url}/v1/receipts/{receipt_id}", headers=auth, timeout=30).json().get("status") != "proving":
        if time.monotonic() > deadline:
            raise SystemExit("the priming batch never started proving")
        time.sleep(0.05)


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` (with these labels) in a /metrics text."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def wait_until_drained(url: str, auth: dict[str, str], deadline: float) -> str:
    """Poll /metrics until no job is queued or proving; returns the last metrics text."""
    while True:
        text = httpx.get(f"{url}/metrics", headers=auth, timeout=30).text
        if metric(text, "zkinfer_queue_depth") == 0 or time.monotonic() > deadline:
            return text
        time.sleep(1.0)


def check_receipts(url: str, auth: dict[str, str], sent: list[Sent]) -> tuple[int, int, list[str]]:
    """(jobs proven with their input in their row, distinct receipts verified, problems)."""
    from zkinfer.core.formats.receipt import Receipt
    from zkinfer.verify import verify_receipt

    problems: list[str] = []
    receipts: dict[str, Receipt] = {}
    proven = 0
    with httpx.Client(base_url=url, headers=auth, timeout=60) as client:
        for s in sent:
            response = client.get(f"/v1/receipts/{s.receipt_id}")
            if response.status_code != 200:
                problems.append(f"job {s.receipt_id}: HTTP {response.status_code} {response.text[:200]}")
                continue
            receipt = receipts.setdefault(response.text, Receipt.model_validate_json(response.text))
            row = int(response.headers["Zkinfer-Batch-Row"])
            assert receipt.input.tensors is not None
            width = len(s.values)
            mine = receipt.input.tensors[0].values[row * width : (row + 1) * width]
            if not np.allclose(mine, np.asarray(s.values, dtype=np.float32)):
                problems.append(f"job {s.receipt_id}: row {row} of its receipt holds another input")
                continue
            proven += 1
    verified = sum(verify_receipt(r).verified for r in receipts.values())
    problems += [f"{len(receipts) - verified} receipt(s) failed verification"] if verified != len(receipts) else []
    return proven, verified, problems


def statement_cost(circuit_dir: Path, size: int, n: int = 20) -> str:
    """What one request's statement costs alone (witness of its zero-padded batch, two BLS signatures),
    and per request when a full batch shares one witness run, as p50 over `n` tries."""
    from zkinfer.core.crypto import identity
    from zkinfer.core.formats import statement
    from zkinfer.node.models import stack
    from zkinfer.prover.prove import Prover

    if not hasattr(Prover, "statements"):
        return "n/a (this revision signs no statements)"
    prover, key = Prover(circuit_dir), identity.new_key()
    batch = prover.circuit.manifest.batch_size
    rng = np.random.default_rng(1)
    samples = [[rng.random((1, size)).astype(np.float32)] for _ in range(batch)]
    single, signing, shared = [], [], []
    for _ in range(n):
        start = time.perf_counter()
        said = prover.statements(stack(samples[:1], batch) if batch > 1 else samples[0], ["r"])[0]
        single.append(time.perf_counter() - start)
        start = time.perf_counter()
        statement.promise(
            statement.sign(said, key.secret, key.public_key), "receipt", int(time.time()) + 3600, key.secret
        )
        signing.append(time.perf_counter() - start)
    for _ in range(max(1, n // 4)):
        start = time.perf_counter()
        prover.statements(stack(samples, batch) if batch > 1 else samples[0], [f"r{i}" for i in range(batch)])
        shared.append((time.perf_counter() - start) / batch)
    ms = statistics.median
    return (
        f"witness {1000 * ms(single):.1f} ms + sign {1000 * ms(signing):.1f} ms = "
        f"{1000 * (ms(single) + ms(signing)):.1f} ms per request; "
        f"a witness shared by {batch} request(s): {1000 * ms(shared):.1f} ms each + sign"
    )


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "digits_mlp"], default="tiny")
    parser.add_argument("--requests", type=int, default=500, help="burst size (after the priming batch)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32, help="batch size the circuit is compiled for")
    parser.add_argument("--window-ms", type=float, default=2000.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help="longest wait for every proof, in seconds")
    parser.add_argument(
        "--latency-only", action="store_true", help="stop after the burst: no waiting for the proofs, no receipt checks"
    )
    parser.add_argument(
        "--quick", action="store_true", help="while developing: --latency-only (the goal's burst is the default one)"
    )
    parser.add_argument(
        "--node-option",
        action="append",
        default=[],
        help="an option for `zkinfer serve` (repeatable), e.g. --node-option=--worker-priority=nice",
    )
    args = parser.parse_args()
    args.latency_only = args.latency_only or args.quick
    print(f"load average at the start: {Path('/proc/loadavg').read_text().strip()}", flush=True)

    from tests.e2e.test_node import start_node

    with tempfile.TemporaryDirectory(prefix="zkinfer-bench-node-") as tmp:
        folder = Path(tmp)
        os.environ["ZKINFER_HOME"] = str(folder / "home")
        circuits, size = build_circuit(args.model, args.batch, folder)
        alone = statement_cost(circuits / args.model, size)
        node = start_node(
            circuits,
            folder / "state",
            "--batch-window-ms",
            str(args.window_ms),
            "--workers",
            str(args.workers),
            "--max-queue",
            str(args.requests + 10 * args.batch),
            *args.node_option,
            statement_workers=None,  # the node's default (one per core); --node-option=--statement-workers=N
        )
        try:
            rng = np.random.default_rng(0)
            start = time.monotonic()
            primed, burst, before, burst_s, cpu_ms = asyncio.run(
                load(
                    node.url,
                    args.model,
                    node.auth,
                    random_inputs(rng, args.batch, size),
                    random_inputs(rng, args.requests, size),
                    args.concurrency,
                    node.process.pid,
                )
            )
            during = httpx.get(f"{node.url}/metrics", headers=node.auth).text
            if not args.latency_only:
                final = wait_until_drained(node.url, node.auth, time.monotonic() + args.timeout)
                drained_s = time.monotonic() - start
                accepted = [s for s in primed + burst if s.status == 200]
                proven, verified, problems = check_receipts(node.url, node.auth, accepted)
        finally:
            node.stop()
    answered(args, primed, burst, before, during, burst_s, alone)
    print(components.report(cpu_ms))
    print(f"load average at the end: {Path('/proc/loadavg').read_text().strip()}")
    if args.latency_only:
        return 0 if all(s.status == 200 for s in primed + burst) else 1
    return proofs_report(final, drained_s, primed, burst, accepted, proven, verified, problems)


def answered(
    args: argparse.Namespace,
    primed: list[Sent],
    burst: list[Sent],
    before: str,
    during: str,
    burst_s: float,
    alone: str,
) -> None:
    """The fast answers: latency percentiles, what the statements cost, the node's own view."""
    from zkinfer.node.config import cpu_count

    latencies = [s.seconds * 1000 for s in burst if s.status == 200]
    print(
        f"\nnode: {args.model} compiled for batch {args.batch}, window {args.window_ms:.0f} ms, "
        f"{args.workers} prover worker(s), {metric(during, 'zkinfer_statement_workers_ready'):.0f} statement "
        f"worker(s), {cpu_count()} cores"
    )
    print(
        f"burst: {args.requests} requests, {args.concurrency} in flight, "
        f"sent in {burst_s:.2f} s ({args.requests / burst_s:.0f} req/s); "
        "started while a proof was running; "
        f"{metric(during, 'zkinfer_proof_seconds_count'):.0f} proof(s) finished during it, "
        f"{metric(during, 'zkinfer_queue_depth'):.0f} jobs queued at its end"
    )
    print(
        f"answer latency (ms): p50 {percentile(latencies, 50):.1f}  p90 {percentile(latencies, 90):.1f}  "
        f"p99 {percentile(latencies, 99):.1f}  max {max(latencies):.1f}  mean {statistics.mean(latencies):.1f}"
    )
    p99 = percentile(latencies, 99)
    print(
        f"goal: answer p99 < {GOAL_P99_MS:.0f} ms at {args.requests} requests, {args.concurrency} in flight: "
        f"{'met' if p99 < GOAL_P99_MS else 'not met'} ({p99:.1f} ms; before statement workers 150.3 ms quiet)"
    )
    print(f"statement (witness + sign statement and promise), alone in this process: {alone}")
    signed = metric(during, "zkinfer_statement_seconds_count") - metric(before, "zkinfer_statement_seconds_count")
    if signed:
        runs = metric(during, "zkinfer_statement_witness_runs") - metric(before, "zkinfer_statement_witness_runs")
        mean_ms = (
            1000
            * (metric(during, "zkinfer_statement_seconds_sum") - metric(before, "zkinfer_statement_seconds_sum"))
            / signed
        )
        print(
            "statement on the node during the burst (waiting for a witness run included): "
            f"mean {mean_ms:.1f} ms; {signed:.0f} statements from {runs:.0f} witness runs "
            f"({signed / max(runs, 1):.1f} requests per run)"
        )
    else:
        print("statement on the node: none signed (this node predates signed statements)")
    node_fast = metric(during, "zkinfer_answer_seconds_bucket", le="0.1") - metric(
        before, "zkinfer_answer_seconds_bucket", le="0.1"
    )
    node_all = metric(during, "zkinfer_answer_seconds_count") - metric(before, "zkinfer_answer_seconds_count")
    print(
        "node side (zkinfer_answer_seconds, request read to answer): "
        f"{100 * node_fast / max(node_all, 1):.1f} % of the burst's answers within 100 ms"
    )
    refused = [s.status for s in primed + burst if s.status != 200]
    print(f"refused: {len(refused)} {sorted(set(refused))}")


def proofs_report(
    final: str,
    drained_s: float,
    primed: list[Sent],
    burst: list[Sent],
    accepted: list[Sent],
    proven: int,
    verified: int,
    problems: list[str],
) -> int:
    """Proof throughput and the receipt checks; 0 when every accepted job ended proven with its own input."""
    proofs = metric(final, "zkinfer_proof_seconds_count")
    proof_s = metric(final, "zkinfer_proof_seconds_sum")
    rejected = [s.status for s in primed + burst if s.status != 200]
    print(
        f"proofs (priming batch included): {proofs:.0f} in {drained_s:.0f} s = "
        f"{60 * proofs / drained_s:.1f} proofs/min, {60 * proven / drained_s:.0f} samples proven/min; "
        f"{proof_s / max(proofs, 1):.1f} s per proof, {proof_s / max(proven, 1):.2f} s per sample"
    )
    print(
        f"jobs: {len(accepted)} accepted, {len(rejected)} refused {sorted(set(rejected))}, "
        f"{proven} proven with their own input in their row, "
        f"{verified} distinct receipts verified"
    )
    ok = proven == len(accepted) and not problems and not rejected
    print("every accepted job ended proven" if ok else "PROBLEMS:\n  " + "\n  ".join(problems[:20]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
