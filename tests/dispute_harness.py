"""The dispute game deployed as in production, and signed LLM receipts made without torch, for the dispute tests
and `benchmarks/bench_dispute.py`.

`deploy_game`: ZkinferStake, ZkinferSignatures (SLASHER_ROLE), the game for the bundled model with the stake
(SLASHER_ROLE: slashFor, lockBond), and nodes bonded with their BLS keys registered. `greedy` decodes the
bundled model greedily with the numpy sub-step computation (`zkinfer.llm.substeps`, float64); `receipt`
commits and signs an answer as a node does.

The tokens are each position's argmax of ln_f(h_L[t]) · wteᵀ over the trace's own states, which give the
transformers model's logits within 0.05 (tests/unit/test_llm_trace.py); the TOPLOC commitments are of those
float64 final states in float32. Loading torch for the real engine would cost ~14 s per test module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests import chain_harness
from zkinfer.chain import dispute, dispute_binding
from zkinfer.chain.account import Chain
from zkinfer.chain.signatures import Signatures
from zkinfer.chain.stake_client import Stake
from zkinfer.core.crypto import identity
from zkinfer.llm import commitments, modeldir, sampling, substeps, trace, weights_tree
from zkinfer.llm import receipt as llm_receipt
from zkinfer.llm.receipt import LlmReceipt

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "llm" / "tiny-stdlib"
NODE_BOND = 10**18


@dataclass
class Game:
    address: str
    stake: Stake
    signatures: Signatures
    weights: substeps.Weights
    rows: weights_tree.WeightsTree
    keys: dict[int, identity.NodeKey]  # prefunded account index → the BLS key it registered
    deploy_gas: int
    model_dir: Path

    def sampled_receipt(self, node: int, tokens: list[int], prompt: int) -> LlmReceipt:
        """`sampled_receipt` for this game's model, signed by prefunded account `node`'s key."""
        return sampled_receipt(self.weights, self.keys[node], tokens, prompt, self.model_dir)


def deploy_game(
    anvil: Any,
    chain: Chain,
    attend_verifier: str,
    nodes: Iterable[int],
    params: dispute.Params | None = None,
    model_dir: Path = MODEL_DIR,
) -> Game:
    """The game for the model in `model_dir` (default: the bundled one), slashing through a fresh stake
    contract; `nodes` (prefunded account indices) bonded there with a fresh BLS key each registered in the
    signatures contract."""
    stake, _ = Stake.deploy(chain)
    signatures, _ = Signatures.deploy(chain, stake.address)
    signatures.grant_slasher()
    binding, weights, rows = dispute_binding.binding_for(signatures.address, model_dir)
    params = params or dispute.Params.for_model(weights)
    sent = dispute.deploy_dispute(chain, stake.address, attend_verifier, binding, params)
    assert sent.contract_address is not None
    stake.grant_slasher(sent.contract_address)
    keys = {index: bond_node(stake, signatures, chain_harness.other_account(anvil, index)) for index in nodes}
    return Game(sent.contract_address, stake, signatures, weights, rows, keys, sent.gas_used, model_dir)


def bond_node(stake: Stake, signatures: Signatures, account: Chain) -> identity.NodeKey:
    """`account` bonded on the stake contract with a fresh BLS key registered in the signatures contract."""
    key = identity.new_key()
    stake.as_signer(account).register_node(NODE_BOND)
    signatures.as_signer(account).register_key(key)
    return key


def final_states(weights: substeps.Weights, tokens: list[int]) -> np.ndarray:
    """ln_f of the trace's last-layer states at every position ([positions, width], float64)."""
    last = substeps.dequantize(trace.compute(weights, tokens).hidden[-1])
    return substeps.layer_norm(last, weights.final_norm_weight, weights.final_norm_bias)


def greedy(weights: substeps.Weights, prompt: list[int], count: int) -> tuple[list[int], np.ndarray]:
    """`count` tokens decoded greedily after `prompt`, and the final states that produced them."""
    tokens = list(prompt)
    for _ in range(count):
        states = final_states(weights, tokens)
        tokens.append(int(np.argmax(weights.token_embedding @ states[-1])))
    produced = final_states(weights, tokens[:-1])[len(prompt) - 1 :]
    return tokens[len(prompt) :], produced


def receipt(
    model_dir: Path,
    key: identity.NodeKey,
    prompt: list[int],
    completion: list[int],
    states: np.ndarray,
    request_id: str = "dispute-1",
    temperature: float = 0.0,
) -> LlmReceipt:
    """The receipt a node signs for this answer (a liar passes other `completion` tokens); `states` are the
    final states that produced the completion tokens (what the TOPLOC commitments are of)."""
    files = modeldir.file_digests(model_dir)
    # TOPLOC's k, or fewer for a tiny model whose smallest chunk holds fewer values
    last = len(states) % commitments.CHUNK_TOKENS or min(len(states), commitments.CHUNK_TOKENS)
    topk = min(commitments.TOPK, last * states.shape[1])
    document = LlmReceipt(
        schema_version=llm_receipt.SCHEMA_VERSION,
        issued_at="2026-12-08T00:00:00+00:00",
        request_id=request_id,
        model=llm_receipt.ModelSection(name=model_dir.name, digest=modeldir.model_digest(files), files=files),
        prompt=llm_receipt.PromptSection(kind="text", token_ids=prompt, digest=llm_receipt.prompt_digest(prompt)),
        sampling=llm_receipt.SamplingSection(
            sampler=sampling.SAMPLER, temperature=temperature, top_p=1.0, seed=0, max_tokens=len(completion)
        ),
        completion=llm_receipt.CompletionSection(token_ids=completion, finish_reason="length"),
        commitments=llm_receipt.CommitmentSection(
            scheme="toploc-bf16",
            activations="last-hidden-state",
            chunk_tokens=commitments.CHUNK_TOKENS,
            topk=topk,
            values=commitments.commit_chunks(states.astype(np.float32), k=topk),
        ),
        timings=llm_receipt.Timings(generate_ms=0.0, commit_ms=0.0),
    )
    return llm_receipt.sign(document, key)


def sampled_receipt(
    weights: substeps.Weights, key: identity.NodeKey, tokens: list[int], prompt: int, model_dir: Path = MODEL_DIR
) -> LlmReceipt:
    """A signed receipt at temperature 1 whose prompt is tokens[:prompt] and completion the rest (random ids
    stand for sampled tokens: a dispute's cost depends on the number of positions, not on which tokens)."""
    states = final_states(weights, tokens[:-1])[prompt - 1 :]
    return receipt(model_dir, key, tokens[:prompt], tokens[prompt:], states, temperature=1.0)
