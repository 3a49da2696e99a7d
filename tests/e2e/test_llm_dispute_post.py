"""A dispute over an LLM answer that bisects to a `post` sub-step, settled on a real anvil with a real proof.

The post referee circuit of the disputed (layer, part) (k 17: LN2, the MLP and one quarter of the output
projection) is compiled and set up once (cached under $ZKINFER_HOME), its verifier registered with the
game; the node proves the quarter the challenger named. A lying node's leaf is refused before any proof.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.chain_harness import anvil, chain, other_account, settle_with_proof  # noqa: F401  (fixtures)
from zkinfer.chain import deploy, devchain
from zkinfer.chain import dispute as game
from zkinfer.chain import verifier as chain_verifier
from zkinfer.chain.account import Chain
from zkinfer.core.support.errors import ChainError
from zkinfer.llm import referee, substeps, trace

# slow as well: two k-17 key setups (post, and the attend verifier the game is deployed with) and one proof
# take minutes on 2 cores, more than CI's budget has left; `pytest -m slow tests/e2e/test_llm_dispute_post.py`
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = Path(__file__).resolve().parents[2] / "models" / "llm" / "tiny-stdlib"
TOKENS = [int(x) for x in np.random.default_rng(6).integers(1, 4096, 13)]  # 5 prompt, 8 completion: 12 positions
PROMPT = 5
NODE = 5
DISPUTED = trace.Step("post", position=9, layer=2)  # layer 2, part 0: the circuit bench_dispute sets up
COLUMN, PART = 5, 0  # column 5 lies in part 0 (columns 0 … 31)


def test_an_honest_node_settles_a_post_step_and_a_liar_cannot(
    anvil: devchain.DevChain,  # noqa: F811
    chain: Chain,  # noqa: F811
) -> None:
    from tests import dispute_harness
    from zkinfer.chain import dispute_referee

    attend = dispute_referee.attend_circuit(substeps.load(MODEL))
    attend_verifier = deploy.deploy(chain, chain_verifier.for_circuit(attend.path).compiled).contract_address
    assert attend_verifier is not None
    made = dispute_harness.deploy_game(anvil, chain, attend_verifier, (NODE,), game.Params(turn=600))
    weights = made.weights
    honest = trace.compute(weights, TOKENS[:-1])
    signed = made.sampled_receipt(NODE, TOKENS, PROMPT)
    post = dispute_referee.circuit(weights, "post", DISPUTED.layer, PART)
    verifiers = {"attend": attend_verifier}
    sent = deploy.deploy(chain, chain_verifier.for_circuit(post.path).compiled)
    assert sent.contract_address is not None
    verifiers["post"] = sent.contract_address
    owner = game.Dispute(chain, made.address)
    owner.register_verifier("post", DISPUTED.layer, PART, verifiers["post"])
    with pytest.raises(ChainError, match=game.error_selector("AlreadyRegistered(uint8,uint8,uint8)")):
        owner.register_verifier("post", DISPUTED.layer, PART, verifiers["attend"])

    node_chain, challenger_chain = other_account(anvil, NODE), other_account(anvil, 6)
    node, challenger = (
        game.Dispute(node_chain, made.address),
        game.Dispute(challenger_chain, made.address),
    )

    # an honest node against a challenger whose recomputation differs by 3 grid steps in that post step
    dispute_id, opened = challenger.open(node_chain.address, signed)
    posted = node.post_root(dispute_id, honest)
    rounds = game.bisect(node, challenger, dispute_id, honest, trace.moved(honest, DISPUTED, COLUMN, 3), weights)
    state = node.state(dispute_id)
    assert honest.shape.step_at(state["index"]) == DISPUTED and state["head"] == PART
    proven = dispute_referee.prove_step(post, referee.circuit_inputs(honest, weights, DISPUTED, PART))
    assert referee.node_wins(
        referee.part_values(weights, "post", honest.values(DISPUTED), PART),
        proven.outputs,
        referee.tolerance("post", DISPUTED.layer),
    )
    settled = settle_with_proof(node, dispute_id, honest, proven.proof, proven.output_felts, game.Params().bond)
    gas = [opened.gas_used, posted.gas_used, *(s.gas_used for s in rounds), settled.gas_used]
    print(f"\ngas: open {gas[0]}, root {gas[1]}, rounds {gas[2:-1]}, settle {gas[-1]}, total {sum(gas)}")

    # a node that moved that value by twice the tolerance: the contract refuses its leaf whatever it proves
    lie = trace.moved(honest, DISPUTED, COLUMN, 2 * referee.tolerance("post", DISPUTED.layer))
    dispute_id, _ = challenger.open(node_chain.address, signed)
    node.post_root(dispute_id, lie)
    game.bisect(node, challenger, dispute_id, lie, honest, weights)
    assert node.state(dispute_id)["head"] == PART
    with pytest.raises(ChainError, match=game.error_selector("OutsideTolerance(uint256,int256,int256)")):
        node.settle(dispute_id, lie, proven.proof, proven.output_felts)
    devchain.rpc(anvil.rpc_url, "evm_increaseTime", [601])
    devchain.rpc(anvil.rpc_url, "evm_mine")
    challenger.timeout(dispute_id)
    assert node.state(dispute_id)["phase"] == "ChallengerWon"
