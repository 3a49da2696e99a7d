"""Disputes over LLM answers (issue 23): commitment cost, the referee's verdicts, and the game's gas on anvil.

1. Commitment: the canonical sub-step trace (`zkinfer.llm.trace`) of the bundled model
   (`models/llm/tiny-stdlib`) over 64 and 256 positions: sub-steps (leaves), tree depth at arity 16,
   seconds to compute and hash.
2. Randomized disputes against the referee's rule (`zkinfer.llm.referee.node_wins`) with the real attend
   circuit's output (ezkl's witness, no proof): N random attend steps (default 100; `--quick` 20) of
   traces over random tokens; an honest node must win every one, a node that moved one value by twice
   the tolerance must lose every one. Also the largest circuit-vs-trace gap seen, in grid steps.
3. The game on anvil, per context: a challenger whose recomputation differs at one attend step opens a
   dispute, the node posts its root, 16-ary reveal/pick rounds down to that leaf, and the node settles it
   with a real referee proof. Gas of every transaction, prove seconds, end-to-end seconds (open → settle),
   and settle's gas in pieces: the 21,000 base, its calldata (the proof's share named), the verifier's
   call (from anvil's call trace) and the rest (openings, instance layout, storage, the verifier call's
   memory). Each context plays with fresh accounts, so the winner's credit is a first write (the worst
   case). Prints whether each context's total meets the goal of ≤ 2 M gas.

Tokens are random ids: the trace's cost depends on the number of positions, not on which tokens.
Run from the repository root: `python -m benchmarks.bench_dispute [--quick]` (needs the torch, llm and
chain extras; compiles the attend circuit once, cached under $ZKINFER_HOME/referee).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zkinfer.llm import referee, substeps, trace

MODEL = Path(__file__).resolve().parents[1] / "models" / "llm" / "tiny-stdlib"


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


def randomized(weights: substeps.Weights, traces: dict[int, trace.Trace], disputes: int) -> None:
    from zkinfer.chain import dispute_referee
    from zkinfer.core.zkp import ezkl_adapter

    circuit = dispute_referee.attend_circuit(weights)
    rng = np.random.default_rng(23)
    honest_won = liar_lost = 0
    worst = 0
    with tempfile.TemporaryDirectory() as tmp:
        data, witness = Path(tmp) / "input.json", Path(tmp) / "witness.json"
        for _ in range(disputes):
            computed = traces[int(rng.choice(list(traces)))]
            t = int(rng.integers(0, computed.shape.positions))
            step = trace.Step("attend", t, int(rng.integers(0, computed.shape.layers)), int(rng.integers(0, t + 1)))
            head = int(rng.integers(0, weights.heads))
            inputs = referee.attend_instances(computed, weights, step, head)
            data.write_text(json.dumps({"input_data": [substeps.dequantize(inputs).tolist()]}))
            made = ezkl_adapter.gen_witness(data, circuit.compiled_path, witness)
            proven = substeps.quantize(ezkl_adapter.witness_outputs(made, circuit.settings.output_scales)[0])
            claimed = referee.head_state(weights, computed.values(step), head)
            worst = max(worst, int(np.abs(proven - claimed).max()))
            honest_won += referee.node_wins(claimed, proven)
            lie = claimed.copy()
            lie[int(rng.integers(0, len(lie)))] += int(rng.choice([-1, 1])) * 2 * referee.TOLERANCE_STEPS
            liar_lost += not referee.node_wins(lie, proven)
    print("\n## Randomized disputes (referee rule, real attend circuit output)\n")
    print(
        f"- honest node won {honest_won} of {disputes}; lying node (one value ±2×tolerance) lost {liar_lost} of "
        f"{disputes}"
    )
    print(f"- largest circuit-vs-trace gap: {worst} grid steps (tolerance {referee.TOLERANCE_STEPS})")


GOAL_GAS = 2_000_000


def calldata_gas(data: bytes) -> int:
    """What a transaction's data costs (EIP-2028): 4 gas a zero byte, 16 a non-zero one."""
    return sum(4 if b == 0 else 16 for b in data)


@dataclass(frozen=True)
class Played:
    positions: int
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


def game(weights: substeps.Weights, traces: dict[int, trace.Trace]) -> None:
    from tests import dispute_harness
    from zkinfer.chain import account, deploy, devchain, dispute_referee
    from zkinfer.chain import dispute as chain_dispute
    from zkinfer.chain import verifier as chain_verifier

    circuit = dispute_referee.attend_circuit(weights)
    print(f"\n## The game on anvil (attend circuit: k {circuit.logrows})\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, devchain.dev_chain(Path(tmp)) as anvil:
        chain = account.connect(anvil.rpc_url, anvil.default_key)
        verifier = deploy.deploy(chain, chain_verifier.for_circuit(circuit.path).compiled)
        assert verifier.contract_address is not None
        nodes = tuple(2 * number + 1 for number in range(len(traces)))  # fresh accounts per context
        # the game as deployed for real: the stake it slashes through, the nodes' keys registered
        made = dispute_harness.deploy_game(
            anvil, chain, verifier.contract_address, nodes, chain_dispute.Params.for_model(weights)
        )
        print(f"- deployed: attend verifier {verifier.gas_used:,} gas, dispute contract {made.deploy_gas:,} gas")
        for number, (count, honest) in enumerate(traces.items()):
            node_chain, challenger_chain = (account.connect(anvil.rpc_url, anvil.keys[2 * number + i]) for i in (1, 2))
            node = chain_dispute.Dispute(node_chain, made.address)
            challenger = chain_dispute.Dispute(challenger_chain, made.address)
            step = trace.Step("attend", count - 1, 2, count // 2)  # a late step: the deepest openings
            states = honest.states.copy()
            states[step.layer, step.position, step.key, 20] += 3
            wrong = trace.assemble(honest.shape, honest.hidden, honest.qkv, states)
            answer = tokens(count + 1, count)  # the trace's tokens and the one its last position produced
            signed = dispute_harness.sampled_receipt(weights, made.keys[2 * number + 1], answer, count // 2)
            started = time.perf_counter()
            dispute_id, opened = challenger.open(node_chain.address, signed)
            posted = node.post_root(dispute_id, honest)
            rounds = chain_dispute.bisect(node, challenger, dispute_id, honest, wrong, weights)
            head = node.state(dispute_id)["head"]
            proven = dispute_referee.prove_attend(circuit, referee.attend_instances(honest, weights, step, head))
            settled = node.settle_attend(dispute_id, honest, proven.proof, proven.output_felts)
            seconds = time.perf_counter() - started
            assert node.state(dispute_id)["phase"] == "NodeWon"
            data = bytes(chain.web3.eth.get_transaction(settled.tx_hash)["input"])
            calls = devchain.rpc(
                anvil.rpc_url, "debug_traceTransaction", [settled.tx_hash, {"tracer": "callTracer"}], timeout=60
            )
            rows.append(
                Played(
                    count,
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
    print(
        "| positions | open | root | rounds | reveal gas each | pick gas each | leaf + head | settle | total gas "
        "| prove s | open→settle s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.positions} | {r.open:,} | {r.root:,} | {len(r.reveals)} | {min(r.reveals):,}–{max(r.reveals):,} | "
            f"{min(r.picks):,}–{max(r.picks):,} | {r.leaf_head:,} | {r.settle:,} | {r.total:,} | "
            f"{r.prove_s:.1f} | {r.seconds:.1f} |"
        )
    print("\nsettle in pieces:\n")
    print("| positions | base | calldata (of which the proof) | verifier call | the rest | settle |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        rest = r.settle - 21_000 - r.settle_calldata - r.verifier_call
        print(
            f"| {r.positions} | 21,000 | {r.settle_calldata:,} ({r.proof_calldata:,}) | {r.verifier_call:,} | "
            f"{rest:,} | {r.settle:,} |"
        )
    print()
    for r in rows:
        met = "met" if r.total <= GOAL_GAS else "not met"
        print(f"- {r.positions} positions: total gas {r.total:,}; total gas ≤ 2 M: {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 randomized disputes instead of 100")
    parser.add_argument("--disputes", type=int, default=None)
    parser.add_argument("--contexts", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--no-chain", action="store_true", help="skip the anvil game (no proofs)")
    args = parser.parse_args()
    weights = substeps.load(MODEL)
    traces = commitment(weights, args.contexts)
    randomized(weights, traces, args.disputes or (20 if args.quick else 100))
    if not args.no_chain:
        game(weights, traces)


if __name__ == "__main__":
    main()
