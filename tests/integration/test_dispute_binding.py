"""Disputes over LLM answers bound to what the node signed, on a real anvil with real BLS signatures and the real
stake contract: `open` takes only a trace claim the node's registered key signed; an `embed` leaf and a greedy
token are settled by the contract alone (no circuit, no ezkl); the loser is slashed through ZkinferStake's
slashFor, once per dispute."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from tests import chain_harness, dispute_harness
from zkinfer.chain import bls_points, devchain, dispute_binding
from zkinfer.chain import dispute as game
from zkinfer.core.crypto import identity
from zkinfer.core.support.errors import ChainError, ZkinferError
from zkinfer.llm import lm_head, referee, trace, trace_claim, trace_tree
from zkinfer.llm.receipt import LlmReceipt

anvil, chain = chain_harness.anvil, chain_harness.chain
MODEL = dispute_harness.MODEL_DIR
BOND = dispute_harness.NODE_BOND
ZERO = "0x" + "00" * 20
PROMPT = [int(x) for x in np.random.default_rng(11).integers(1, 4096, 8)]
GENERATED = 5
HONEST, LIAR, TOKEN_LIAR, CHALLENGER, UNREGISTERED, HIDER = 1, 2, 3, 4, 5, 6


@dataclass
class World:
    anvil: Any
    deployed: dispute_harness.Game
    completion: list[int]
    states: np.ndarray

    def game(self, index: int) -> game.Dispute:
        return game.Dispute(chain_harness.other_account(self.anvil, index), self.deployed.address)

    def account(self, index: int) -> str:
        return str(chain_harness.other_account(self.anvil, index).address)

    def receipt(self, index: int, completion: list[int] | None = None) -> LlmReceipt:
        return dispute_harness.receipt(
            MODEL, self.deployed.keys[index], PROMPT, completion or self.completion, self.states
        )

    def node(self, index: int) -> Any:
        return self.deployed.stake.node(self.account(index))


@pytest.fixture(scope="module")
def world(anvil: Any, chain: Any) -> Iterator[World]:
    deployed = dispute_harness.deploy_game(anvil, chain, ZERO, (HONEST, LIAR, TOKEN_LIAR, HIDER), game.Params(turn=600))
    completion, states = dispute_harness.greedy(deployed.weights, PROMPT, GENERATED)
    yield World(anvil, deployed, completion, states)


def _reverts(error: str) -> Any:
    return pytest.raises(ChainError, match=game.error_selector(error))


def test_open_refuses_an_answer_the_node_did_not_sign(world: World) -> None:
    challenger = world.game(CHALLENGER)
    honest = world.receipt(HONEST)
    claim, key, key_point, signature = dispute_binding.open_args(honest)
    node = world.account(HONEST)
    with pytest.raises(ZkinferError, match="no trace signature"):  # a receipt made before trace claims
        challenger.open(node, honest.model_copy(update={"trace_signature": None}))
    assert honest.signature is not None
    receipt_signature = bytes.fromhex(honest.signature.signature)
    with _reverts("InvalidClaimSignature()"):  # the receipt's own signature is over other bytes
        challenger.open_claim(node, claim, key, key_point, bls_points.g2_point(receipt_signature))
    other_tokens = replace(
        honest.trace_claim(), tokens=world.receipt(HONEST, [*world.completion[:-1], 7]).trace_claim().tokens
    )
    with _reverts("InvalidClaimSignature()"):  # the node's signature, over other tokens than these
        challenger.open_claim(node, other_tokens.message(), key, key_point, signature)
    _, liar_key, liar_point, liar_signature = dispute_binding.open_args(world.receipt(LIAR))
    with _reverts("NotTheNodesKey(address)"):  # another node's key (registered to it, not to this node)
        challenger.open_claim(node, claim, liar_key, liar_point, liar_signature)
    with _reverts("InvalidClaimSignature()"):  # this node's key, another node's signature
        challenger.open_claim(node, claim, key, key_point, liar_signature)
    with _reverts("NoRegisteredKey(address)"):
        challenger.open_claim(world.account(UNREGISTERED), claim, key, key_point, signature)
    with _reverts("WrongModel(bytes32)"):  # a claim over another model, signed by the node
        other_model = replace(honest.trace_claim(), model=bytes(32))
        forged = bls_points.g2_point(identity_sign(world.deployed.keys[HONEST], other_model.message()))
        challenger.open_claim(node, other_model.message(), key, key_point, forged)
    dispute_id, opened = challenger.open(node, honest)
    state = challenger.state(dispute_id)
    assert state["positions"] == len(PROMPT) + GENERATED - 1 and state["answer"] == _keccak(claim)
    assert world.node(HONEST).last_window_end > 0  # the node's bond is locked for the game
    print(f"\ngas: open over a signed claim {opened.gas_used}")


def test_the_game_pins_the_model_and_cannot_open_without_the_stakes_slasher_role(world: World, chain: Any) -> None:
    """What an auditor compares (the model digest and weights root recomputed from the model directory), and a
    game the stake does not let slash refuses every dispute at once rather than resolving one without a slash."""
    binding, _, rows = dispute_binding.binding_for(world.deployed.signatures.address, MODEL)
    functions = world.game(CHALLENGER).contract.functions
    assert functions.weightsRoot().call() == rows.root and functions.model().call() == binding.model
    unwired = game.deploy_dispute(chain, world.deployed.stake.address, ZERO, binding, game.Params(turn=600))
    assert unwired.contract_address is not None
    challenger = game.Dispute(chain_harness.other_account(world.anvil, CHALLENGER), unwired.contract_address)
    with _reverts("AccessControlUnauthorizedAccount(address,bytes32)"):  # lockBond is SLASHER_ROLE's
        challenger.open(world.account(HONEST), world.receipt(HONEST))


def identity_sign(key: identity.NodeKey, message: bytes) -> bytes:
    from zkinfer.core.crypto import bls

    return bls.sign(key.secret, message)


def _keccak(data: bytes) -> bytes:
    from eth_hash.auto import keccak

    return keccak(data)


def _bisect_to_leaf(
    node: game.Dispute, challenger: game.Dispute, dispute_id: int, theirs: trace.Trace, mine: trace.Trace
) -> None:
    for child in referee.descend(theirs.tree, mine.tree):
        node.reveal(dispute_id, theirs)
        state = challenger.state(dispute_id)
        challenger.pick(dispute_id, theirs.tree.children(state["level"], state["index"]), child)


def test_an_honest_embed_leaf_wins_and_a_wrong_token_loses_slashed_once_per_dispute(world: World) -> None:
    tokens = [*PROMPT, *world.completion]
    honest = dispute_binding.trace_of(world.deployed.weights, tokens)
    # a frivolous challenger whose recomputation embeds another token at position 3
    wrong = dispute_binding.trace_of(world.deployed.weights, [*tokens[:3], (tokens[3] + 1) % 4096, *tokens[4:]])
    node, challenger = world.game(HONEST), world.game(CHALLENGER)
    dispute_id, _ = challenger.open(world.account(HONEST), world.receipt(HONEST))
    node.post_root(dispute_id, honest)
    _bisect_to_leaf(node, challenger, dispute_id, honest, wrong)
    assert honest.shape.step_at(node.state(dispute_id)["index"]) == trace.Step("embed", 3)
    answer = dispute_binding.answer_of(world.receipt(HONEST))
    settled = node.settle_embed(dispute_id, honest, answer, world.deployed.rows)
    assert node.state(dispute_id)["phase"] == "NodeWon" and not world.node(HONEST).slashed
    print(f"\ngas: settleEmbed {settled.gas_used}")

    # a node whose trace embeds another token than the one it signed at position 2
    lie = dispute_binding.trace_of(world.deployed.weights, [*tokens[:2], (tokens[2] + 5) % 4096, *tokens[3:]])
    liar = world.game(LIAR)
    bond_before = world.node(LIAR).bond
    dispute_id, _ = challenger.open(world.account(LIAR), world.receipt(LIAR))
    liar.post_root(dispute_id, lie)
    _bisect_to_leaf(liar, challenger, dispute_id, lie, honest)
    with _reverts("NotAtLeaf()"):  # nothing to settle before the leaf's values are the node's committed ones
        challenger.settle_embed(dispute_id + 1, lie, answer, world.deployed.rows)
    liar.reveal_leaf(dispute_id, lie)
    claim, _ = answer = dispute_binding.answer_of(world.receipt(LIAR))
    other_tokens = trace_claim.tokens_bytes([*tokens[:2], (tokens[2] + 5) % 4096, *tokens[3:]])
    with _reverts("BadTokens()"):  # the tokens the liar embedded are not the ones it signed
        challenger.settle_embed(dispute_id, lie, (claim, other_tokens), world.deployed.rows)
    with _reverts("BadClaim()"):  # another claim than the disputed one
        challenger.settle_embed(dispute_id, lie, (claim[:-1] + b"\x01", answer[1]), world.deployed.rows)
    challenger.settle_embed(dispute_id, lie, answer, world.deployed.rows)  # the node's own leaf, the signed token
    assert challenger.state(dispute_id)["phase"] == "ChallengerWon"
    after = world.node(LIAR)
    assert after.slashed and after.bond == 0 and bond_before == BOND
    assert (
        world.deployed.stake.node(world.account(CHALLENGER)).balance == BOND // 2
    )  # the stake's share to the challenger
    assert challenger.credit(world.account(CHALLENGER)) == game.Params().bond  # its dispute bond back

    # a second lost dispute: resolved (the challenger's bond back), the stake refuses a second slash
    dispute_id, _ = challenger.open(world.account(LIAR), world.receipt(LIAR))
    devchain.rpc(world.anvil.rpc_url, "evm_increaseTime", [601])
    devchain.rpc(world.anvil.rpc_url, "evm_mine")
    sent = challenger.timeout(dispute_id)
    assert challenger.state(dispute_id)["phase"] == "ChallengerWon"
    from web3.logs import DISCARD  # here, not at import: web3 imported first raises the recursion limit (account.py)

    refused = challenger.contract.events.NotSlashed().process_receipt(sent.receipt, errors=DISCARD)
    assert len(refused) == 1 and refused[0]["args"]["reason"][:4].hex() == game.error_selector(
        "NothingAtStake(address)"
    )
    assert challenger.credit(world.account(CHALLENGER)) == 2 * game.Params().bond


def test_the_contracts_integer_rule_is_lm_heads(world: World) -> None:
    """`logitGap` (an eth_call) gives exactly `lm_head.gap` on the trace's states and random rows."""
    rows, rng = world.deployed.rows, np.random.default_rng(4)
    states = dispute_binding.trace_of(world.deployed.weights, [*PROMPT, *world.completion]).hidden[-1]
    norm = rows.norm_weight_index
    gap = world.game(CHALLENGER).contract.functions.logitGap
    for t, u, g in zip(
        rng.integers(0, len(states), 4), rng.integers(0, 4096, 4), rng.integers(0, 4096, 4), strict=True
    ):
        words = [rows.rows[i] for i in (norm, norm + 1, u, g)]
        expected = lm_head.gap(states[t], *words)
        assert gap(*(trace_tree.packed(x) for x in (states[t], *words))).call() == expected


def test_a_greedy_token_the_trace_does_not_produce_is_slashed(world: World) -> None:
    tokens = [*PROMPT, *world.completion]
    rows = world.deployed.rows
    # the honest answer: no token of it loses to a rival by more than the margin
    assert (
        dispute_binding.token_lie(dispute_binding.trace_of(world.deployed.weights, tokens), tokens, len(PROMPT), rows)
        is None
    )
    # a node that signs another last token, with a trace honestly computed over its own tokens
    forged = [*world.completion[:-1], (world.completion[-1] + 1) % 4096]
    lying = [*PROMPT, *forged]
    computed = dispute_binding.trace_of(world.deployed.weights, lying)
    found = dispute_binding.token_lie(computed, lying, len(PROMPT), rows)
    assert found is not None
    t, rival, gap = found
    assert t == len(lying) - 2 and gap > lm_head.MARGIN
    node, challenger = world.game(TOKEN_LIAR), world.game(CHALLENGER)
    signed = world.receipt(TOKEN_LIAR, forged)
    answer = dispute_binding.answer_of(signed)
    dispute_id, _ = challenger.open(world.account(TOKEN_LIAR), signed)
    node.post_root(dispute_id, computed)
    assert challenger.state(dispute_id)["root"] == computed.root  # the challenger recomputed the same trace
    hidden = dispute_binding.final_state(computed, t)  # so it opens the node's h_L[t] itself
    with _reverts("NotALie(int256)"):  # an earlier token, which the node's trace does produce
        challenger.settle_token(dispute_id, dispute_binding.final_state(computed, t - 1), answer, rows, t - 1, rival)
    with _reverts("NotLive()"):  # only the challenger makes this move
        node.settle_token(dispute_id, hidden, answer, rows, t, rival)
    settled = challenger.settle_token(dispute_id, hidden, answer, rows, t, rival)
    assert challenger.state(dispute_id)["phase"] == "ChallengerWon" and world.node(TOKEN_LIAR).slashed
    print(f"\ngas: settleToken {settled.gas_used}")


def test_a_node_hiding_its_trace_must_open_its_final_state_on_demand(world: World) -> None:
    """A liar that posts a root the challenger cannot recompute (one value moved by a grid step, within any
    referee's tolerance) still has to open h_L[t] when the challenger demands it, or lose."""
    forged = [*world.completion[:-1], (world.completion[-1] + 1) % 4096]
    lying = [*PROMPT, *forged]
    canonical = dispute_binding.trace_of(world.deployed.weights, lying)
    states = canonical.states.copy()
    states[0, 1, 0, 20] += 1
    hidden_trace = trace.assemble(canonical.shape, canonical.hidden, canonical.qkv, states)
    rows = world.deployed.rows
    t, rival, _ = dispute_binding.token_lie(canonical, lying, len(PROMPT), rows) or (0, 0, 0)
    node, challenger = world.game(HIDER), world.game(CHALLENGER)
    signed = world.receipt(HIDER, forged)
    answer = dispute_binding.answer_of(signed)
    dispute_id, _ = challenger.open(world.account(HIDER), signed)
    node.post_root(dispute_id, hidden_trace)
    assert challenger.state(dispute_id)["root"] != canonical.root
    with _reverts("BadOpening(string)"):  # the challenger's own h_L[t] is not a leaf of the node's root
        challenger.settle_token(dispute_id, dispute_binding.final_state(canonical, t), answer, rows, t, rival)
    with _reverts("NotAGeneratedToken(uint256)"):  # a prompt position produced no signed token
        challenger.demand_final_state(dispute_id, 0, answer)
    demanded = challenger.demand_final_state(dispute_id, t, answer)
    deadline = challenger.contract.functions.demands(dispute_id).call()[0]
    assert world.node(HIDER).last_window_end >= deadline  # the bond cannot leave before the demand can be claimed
    with _reverts("NoOpenDemand()"):
        challenger.final_state_timeout(dispute_id)
    opened = node.open_final_state(dispute_id, hidden_trace)
    print(f"\ngas: demandFinalState {demanded.gas_used}, openFinalState {opened.gas_used}")
    challenger.settle_token(dispute_id, challenger.opened_final_state(dispute_id), answer, rows, t, rival)
    assert challenger.state(dispute_id)["phase"] == "ChallengerWon" and world.node(HIDER).slashed
    # a node that lets the demand's turn pass loses (here already slashed: the game still resolves)
    dispute_id, _ = challenger.open(world.account(HIDER), signed)
    node.post_root(dispute_id, hidden_trace)
    challenger.demand_final_state(dispute_id, t, answer)
    devchain.rpc(world.anvil.rpc_url, "evm_increaseTime", [601])
    devchain.rpc(world.anvil.rpc_url, "evm_mine")
    with _reverts("NoOpenDemand()"):
        node.open_final_state(dispute_id, hidden_trace)
    world.game(UNREGISTERED).final_state_timeout(dispute_id)  # anyone may claim it
    assert challenger.state(dispute_id)["phase"] == "ChallengerWon"
