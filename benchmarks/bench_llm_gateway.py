"""Time to first token through `zkinfer gateway` over LLM nodes, and the cost of an audit (issue 20, item 6).

It starts N real LLM nodes (`zkinfer serve --llm models/llm/tiny-stdlib`, 1 torch thread each, default
N = 4) and a real `zkinfer gateway` over them (nodes.toml: `kind = "llm"`, `[llm] audit_share` = p,
default 0.1, so audits run in the background as in production), all on this machine's loopback. Then:

1. TTFT straight from the nodes: CONCURRENCY (4) streamed completions at a time, round-robin over the
   nodes, ROUNDS rounds; the time from sending the request to the first server-sent event (a completion
   stream's first event carries the first token's text, or ends the answer when that token was EOS);
2. the same through the gateway (it picks the node, sends its request id and seed, relays the stream
   and audits a share p afterwards), its rounds alternating with step 1's so both meet the same load:
   p50/p99 of TTFT, and the goal p99 <= 100 ms at 4 streams;
3. audit cost: ANSWERS answers of up to 128 tokens through the gateway, each re-executed by another
   node (`POST /v1/attestations`, what an audit does): the re-execution's time against the receipt's
   own generation time.

Every node and the gateway share this machine's cores with the client, so the figures are for N
nodes on the cores here (`os.cpu_count()` and the load average are printed), not for N machines.
Run from the repository root: `python -m benchmarks.bench_llm_gateway [--quick]` (needs the `llm` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

GOAL_TTFT_P99_MS = 100.0
MAX_TOKENS = 32
PROMPTS = ["Return the", "Split the pathname", "Create a new", "Open the file", "Convert a string", "Read data"]


def percentile(values: list[float], q: float) -> float:
    from zkinfer.network.record_types import percentile as nearest_rank

    found = nearest_rank(values, q)
    assert found is not None
    return found


async def first_token_ms(client: httpx.AsyncClient, url: str, key: str, prompt: str) -> float:
    """Send one streamed completion; ms until its first event (the rest is read and dropped)."""
    body = {"model": "tiny-stdlib", "prompt": prompt, "max_tokens": MAX_TOKENS, "stream": True, "temperature": 0.8}
    started = time.perf_counter()
    first = None
    async with client.stream(
        "POST", f"{url}/v1/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    ) as reply:
        reply.raise_for_status()
        async for line in reply.aiter_lines():
            if first is None and line.startswith("data: {"):  # the first token's text (or the end, when it was EOS)
                first = (time.perf_counter() - started) * 1000
    assert first is not None, "the stream carried no event"
    return first


async def ttft(
    urls: list[str], gateway_url: str, keys: tuple[str, str], rounds: int, concurrency: int
) -> tuple[list[float], list[float]]:
    """(direct, through the gateway) TTFTs; the rounds alternate, so both meet the same load on the machine."""
    targets = itertools.cycle(urls)
    prompts = itertools.cycle(PROMPTS)
    direct: list[float] = []
    through: list[float] = []
    async with httpx.AsyncClient(timeout=120, trust_env=False) as client:
        for url in [*urls, gateway_url]:  # warm: connections and each node's first pass
            await first_token_ms(client, url, keys[0] if url != gateway_url else keys[1], "warm")
        for _ in range(rounds):
            direct += await asyncio.gather(
                *(first_token_ms(client, next(targets), keys[0], next(prompts)) for _ in range(concurrency))
            )
            through += await asyncio.gather(
                *(first_token_ms(client, gateway_url, keys[1], next(prompts)) for _ in range(concurrency))
            )
    return direct, through


def audit_cost(
    gateway_url: str, key: str, node_urls: list[str], node_key: str, answers: int
) -> list[tuple[float, float, int]]:
    """(generation ms from the receipt, re-execution ms by another node, tokens) per answer."""
    pairs = []
    with httpx.Client(timeout=300, trust_env=False) as client:
        for i in range(answers):
            body = {"model": "tiny-stdlib", "prompt": PROMPTS[i % len(PROMPTS)], "max_tokens": 128, "temperature": 1.0}
            reply = client.post(f"{gateway_url}/v1/completions", json=body, headers={"Authorization": f"Bearer {key}"})
            reply.raise_for_status()
            receipt = reply.json()["zkinfer_receipt"]
            served = reply.headers["zkinfer-node"]
            auditor = node_urls[(int(served.removeprefix("n")) + 1) % len(node_urls)]
            started = time.perf_counter()
            attested = client.post(
                f"{auditor}/v1/attestations", json=receipt, headers={"Authorization": f"Bearer {node_key}"}
            )
            attested.raise_for_status()
            assert attested.json()["verdict"] == "agree", attested.text
            tokens = len(receipt["completion"]["token_ids"])
            pairs.append((receipt["timings"]["generate_ms"], (time.perf_counter() - started) * 1000, tokens))
    return pairs


def main() -> int:
    from tests.gateway_harness import GATEWAY_KEY, start_gateway
    from tests.llm_harness import API_KEY, LLM_KEY_ENV, llm_nodes_toml, start_llm_node

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds and 3 audited answers (CI)")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--answers", type=int, default=20)
    parser.add_argument("--audit-share", type=float, default=0.1)
    args = parser.parse_args()
    rounds, answers = (5, 3) if args.quick else (args.rounds, args.answers)

    folder = Path(tempfile.mkdtemp(prefix="bench-llm-gateway-"))
    os.environ[LLM_KEY_ENV] = API_KEY
    nodes, gateway = [], None
    try:
        for i in range(args.nodes):
            nodes.append(start_llm_node(folder / f"n{i}"))
        toml = llm_nodes_toml([(f"n{i}", node) for i, node in enumerate(nodes)], audit_share=args.audit_share)
        gateway = start_gateway(folder / "gateway", toml)
        urls = [n.url for n in nodes]
        print(f"{args.nodes} LLM nodes (tiny-stdlib, 1 thread each) and a gateway (p = {args.audit_share}) on")
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.concurrency} concurrent streams")
        print(f"x {rounds} rounds, {MAX_TOKENS} tokens each; time to first token (ms):")
        direct, through = asyncio.run(ttft(urls, gateway.url, (API_KEY, GATEWAY_KEY), rounds, args.concurrency))
        for name, values in (("nodes directly", direct), ("through the gateway", through)):
            p50, p99 = percentile(values, 50), percentile(values, 99)
            print(f"  {name:<20} n={len(values):<4} p50 {p50:7.1f}  p99 {p99:7.1f}  max {max(values):7.1f}")
        p99 = percentile(through, 99)
        met = "met" if p99 <= GOAL_TTFT_P99_MS else "NOT MET"
        print(f"goal: TTFT p99 <= {GOAL_TTFT_P99_MS:.0f} ms through the gateway at {args.concurrency} streams: {met}")
        pairs = audit_cost(gateway.url, GATEWAY_KEY, urls, API_KEY, answers)
        generate = statistics.mean(p[0] for p in pairs)
        reexecute = statistics.mean(p[1] for p in pairs)
        tokens = statistics.mean(p[2] for p in pairs)
        print(f"audit cost over {len(pairs)} answers (max_tokens 128, mean {tokens:.0f} tokens): generation")
        print(f"  {generate:.0f} ms (the receipt's timing), re-execution by another node {reexecute:.0f} ms")
        print(f"  (the whole POST /v1/attestations: {100 * reexecute / generate:.0f} % of generation);")
        print(f"  at p = {args.audit_share}, audits add {100 * args.audit_share * reexecute / generate:.1f} % compute")
        llm = httpx.get(f"{gateway.url}/v1/llm", timeout=30).json()
        print(f"gateway audits run during the benchmark: {llm['audits']}")
        return 0
    finally:
        if gateway is not None:
            gateway.stop()
        for node in nodes:
            node.stop()


if __name__ == "__main__":
    raise SystemExit(main())
