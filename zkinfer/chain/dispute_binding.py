"""The binding half of the dispute game (`contracts/ZkinferDisputeBinding.sol`): what `open` takes from a signed
LLM receipt, and the two steps the contract settles alone (`embed`, a greedy token).

A receipt's trace claim and its trace signature (`zkinfer.llm.receipt`, `trace_claim`) go to `open` with the
node's key uncompressed beside the compressed one (`bls_points`); the contract checks the key is the one the
node registered in ZkinferSignatures and the signature is over the claim. The game is deployed for one
model: its digest and the root of its embedding and final-norm rows (`zkinfer.llm.weights_tree`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zkinfer.chain import bls_points
from zkinfer.core.support.errors import ZkinferError
from zkinfer.llm import lm_head, modeldir, substeps, trace, trace_claim, trace_tree, weights_tree
from zkinfer.llm.receipt import LlmReceipt


@dataclass(frozen=True)
class Binding:
    """The constructor's binding (ZkinferDisputeBinding.Binding): who holds the keys, which model, its rows."""

    keys: str  # the ZkinferSignatures contract
    model: bytes  # the model digest's 32 bytes
    weights_root: bytes
    vocab: int
    context: int
    margin: int = lm_head.MARGIN

    def as_tuple(self) -> tuple[str, bytes, bytes, int, int, int]:
        return (self.keys, self.model, self.weights_root, self.vocab, self.context, self.margin)


def binding_for(keys: str, model_dir: Path) -> tuple[Binding, substeps.Weights, weights_tree.WeightsTree]:
    """The binding of the model in `model_dir` (its digest, its weights' root), with its weights and rows."""
    weights = substeps.load(model_dir)
    rows = weights_tree.build(weights)
    digest = bytes.fromhex(modeldir.digest(model_dir).removeprefix("sha256:"))
    return Binding(keys, digest, rows.root, rows.vocab, rows.context), weights, rows


def open_args(receipt: LlmReceipt) -> tuple[bytes, bytes, bytes, bytes]:
    """`open`'s claim, compressed key, key point and signature point; ZkinferError when the receipt has no
    trace signature (a receipt made before trace claims cannot be disputed on chain)."""
    if receipt.signature is None or receipt.trace_signature is None:
        raise ZkinferError(
            f"receipt {receipt.request_id}: no trace signature, so it cannot be disputed on chain (the node signs "
            "one with every receipt since trace claims exist)"
        )
    key = bytes.fromhex(receipt.signature.public_key.removeprefix("0x"))
    signature = bytes.fromhex(receipt.trace_signature)
    return receipt.trace_claim().message(), key, bls_points.g1_point(key), bls_points.g2_point(signature)


def trace_of(weights: substeps.Weights, tokens: list[int]) -> trace.Trace:
    """The trace a dispute over these tokens is about: every position but the last (which produced nothing)."""
    return trace.compute(weights, tokens[:-1])


Opening = tuple[bytes, list[bytes]]  # a leaf's words and its binary siblings, leaf up: the contracts' Opening
Answer = tuple[bytes, bytes]  # the signed claim and the token list (4-byte words): the binding's Answer


def answer_of(receipt: LlmReceipt) -> Answer:
    """What the moves that read the disputed answer take: its trace claim and its prompt ‖ completion ids."""
    tokens = [*receipt.prompt.token_ids, *receipt.completion.token_ids]
    return receipt.trace_claim().message(), trace_claim.tokens_bytes(tokens)


def _opening(computed: trace.Trace, step: trace.Step) -> Opening:
    index = computed.shape.index(step)
    return trace_tree.packed(computed.values(step)), computed.tree.proof(index)


def embed_args(
    dispute_index: int, computed: trace.Trace, answer: Answer, rows: weights_tree.WeightsTree
) -> tuple[int, bytes, Answer, Opening, Opening]:
    """`settleEmbed`'s arguments after the dispute id, for the leaf at `dispute_index` of `computed` (the
    node's trace): t, the leaf's words, the answer, the token's row and the position's row."""
    step = computed.shape.step_at(dispute_index)
    t = step.position
    values, _ = _opening(computed, step)
    token = int.from_bytes(answer[1][4 * t : 4 * t + 4], "big")
    return t, values, answer, rows.opening(token), rows.opening(rows.position_index(t))


def final_state(computed: trace.Trace, t: int) -> Opening:
    """h_L[t] of a trace (its last `post` leaf at t) with its siblings."""
    return _opening(computed, trace.Step("post", t, computed.shape.layers - 1))


def token_args(
    hidden: Opening, answer: Answer, rows: weights_tree.WeightsTree, t: int, rival: int
) -> tuple[int, int, Answer, Opening, list[Opening]]:
    """`settleToken`'s arguments after the dispute id: the node's h_L[t] (`final_state`, or as the node opened
    it on demand), ln_f's rows and the rival's and the signed token's rows opened against the weights root."""
    norm = rows.norm_weight_index
    signed = int.from_bytes(answer[1][4 * (t + 1) : 4 * (t + 2)], "big")
    openings = [rows.opening(i) for i in (norm, norm + 1, rival, signed)]
    return t, rival, answer, hidden, openings


def token_lie(
    computed: trace.Trace, tokens: list[int], prompt_tokens: int, rows: weights_tree.WeightsTree
) -> tuple[int, int, int] | None:
    """(t, rival, gap) of the first signed token the trace does not produce (greedy), or None."""
    return lm_head.first_lie(computed.hidden[-1], tokens, prompt_tokens, rows)
