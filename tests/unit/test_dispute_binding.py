"""What ties a disputed LLM answer to what its node signed, off chain: the trace claim's bytes, receipts with and
without a trace signature, the weights' rows, and the integer greedy rule against the float64 logits."""

from __future__ import annotations

import numpy as np
import pytest

from tests import dispute_harness
from zkinfer.core.crypto import bls, identity
from zkinfer.core.crypto.digest import digest_json
from zkinfer.core.support.errors import ZkinferError
from zkinfer.llm import lm_head, receipt, substeps, trace, trace_claim, weights_tree

PROMPT = [int(x) for x in np.random.default_rng(3).integers(1, 4096, 6)]


@pytest.fixture(scope="module")
def weights() -> substeps.Weights:
    return substeps.load(dispute_harness.MODEL_DIR)


@pytest.fixture(scope="module")
def rows(weights: substeps.Weights) -> weights_tree.WeightsTree:
    return weights_tree.build(weights)


@pytest.fixture(scope="module")
def answer(weights: substeps.Weights) -> tuple[list[int], np.ndarray]:
    return dispute_harness.greedy(weights, PROMPT, 3)


def test_the_trace_claim_is_154_fixed_bytes_of_the_receipts_own_fields(answer: tuple[list[int], np.ndarray]) -> None:
    key = identity.new_key()
    signed = dispute_harness.receipt(dispute_harness.MODEL_DIR, key, PROMPT, *answer)
    claim = signed.trace_claim()
    message = claim.message()
    assert len(message) == trace_claim.SIZE == 154 and message.startswith(b"zkinfer.llm-trace-claim/1\x00")
    assert trace_claim.parse(message) == claim
    assert claim.positions == len(PROMPT) + 3 - 1 and claim.greedy
    assert claim.model.hex() == signed.model.digest.removeprefix("sha256:")
    assert not message.startswith(receipt.SIGNING_DOMAIN)
    assert signed.trace_signature is not None
    assert bls.verify(key.public_key, message, bytes.fromhex(signed.trace_signature))
    with pytest.raises(ValueError):
        trace_claim.parse(message[:-1])


def test_a_receipt_without_a_trace_signature_dumps_and_verifies_as_before(
    answer: tuple[list[int], np.ndarray],
) -> None:
    key = identity.new_key()
    signed = dispute_harness.receipt(dispute_harness.MODEL_DIR, key, PROMPT, *answer)
    old = signed.model_copy(update={"trace_signature": None})  # what a node signed before trace claims
    document = old.model_dump(mode="json")
    assert "trace_signature" not in document and "trace_signature" not in old.model_dump_json()
    assert old.digest() == digest_json(document)
    assert old.canonical_bytes() == signed.canonical_bytes()  # the receipt's own signature is unchanged
    assert "trace claim" not in receipt.check_signature(receipt.parse(document))
    assert "trace claim" in receipt.check_signature(receipt.parse(signed.model_dump(mode="json")))


def test_a_trace_signature_over_other_tokens_fails_the_receipts_signature_check(
    answer: tuple[list[int], np.ndarray],
) -> None:
    key = identity.new_key()
    completion, states = answer
    signed = dispute_harness.receipt(dispute_harness.MODEL_DIR, key, PROMPT, completion, states)
    other = dispute_harness.receipt(dispute_harness.MODEL_DIR, key, PROMPT, [*completion[:-1], 9], states)
    swapped = other.model_copy(update={"trace_signature": signed.trace_signature})
    with pytest.raises(ZkinferError, match="trace_signature"):
        receipt.check_signature(swapped)


def test_embed_is_the_sum_of_the_committed_rows(weights: substeps.Weights, rows: weights_tree.WeightsTree) -> None:
    tokens = [*PROMPT, 4095, 0]
    computed = trace.compute(weights, tokens)
    for t, token in enumerate(tokens):
        assert (computed.hidden[0, t] == rows.rows[token] + rows.rows[rows.position_index(t)]).all()
    assert rows.tree.depth == 13 and len(rows.opening(5)[1]) == 13


def test_the_integer_greedy_rule_is_the_float_logits_within_a_hundredth(
    weights: substeps.Weights, rows: weights_tree.WeightsTree
) -> None:
    """The contract's logit gaps against float64 ln_f and LM head on the unrounded weights: the margin (0.25)
    covers this and the trace's 0.05 against the transformers model (test_llm_trace)."""
    tokens = [int(x) for x in np.random.default_rng(9).integers(1, 4096, 24)]
    computed = trace.compute(weights, tokens)
    norm = rows.norm_weight_index
    worst = 0.0
    for t in range(0, 24, 2):
        h = computed.hidden[-1, t]
        logits = weights.token_embedding @ substeps.layer_norm(
            substeps.dequantize(h), weights.final_norm_weight, weights.final_norm_bias
        )
        best = int(np.argmax(logits))
        for other in (*np.argsort(-logits)[1:4].tolist(), int(np.argmin(logits))):
            exact = lm_head.gap(h, rows.rows[norm], rows.rows[norm + 1], rows.rows[other], rows.rows[best])
            worst = max(worst, abs(exact / 2**lm_head.SCALE - (logits[other] - logits[best])))
        _, gap = lm_head.best_rival(h, rows.rows[norm], rows.rows[norm + 1], rows.rows[: rows.vocab], best)
        assert gap / 2**lm_head.SCALE < 0.01  # the float argmax loses to no rival beyond rounding
    assert worst < 0.01
