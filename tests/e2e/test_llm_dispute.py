"""A dispute over an LLM answer on a real anvil with a real referee proof: bisection to one `attend` sub-step.

One referee circuit (one head's attend update, k 17) is compiled and set up once per session (cached
under $ZKINFER_HOME); only the honest node's game proves. A lying node cannot settle its altered leaf and
loses on timeout (slashed through the stake); an honest node proves the leaf a frivolous challenger picked and
takes its bond. Each dispute is over a receipt the node signed (its trace claim: `dispute_harness`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import dispute_harness
from tests.chain_harness import anvil, chain, other_account  # noqa: F401  (fixtures)
from zkinfer.chain import deploy, devchain
from zkinfer.chain import dispute as game
from zkinfer.chain import verifier as chain_verifier
from zkinfer.chain.account import Chain
from zkinfer.core.support.errors import ChainError
from zkinfer.llm import referee, substeps, trace

# slow as well: the attend circuit's compile and key setup (k 17) and one proof take ~4 min on 2 quiet cores
# (10 min at load 17), more than CI's budget has left; `pytest -m slow tests/e2e/test_llm_dispute.py` runs it
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = Path(__file__).resolve().parents[2] / "models" / "llm" / "tiny-stdlib"
TOKENS = [int(x) for x in np.random.default_rng(5).integers(1, 4096, 17)]  # 8 prompt, 9 completion: 16 positions
PROMPT = 8
DISPUTED = trace.Step("attend", position=11, layer=2, key=6)


@pytest.fixture(scope="module")
def weights() -> substeps.Weights:
    return substeps.load(MODEL)


@pytest.fixture(scope="module")
def honest(weights: substeps.Weights) -> trace.Trace:
    return trace.compute(weights, TOKENS[:-1])


MOVED = 20  # the attend state's value a liar (or a differing challenger) moves: a numerator of head 0


@pytest.fixture(scope="module")
def deployed(
    anvil: devchain.DevChain,  # noqa: F811
    chain: Chain,  # noqa: F811
    weights: substeps.Weights,
) -> Iterator[dispute_harness.Game]:
    from zkinfer.chain import dispute_referee

    circuit = dispute_referee.attend_circuit(weights)
    verifier = deploy.deploy(chain, chain_verifier.for_circuit(circuit.path).compiled)
    assert verifier.contract_address is not None
    yield dispute_harness.deploy_game(anvil, chain, verifier.contract_address, (1, 3), game.Params(turn=600))


@pytest.fixture(scope="module")
def contract(deployed: dispute_harness.Game) -> str:
    return deployed.address


def signed(deployed: dispute_harness.Game, weights: substeps.Weights, node: int) -> Any:
    return dispute_harness.sampled_receipt(weights, deployed.keys[node], TOKENS, PROMPT)


def test_a_lying_node_cannot_settle_and_loses_on_timeout(
    anvil: devchain.DevChain,  # noqa: F811
    deployed: dispute_harness.Game,
    contract: str,
    honest: trace.Trace,
    weights: substeps.Weights,
) -> None:
    from zkinfer.chain import dispute_referee

    node_chain, challenger_chain = other_account(anvil, 1), other_account(anvil, 2)
    node, challenger = game.Dispute(node_chain, contract), game.Dispute(challenger_chain, contract)
    lie = trace.moved(honest, DISPUTED, MOVED, 5 * referee.TOLERANCE_STEPS)
    dispute_id, _ = challenger.open(node_chain.address, signed(deployed, weights, 1))
    assert challenger.state(dispute_id)["positions"] == honest.shape.positions
    node.post_root(dispute_id, lie)
    rounds = game.bisect(node, challenger, dispute_id, lie, honest, weights)
    assert len(rounds) == 2 * lie.tree.depth + 2
    state = node.state(dispute_id)
    assert state["phase"] == "AwaitProof" and lie.shape.step_at(state["index"]) == DISPUTED and state["head"] == 0
    # the node's best defence: the circuit's output from its own inputs, which is the honest one; the
    # contract refuses the claim before it looks at any proof
    outputs, felts = dispute_referee.step_outputs(
        dispute_referee.attend_circuit(weights), referee.attend_instances(lie, weights, DISPUTED, 0)
    )
    assert not referee.node_wins(referee.head_state(weights, lie.values(DISPUTED), 0), outputs)
    with pytest.raises(ChainError, match=game.error_selector("OutsideTolerance(uint256,int256,int256)")):
        node.settle(dispute_id, lie, b"", felts)
    with pytest.raises(ChainError, match=game.error_selector("TurnNotOver(uint64)")):
        challenger.timeout(dispute_id)
    devchain.rpc(anvil.rpc_url, "evm_increaseTime", [601])
    devchain.rpc(anvil.rpc_url, "evm_mine")
    challenger.timeout(dispute_id)
    assert node.state(dispute_id)["phase"] == "ChallengerWon"
    assert challenger.credit(challenger_chain.address) == game.Params().bond
    assert deployed.stake.node(node_chain.address).slashed  # through the stake contract's slashFor


def test_an_honest_node_proves_the_step_and_takes_a_frivolous_challengers_bond(
    anvil: devchain.DevChain,  # noqa: F811
    deployed: dispute_harness.Game,
    contract: str,
    honest: trace.Trace,
    weights: substeps.Weights,
) -> None:
    from zkinfer.chain import dispute_referee

    node_chain, challenger_chain = other_account(anvil, 3), other_account(anvil, 4)
    node, challenger = game.Dispute(node_chain, contract), game.Dispute(challenger_chain, contract)
    wrong = trace.moved(honest, DISPUTED, MOVED, 3)  # a challenger whose recomputation differs at one step
    dispute_id, opened = challenger.open(node_chain.address, signed(deployed, weights, 3))
    posted = node.post_root(dispute_id, honest)
    rounds = game.bisect(node, challenger, dispute_id, honest, wrong, weights)
    proven = dispute_referee.prove_step(
        dispute_referee.attend_circuit(weights), referee.attend_instances(honest, weights, DISPUTED, 0)
    )
    assert referee.node_wins(referee.head_state(weights, honest.values(DISPUTED), 0), proven.outputs)
    tampered = list(proven.output_felts)
    tampered[3] += 1  # within tolerance, but not what the proof proves
    with pytest.raises(ChainError, match=game.error_selector("InvalidProof()")):
        node.settle(dispute_id, honest, proven.proof, tampered)
    settled = node.settle(dispute_id, honest, proven.proof, proven.output_felts)
    assert node.state(dispute_id)["phase"] == "NodeWon"
    assert node.credit(node_chain.address) == game.Params().bond
    assert not deployed.stake.node(node_chain.address).slashed
    gas = [opened.gas_used, posted.gas_used, *(s.gas_used for s in rounds), settled.gas_used]
    print(f"\ngas: open {gas[0]}, root {gas[1]}, rounds {gas[2:-1]}, settle {gas[-1]}, total {sum(gas)}")
    assert sum(gas) < 2_000_000
