"""The dispute contract's `pre` and `post` settling on anvil without a proof: verifier registration, the inputs
it opens against the root and the columns it holds the node's leaf to (`ZkinferDisputeSteps.sol`).

No referee circuit is built here (the e2e tests prove; they are slow): the honest node's "proven" outputs
are its own committed values, which pass every check before the verifier call, so an unregistered
verifier is what stops it (`NoVerifier`), and a lie stops at `OutsideTolerance` naming the moved column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import dispute_harness
from tests.chain_harness import anvil, chain, other_account  # noqa: F401  (fixtures)
from zkinfer.chain import devchain
from zkinfer.chain import dispute as game
from zkinfer.chain.account import Chain
from zkinfer.core.support.errors import ChainError
from zkinfer.llm import referee, trace, trace_tree

MODEL = Path(__file__).resolve().parents[2] / "models" / "llm" / "tiny-stdlib"
TOKENS = [5, 900, 17, 3001, 42]  # 2 prompt, 3 completion: a trace of 4 positions
PROMPT = 2
NODE = 1


def felts(values: np.ndarray) -> list[int]:
    return [int(v) % trace_tree.FIELD_MODULUS for v in values.tolist()]


def test_pre_and_post_leaves_are_opened_and_held_to_the_named_part(
    anvil: devchain.DevChain,  # noqa: F811
    chain: Chain,  # noqa: F811
) -> None:
    node_chain, challenger_chain = other_account(anvil, NODE), other_account(anvil, 2)
    # the attend verifier is never called here: any address
    deployed = dispute_harness.deploy_game(anvil, chain, node_chain.address, (NODE,), game.Params(turn=600))
    weights = deployed.weights
    honest = trace.compute(weights, TOKENS[:-1])
    signed = deployed.sampled_receipt(NODE, TOKENS, PROMPT)
    owner = game.Dispute(chain, deployed.address)
    node, challenger = (game.Dispute(c, deployed.address) for c in (node_chain, challenger_chain))
    with pytest.raises(ChainError, match=game.error_selector("NotRegistrar(address)")):
        node.register_verifier("post", 0, 0, node_chain.address)
    with pytest.raises(ChainError, match=game.error_selector("BadVerifierKey(uint8,uint8,uint8)")):
        owner.register_verifier("post", 4, 0, node_chain.address, 64)  # the model has layers 0 … 3

    cases = [  # (step, column moved, the part it lies in, the leaf word the contract names)
        (trace.Step("pre", 3, 1), 2 * weights.width + 70, 2, 2 * weights.width + 70),  # v, head 2
        (trace.Step("post", 2, 3), 100, 3, 100),
    ]
    for step, column, part, word in cases:
        tolerance = referee.tolerance(step.kind, step.layer)
        # an honest node: every check before the verifier passes (openings, layout, tolerance)
        dispute_id, _ = challenger.open(node_chain.address, signed)
        node.post_root(dispute_id, honest)
        game.bisect(node, challenger, dispute_id, honest, trace.moved(honest, step, column, 3), weights)
        state = node.state(dispute_id)
        assert honest.shape.step_at(state["index"]) == step and state["head"] == part
        own = felts(referee.part_values(weights, step.kind, honest.values(step), part))
        with pytest.raises(ChainError, match=game.error_selector("NoVerifier(uint256)")):
            node.settle(dispute_id, honest, b"", own)
        # a node that moved the value by twice the tolerance: refused at that word, whatever it proves
        lie = trace.moved(honest, step, column, 2 * tolerance)
        dispute_id, _ = challenger.open(node_chain.address, signed)
        node.post_root(dispute_id, lie)
        game.bisect(node, challenger, dispute_id, lie, honest, weights)
        with pytest.raises(ChainError, match=game.error_selector("OutsideTolerance(uint256,int256,int256)")) as info:
            node.settle(dispute_id, lie, b"", own)
        assert format(word, "064x") in str(info.value)
    with pytest.raises(ChainError, match=game.error_selector("RegistrationClosed()")):
        owner.register_verifier("pre", 0, 0, node_chain.address)
