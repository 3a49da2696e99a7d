"""Disputes over LLM answers (issue 23): commitment cost, the referee's verdicts, and the game's gas on anvil.

1. Commitment: the canonical sub-step trace (`zkinfer.llm.trace`) of the bundled model
   (`models/llm/tiny-stdlib`) over 64 and 256 positions: sub-steps (leaves), tree depth at arity 16,
   seconds to compute and hash.
2. Randomized disputes against the referee's rule (`zkinfer.llm.referee.node_wins`) with the real
   circuits' output (ezkl's witness, no proof), per kind (attend, pre, post): N random steps (default
   100; `--quick` 20) of traces over random tokens, random layer and part (every per-layer circuit is
   compiled, none set up); an honest node must win every one, a node that moved one value by twice the
   kind's tolerance must lose every one. Also the largest circuit-vs-trace gap seen, in grid steps.
3. The referee circuits of the disputed steps: k, public instances, compile and key-setup seconds.
4. The game on anvil, per context and kind: a challenger whose recomputation differs at one step opens
   a dispute, the node posts its root, 16-ary reveal/pick rounds down to that leaf, and the node settles
   it with a real referee proof. Gas of every transaction, prove seconds, end-to-end seconds (open →
   settle), contract sizes, and settle's gas in pieces: the 21,000 base, its calldata (the proof's share
   named), the verifier's call (from anvil's call trace) and the rest (openings, instance layout,
   storage, the verifier call's memory). Each game plays with fresh accounts, so the winner's credit is
   a first write (the worst case). Prints whether each game's total meets the goal of ≤ 2 M gas.

Tokens are random ids: the trace's cost depends on the number of positions, not on which tokens.
Run from the repository root: `python -m benchmarks.bench_dispute [--quick]` (needs the torch, llm and
chain extras; compiles each referee circuit once, cached under $ZKINFER_HOME/referee; `--kinds` for fewer).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zkinfer.core.formats.circuit import Circuit
from zkinfer.llm import referee, substeps, trace

MODEL = Path(__file__).resolve().parents[1] / "models" / "llm" / "tiny-stdlib"
KINDS: tuple[trace.Kind, ...] = ("attend", "pre", "post")


def tokens(count: int, seed: int) -> list[int]:
    return [int(x) for x in np.random.default_rng(seed).integers(1, 4096, count)]


def commitment(weights: substeps.Weights, contexts: list[int]) -> dict[int, trace.Trace]:
    print("\n## Commitment (the sub-step trace and its root)\n")
    print("| positions | sub-steps | depth | seconds |")
    print("|---|---|---|---|")
    traces = {}
    for count in contexts:
        started = time.perf_counter()
        traces[count] = trace.compute(weights, tokens(count + 1, count)[:-1])  # the last token ends the answer
        seconds = time.perf_counter() - started
        print(f"| {count} | {traces[count].shape.count:,} | {traces[count].tree.depth} | {seconds:.2f} |")
    return traces


def randomized(weights: substeps.Weights, traces: dict[int, trace.Trace], disputes: int, kind: trace.Kind) -> None:
    """`disputes` random steps of `kind` (random trace, position, layer, key, part) against the referee rule."""
    from zkinfer.chain import dispute_referee

    rng = np.random.default_rng({"attend": 23, "pre": 24, "post": 25}[kind])
    honest_won = liar_lost = 0
    worst = dict.fromkeys(range(len(weights.layers)), 0)  # per layer
    started = time.perf_counter()
    for _ in range(disputes):
        computed = traces[int(rng.choice(list(traces)))]
        t = int(rng.integers(0, computed.shape.positions))
        layer, part = int(rng.integers(0, computed.shape.layers)), int(rng.integers(0, weights.heads))
        step = trace.Step(kind, t, layer, int(rng.integers(0, t + 1)) if kind == "attend" else 0)
        circuit = dispute_referee.circuit(weights, kind, layer if kind != "attend" else 0, part)
        proven, _ = dispute_referee.step_outputs(circuit, referee.circuit_inputs(computed, weights, step, part))
        claimed = referee.part_values(weights, kind, computed.values(step), part)
        tolerance = referee.tolerance(kind, layer)
        worst[layer] = max(worst[layer], int(np.abs(proven - claimed).max()))
        honest_won += referee.node_wins(claimed, proven, tolerance)
        lie = claimed.copy()
        lie[int(rng.integers(0, len(lie)))] += int(rng.choice([-1, 1])) * 2 * tolerance
        liar_lost += not referee.node_wins(lie, proven, tolerance)
    gaps = " / ".join(str(worst[layer]) for layer in worst)
    tolerances = " / ".join(str(referee.tolerance(kind, layer)) for layer in worst)
    print(
        f"| {kind} | {honest_won} of {disputes} | {liar_lost} of {disputes} | {gaps} | {tolerances} | "
        f"{time.perf_counter() - started:.0f} |"
    )


# per kind: the disputed step at a context of `count` positions (layer 2, the last position: the deepest openings)
def disputed(kind: trace.Kind, count: int) -> trace.Step:
    return trace.Step(kind, count - 1, 2, count // 2 if kind == "attend" else 0)


def referees(weights: substeps.Weights, kinds: list[trace.Kind]) -> dict[trace.Kind, tuple[Circuit, float, float]]:
    """Each kind's referee circuit of the disputed (layer, part 0): compiled, set up (seconds of each, 0 when
    cached), printed with its k and public instance count."""
    from zkinfer.chain import dispute_referee
    from zkinfer.prover.keys import ensure

    made = {}
    print("\n## Referee circuits (the disputed layer 2, part 0)\n")
    print("| kind | k | public instances | compile s | key setup s |")
    print("|---|---|---|---|---|")
    for kind in kinds:
        started = time.perf_counter()
        circuit = dispute_referee.circuit(weights, kind, 0 if kind == "attend" else 2, 0)
        compiled = time.perf_counter()
        ensure(circuit)
        setup = time.perf_counter()
        instances = sum(int(np.prod(t.shape)) for t in (*circuit.manifest.inputs, *circuit.manifest.outputs))
        print(f"| {kind} | {circuit.logrows} | {instances} | {compiled - started:.1f} | {setup - compiled:.1f} |")
        made[kind] = (circuit, compiled - started, setup - compiled)
    return made


GOAL_GAS = 2_000_000


def calldata_gas(data: bytes) -> int:
    """What a transaction's data costs (EIP-2028): 4 gas a zero byte, 16 a non-zero one."""
    return sum(4 if b == 0 else 16 for b in data)


@dataclass(frozen=True)
class Played:
    positions: int
    kind: str
    open: int
    root: int
    reveals: list[int]
    picks: list[int]
    leaf_head: int
    settle: int
    settle_calldata: int
    proof_calldata: int
    verifier_call: int
    prove_s: float
    seconds: float

    @property
    def total(self) -> int:
        return self.open + self.root + sum(self.reveals) + sum(self.picks) + self.leaf_head + self.settle


def game(weights: substeps.Weights, traces: dict[int, trace.Trace], kinds: list[trace.Kind]) -> None:
    from tests import dispute_harness
    from zkinfer.chain import account, deploy, devchain, dispute_referee
    from zkinfer.chain import dispute as chain_dispute
    from zkinfer.chain import verifier as chain_verifier

    circuits = referees(weights, kinds)
    print("\n## The game on anvil (one dispute per kind and context, settled with a real referee proof)\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, devchain.dev_chain(Path(tmp)) as anvil:
        chain = account.connect(anvil.rpc_url, anvil.default_key)
        verifiers = {}
        for kind in {"attend", *kinds}:
            circuit = circuits[kind][0] if kind in circuits else dispute_referee.attend_circuit(weights)
            artifact = chain_verifier.for_circuit(circuit.path)
            sent = deploy.deploy(chain, artifact.compiled)
            assert sent.contract_address is not None
            verifiers[kind] = sent.contract_address
            print(f"- {kind} verifier: {sent.gas_used:,} gas to deploy, {len(artifact.compiled.runtime):,} bytes")
        games = [(count, kind) for count in traces for kind in kinds]
        nodes = tuple(range(1, len(games) + 1))  # a node account per game (challengers: fresh accounts)
        # the game as deployed for real: the stake it slashes through, the nodes' keys registered
        made = dispute_harness.deploy_game(
            anvil, chain, verifiers["attend"], nodes, chain_dispute.Params.for_model(weights)
        )
        code = chain_dispute.compiled()
        print(f"- dispute contract: {made.deploy_gas:,} gas to deploy, {len(code.runtime):,} bytes of runtime code")
        owner = chain_dispute.Dispute(chain, made.address)
        for kind in kinds:
            if kind != "attend":
                owner.register_verifier(kind, 2, 0, verifiers[kind])
        for number, (count, kind) in enumerate(games):
            honest = traces[count]
            node_chain, challenger_chain = account.connect(anvil.rpc_url, anvil.keys[nodes[number]]), fresh(anvil)
            node = chain_dispute.Dispute(node_chain, made.address)
            challenger = chain_dispute.Dispute(challenger_chain, made.address)
            step = disputed(kind, count)
            wrong = trace.moved(honest, step, {"attend": 20, "pre": 128 + 5, "post": 5}[kind], 3)  # part 0
            answer = tokens(count + 1, count)  # the trace's tokens and the one its last position produced
            signed = dispute_harness.sampled_receipt(weights, made.keys[nodes[number]], answer, count // 2)
            started = time.perf_counter()
            dispute_id, opened = challenger.open(node_chain.address, signed)
            posted = node.post_root(dispute_id, honest)
            rounds = chain_dispute.bisect(node, challenger, dispute_id, honest, wrong, weights)
            part = node.state(dispute_id)["head"]
            proven = dispute_referee.prove_step(circuits[kind][0], referee.circuit_inputs(honest, weights, step, part))
            settled = node.settle(dispute_id, honest, proven.proof, proven.output_felts)
            seconds = time.perf_counter() - started
            assert node.state(dispute_id)["phase"] == "NodeWon"
            data = bytes(chain.web3.eth.get_transaction(settled.tx_hash)["input"])
            calls = devchain.rpc(
                anvil.rpc_url, "debug_traceTransaction", [settled.tx_hash, {"tracer": "callTracer"}], timeout=60
            )
            rows.append(
                Played(
                    count,
                    kind,
                    opened.gas_used,
                    posted.gas_used,
                    [s.gas_used for s in rounds[0:-2:2]],
                    [s.gas_used for s in rounds[1:-2:2]],
                    rounds[-2].gas_used + rounds[-1].gas_used,
                    settled.gas_used,
                    calldata_gas(data),
                    calldata_gas(proven.proof),
                    sum(int(c["gasUsed"], 16) for c in calls.get("calls", [])),
                    proven.seconds,
                    seconds,
                )
            )
    report(rows)


def fresh(anvil: Any) -> Any:
    """A new funded account on anvil (it has only ten): each game's winner credit is a first write."""
    from eth_account import Account

    from zkinfer.chain import account, devchain

    made = Account.create()
    devchain.rpc(anvil.rpc_url, "anvil_setBalance", [made.address, hex(10**20)])
    return account.connect(anvil.rpc_url, "0x" + bytes(made.key).hex())


def report(rows: list[Played]) -> None:
    print(
        "| positions | kind | open | root | rounds | reveal gas each | pick gas each | leaf + part | settle "
        "| total gas | prove s | open→settle s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.positions} | {r.kind} | {r.open:,} | {r.root:,} | {len(r.reveals)} | "
            f"{min(r.reveals):,}–{max(r.reveals):,} | {min(r.picks):,}–{max(r.picks):,} | {r.leaf_head:,} | "
            f"{r.settle:,} | {r.total:,} | {r.prove_s:.1f} | {r.seconds:.1f} |"
        )
    print("\nsettle in pieces:\n")
    print("| positions | kind | base | calldata (of which the proof) | verifier call | the rest | settle |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        rest = r.settle - 21_000 - r.settle_calldata - r.verifier_call
        print(
            f"| {r.positions} | {r.kind} | 21,000 | {r.settle_calldata:,} ({r.proof_calldata:,}) | "
            f"{r.verifier_call:,} | {rest:,} | {r.settle:,} |"
        )
    print()
    for r in rows:
        met = "met" if r.total <= GOAL_GAS else "not met"
        print(f"- {r.positions} positions, {r.kind}: total gas {r.total:,}; total gas ≤ 2 M: {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 randomized disputes per kind instead of 100")
    parser.add_argument("--disputes", type=int, default=None)
    parser.add_argument("--contexts", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--no-chain", action="store_true", help="skip the anvil game (no proofs)")
    args = parser.parse_args()
    weights = substeps.load(MODEL)
    traces = commitment(weights, args.contexts)
    print("\n## Randomized disputes (referee rule, real circuit output; liar: one value ±2×tolerance)\n")
    print("| kind | honest node won | lying node lost | largest gap by layer (grid steps) | tolerance by layer | s |")
    print("|---|---|---|---|---|---|")
    for kind in args.kinds:
        randomized(weights, traces, args.disputes or (20 if args.quick else 100), kind)
    if not args.no_chain:
        game(weights, traces, args.kinds)


if __name__ == "__main__":
    main()
