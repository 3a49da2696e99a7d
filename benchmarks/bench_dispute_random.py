"""Randomized disputes ON CHAIN with real referee proofs (issue 23: "an honest node is never slashed across
≥ 100 randomized disputes"), on the tiny GPT-2 (`tests/llm_tiny.py`: its attend circuit is k 15, a proof
in seconds; the bundled model's k 17 circuit would take ~45 s a proof).

N disputes (default 100; `--quick` 10), each on a fresh answer (random prompt of 2-6 tokens, 2-8 greedy
completion tokens, signed with a trace signature) and fresh accounts (a node bonded on the stake contract with
its BLS key registered, a challenger), on one anvil and one game contract:

- even disputes: an honest node against a frivolous challenger whose recomputation differs at one random
  `attend` step (one random value moved by 1 to 8× the tolerance); bisection reaches that step, the node proves
  the named head's update (real ezkl proof) and settles; it must win (NodeWon, credited the bond, not slashed);
- odd disputes: a lying node, either (half) its committed trace has one random attend value moved by a random
  amount from the tolerance + 32 (the circuit's own error is ≤ 22) to 8× the tolerance (bisection reaches it,
  its best settlement, the circuit's output from its inputs, is refused on chain, its turn runs out, `timeout`),
  or (half) it signed a wrong greedy token (the challenger shows with `settleToken` that the node's own final
  state prefers another token by more than the margin); it must be slashed through ZkinferStake.

Prints honest nodes slashed (must be 0), liars slashed (must be all), gas per dispute (min / median / max, all
moves of both parties), prove seconds. Exits 1 when a verdict is wrong. Run from the repository root:
`python -m benchmarks.bench_dispute_random [--quick] [--disputes N] [--seed S]` (needs the torch, llm and chain
extras; the attend circuit is compiled once and cached under $ZKINFER_HOME/referee).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests import chain_harness, dispute_harness, llm_tiny
from zkinfer.chain import deploy, devchain, dispute_binding, dispute_referee
from zkinfer.chain import dispute as game
from zkinfer.chain import verifier as chain_verifier
from zkinfer.core.support.errors import ChainError
from zkinfer.llm import referee, trace

TURN = 600
CIRCUIT_ERROR = 32  # grid steps: above the largest circuit-vs-trace gap measured (22, README)


@dataclass
class Outcome:
    kind: str  # "honest", "attend lie", "token lie"
    slashed: bool
    node_won: bool
    gas: int
    moves: int
    prove_s: float | None


class Bench:
    def __init__(self, anvil: devchain.DevChain, folder: Path, seed: int) -> None:
        from zkinfer.llm import substeps

        self.anvil, self.rng = anvil, np.random.default_rng(seed)
        model_dir = llm_tiny.write_tiny_gpt2(folder / "tiny-gpt2")
        self.weights = substeps.load(model_dir)
        self.circuit = dispute_referee.attend_circuit(self.weights, max_logrows=llm_tiny.MAX_LOGROWS)
        owner = chain_harness.other_account(anvil, 0)
        verifier = deploy.deploy(owner, chain_verifier.for_circuit(self.circuit.path).compiled)
        params = game.Params.for_model(self.weights, turn=TURN)
        self.params = params
        self.deployed = dispute_harness.deploy_game(anvil, owner, str(verifier.contract_address), (), params, model_dir)

    def answer(self, liar_token: bool) -> tuple[list[int], list[int], Any]:
        """A random prompt and its greedy completion (one token replaced when `liar_token`: a lie the trace over
        the signed tokens exposes by more than the margin), and the final states to commit."""
        vocab = self.weights.token_embedding.shape[0]
        while True:
            prompt = [int(x) for x in self.rng.integers(0, vocab, int(self.rng.integers(2, 7)))]
            completion, states = dispute_harness.greedy(self.weights, prompt, int(self.rng.integers(2, 9)))
            if not liar_token:
                return prompt, completion, states
            at = int(self.rng.integers(0, len(completion)))
            forged = [*completion[:at], int(self.rng.integers(0, vocab)), *completion[at + 1 :]]
            tokens = [*prompt, *forged]
            computed = dispute_binding.trace_of(self.weights, tokens)
            if dispute_binding.token_lie(computed, tokens, len(prompt), self.deployed.rows) is not None:
                return prompt, forged, dispute_harness.final_states(self.weights, tokens[:-1])[len(prompt) - 1 :]

    def random_step(self, computed: trace.Trace) -> tuple[trace.Step, int]:
        t = int(self.rng.integers(0, computed.shape.positions))
        layer = int(self.rng.integers(0, computed.shape.layers))
        step = trace.Step("attend", t, layer, int(self.rng.integers(0, t + 1)))
        return step, int(self.rng.integers(0, computed.values(step).size))

    def play(self, number: int, kind: str) -> Outcome:
        node_chain, challenger_chain = chain_harness.fresh_account(self.anvil), chain_harness.fresh_account(self.anvil)
        stake, signatures = self.deployed.stake, self.deployed.signatures
        key = dispute_harness.bond_node(stake, signatures, node_chain)
        node = game.Dispute(node_chain, self.deployed.address)
        challenger = game.Dispute(challenger_chain, self.deployed.address)
        prompt, completion, states = self.answer(kind == "token lie")
        signed = dispute_harness.receipt(
            self.deployed.model_dir, key, prompt, completion, states, request_id=f"random-{number}"
        )
        computed = dispute_binding.trace_of(self.weights, [*prompt, *completion])  # the true trace of these tokens
        tolerance = self.params.tolerance
        sent = []
        prove_s = None
        if kind == "token lie":
            dispute_id, opened = challenger.open(node_chain.address, signed)
            sent += [opened, node.post_root(dispute_id, computed)]
            tokens = [*prompt, *completion]
            found = dispute_binding.token_lie(computed, tokens, len(prompt), self.deployed.rows)
            assert found is not None
            t, rival, _ = found
            answer = dispute_binding.answer_of(signed)
            hidden = dispute_binding.final_state(computed, t)
            sent.append(challenger.settle_token(dispute_id, hidden, answer, self.deployed.rows, t, rival))
        else:
            step, at = self.random_step(computed)
            # a frivolous challenger's difference may be any size; a lie is beyond the tolerance by more than
            # the circuit's own error (a lie within tolerance + that error is what the referee cannot tell apart)
            low = 1 if kind == "honest" else tolerance + CIRCUIT_ERROR
            by = int(self.rng.choice([-1, 1])) * int(self.rng.integers(low, 8 * tolerance + 1))
            theirs, mine = (
                (computed, trace.moved(computed, step, at, by))
                if kind == "honest"
                else (
                    trace.moved(computed, step, at, by),
                    computed,
                )
            )
            dispute_id, opened = challenger.open(node_chain.address, signed)
            sent += [opened, node.post_root(dispute_id, theirs)]
            sent += game.bisect(node, challenger, dispute_id, theirs, mine, self.weights)
            state = node.state(dispute_id)
            assert theirs.shape.step_at(state["index"]) == step, (step, state)
            inputs = referee.attend_instances(theirs, self.weights, step, state["head"])
            if kind == "honest":
                proven = dispute_referee.prove_step(self.circuit, inputs)
                prove_s = proven.seconds
                sent.append(node.settle(dispute_id, theirs, proven.proof, proven.output_felts))
            else:
                _, felts = dispute_referee.step_outputs(self.circuit, inputs)  # the liar's best defence
                try:
                    node.settle(dispute_id, theirs, b"", felts)
                    raise AssertionError(f"dispute {number}: a settlement outside the tolerance was accepted")
                except ChainError as refused:
                    assert game.error_selector("OutsideTolerance(uint256,int256,int256)") in str(refused)
                devchain.rpc(self.anvil.rpc_url, "evm_increaseTime", [TURN + 1])
                devchain.rpc(self.anvil.rpc_url, "evm_mine")
                sent.append(challenger.timeout(dispute_id))
        phase = node.state(dispute_id)["phase"]
        slashed = stake.node(node_chain.address).slashed
        gas = sum(s.gas_used for s in sent)
        return Outcome(kind, slashed, phase == "NodeWon", gas, len(sent), prove_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 disputes")
    parser.add_argument("--disputes", type=int, default=None, help="how many (default 100, --quick 10)")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()
    count = args.disputes or (10 if args.quick else 100)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="zkinfer-bench-dispute-") as tmp,
        devchain.dev_chain(Path(tmp) / "anvil") as anvil,
    ):
        bench = Bench(anvil, Path(tmp), args.seed)
        setup_s = time.perf_counter() - started
        print(f"set up (model, attend circuit k {bench.circuit.logrows}, contracts): {setup_s:.1f} s")
        print("| # | kind | moves | gas | prove s | node slashed | node won |")
        print("|---|---|---:|---:|---:|---|---|")
        for number in range(count):
            kind = "honest" if number % 2 == 0 else ("attend lie" if number % 4 == 1 else "token lie")
            done = bench.play(number, kind)
            outcomes.append(done)
            prove = f"{done.prove_s:.1f}" if done.prove_s is not None else "-"
            print(f"| {number} | {kind} | {done.moves} | {done.gas:,} | {prove} | {done.slashed} | {done.node_won} |")
    return report(outcomes, time.perf_counter() - started)


def report(outcomes: list[Outcome], seconds: float) -> int:
    honest = [o for o in outcomes if o.kind == "honest"]
    liars = [o for o in outcomes if o.kind != "honest"]
    gas = [o.gas for o in outcomes]
    proofs = [o.prove_s for o in honest if o.prove_s is not None]
    print(f"\n{len(outcomes)} disputes in {seconds:.0f} s")
    print(
        f"honest nodes slashed: {sum(o.slashed for o in honest)} of {len(honest)} (must be 0); "
        f"won: {sum(o.node_won for o in honest)} of {len(honest)}"
    )
    for kind in ("attend lie", "token lie"):
        group = [o for o in liars if o.kind == kind]
        print(f"liars slashed ({kind}): {sum(o.slashed for o in group)} of {len(group)} (must be all)")
    print(f"gas per dispute: min {min(gas):,} / median {statistics.median(gas):,.0f} / max {max(gas):,}")
    for kind in ("honest", "attend lie", "token lie"):
        spent = [o.gas for o in outcomes if o.kind == kind]
        if spent:
            print(f"  {kind}: min {min(spent):,} / median {statistics.median(spent):,.0f} / max {max(spent):,}")
    if proofs:
        print(f"prove s: min {min(proofs):.1f} / median {statistics.median(proofs):.1f} / max {max(proofs):.1f}")
    wrong = sum(o.slashed or not o.node_won for o in honest) + sum(not o.slashed for o in liars)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
