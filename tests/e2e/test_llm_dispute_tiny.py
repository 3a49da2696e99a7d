"""The dispute game on a tiny GPT-2 (`tests/llm_tiny.py`: d 16, 2 heads, 2 layers, vocab 64, random weights)
with a real referee proof on a real anvil: cheap enough for CI, unlike `test_llm_dispute.py` (the bundled
model's k 17 circuit, marked slow). Its attend circuit (head width 8) is compiled at k ≤ 15 and proves in
seconds; the game contract is deployed for this model's shape and digest, slashing through the stake, and
each dispute is over a receipt the node signed (`dispute_harness`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests import dispute_harness
from tests.chain_harness import anvil, chain, other_account  # noqa: F401  (fixtures)
from tests.llm_tiny import HEADS, MAX_LOGROWS, VOCAB, WIDTH, write_tiny_gpt2
from zkinfer.chain import deploy, devchain, dispute_binding
from zkinfer.chain import dispute as game
from zkinfer.chain import verifier as chain_verifier
from zkinfer.chain.account import Chain
from zkinfer.core.formats.circuit import Circuit
from zkinfer.core.support.errors import ChainError
from zkinfer.llm import referee, substeps, trace

pytestmark = pytest.mark.e2e

ANSWER = [int(x) for x in np.random.default_rng(7).integers(0, VOCAB, 10)]  # 4 prompt, 6 completion tokens
TOKENS = ANSWER[:-1]  # the trace's: every position but the last, which produced nothing
PROMPT = 4
DISPUTED = trace.Step("attend", position=7, layer=1, key=4)
ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
def weights(model_dir: Path) -> substeps.Weights:
    return substeps.load(model_dir)


@pytest.fixture(scope="module")
def honest(weights: substeps.Weights) -> trace.Trace:
    return trace.compute(weights, TOKENS)


@pytest.fixture(scope="module")
def circuit(weights: substeps.Weights) -> Circuit:
    from zkinfer.chain import dispute_referee

    return dispute_referee.attend_circuit(weights, max_logrows=MAX_LOGROWS)


@pytest.fixture(scope="module")
def deployed(
    anvil: devchain.DevChain,  # noqa: F811
    chain: Chain,  # noqa: F811
    weights: substeps.Weights,
    circuit: Circuit,
    model_dir: Path,
) -> Iterator[dispute_harness.Game]:
    verifier = deploy.deploy(chain, chain_verifier.for_circuit(circuit.path).compiled)
    assert verifier.contract_address is not None
    params = game.Params.for_model(weights, turn=600)
    yield dispute_harness.deploy_game(anvil, chain, verifier.contract_address, (1, 3), params, model_dir)


@pytest.fixture(scope="module")
def contract(deployed: dispute_harness.Game) -> str:
    return deployed.address


MOVED = 2 * HEADS + 1  # the attend state's value a liar (or a differing challenger) moves: n[1], head 0's


def test_the_tiny_circuit_is_small(circuit: Circuit, weights: substeps.Weights) -> None:
    assert circuit.logrows <= MAX_LOGROWS and weights.head_width == WIDTH // HEADS


def test_a_lying_node_cannot_settle_and_loses_on_timeout(
    anvil: devchain.DevChain,  # noqa: F811
    deployed: dispute_harness.Game,
    contract: str,
    honest: trace.Trace,
    weights: substeps.Weights,
    circuit: Circuit,
) -> None:
    from zkinfer.chain import dispute_referee

    node_chain, challenger_chain = other_account(anvil, 1), other_account(anvil, 2)
    node, challenger = game.Dispute(node_chain, contract), game.Dispute(challenger_chain, contract)
    lie = trace.moved(honest, DISPUTED, MOVED, 5 * referee.TOLERANCE_STEPS)
    dispute_id, _ = challenger.open(node_chain.address, deployed.sampled_receipt(1, ANSWER, PROMPT))
    assert challenger.state(dispute_id)["positions"] == honest.shape.positions
    node.post_root(dispute_id, lie)
    rounds = game.bisect(node, challenger, dispute_id, lie, honest, weights)
    assert len(rounds) == 2 * lie.tree.depth + 2
    state = node.state(dispute_id)
    assert state["phase"] == "AwaitProof" and lie.shape.step_at(state["index"]) == DISPUTED and state["head"] == 0
    # its best defence is the circuit's output from its own (honest) inputs: out of tolerance of its claim
    outputs, felts = dispute_referee.step_outputs(circuit, referee.attend_instances(lie, weights, DISPUTED, 0))
    assert not referee.node_wins(referee.head_state(weights, lie.values(DISPUTED), 0), outputs)
    with pytest.raises(ChainError, match=game.error_selector("OutsideTolerance(uint256,int256,int256)")):
        node.settle(dispute_id, lie, b"", felts)
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
    circuit: Circuit,
) -> None:
    from zkinfer.chain import dispute_referee

    node_chain, challenger_chain = other_account(anvil, 3), other_account(anvil, 4)
    node, challenger = game.Dispute(node_chain, contract), game.Dispute(challenger_chain, contract)
    wrong = trace.moved(honest, DISPUTED, MOVED, 3)  # a challenger whose recomputation differs at one step
    dispute_id, _ = challenger.open(node_chain.address, deployed.sampled_receipt(3, ANSWER, PROMPT))
    node.post_root(dispute_id, honest)
    game.bisect(node, challenger, dispute_id, honest, wrong, weights)
    proven = dispute_referee.prove_step(circuit, referee.attend_instances(honest, weights, DISPUTED, 0))
    assert referee.node_wins(referee.head_state(weights, honest.values(DISPUTED), 0), proven.outputs)
    # an input the root does not hold (q of position t moved by one step) is refused before the proof
    qkv = honest.qkv.copy()
    qkv[DISPUTED.layer, DISPUTED.position, 0] += 1
    other_q = trace.assemble(honest.shape, honest.hidden, qkv, honest.states)
    with pytest.raises(ChainError, match=game.error_selector("BadOpening(string)")):
        node.settle(dispute_id, other_q, proven.proof, proven.output_felts)
    tampered = list(proven.output_felts)
    tampered[3] += 1  # within tolerance, but not what the proof proves
    with pytest.raises(ChainError, match=game.error_selector("InvalidProof()")):
        node.settle(dispute_id, honest, proven.proof, tampered)
    node.settle(dispute_id, honest, proven.proof, proven.output_felts)
    assert node.state(dispute_id)["phase"] == "NodeWon"
    assert node.credit(node_chain.address) == game.Params().bond
    assert not deployed.stake.node(node_chain.address).slashed


def test_a_game_for_a_model_without_heads_is_refused(chain: Chain) -> None:  # noqa: F811
    with pytest.raises(ChainError, match=game.error_selector("BadShape()")):
        game.deploy_dispute(
            chain, ZERO, ZERO, dispute_binding.Binding(ZERO, bytes(32), bytes(32), 1, 1), game.Params(heads=0)
        )
