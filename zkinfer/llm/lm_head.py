"""The greedy token rule the dispute contract applies: the final norm and the tied LM head, in integers.

At temperature 0 the token after position t is the argmax of the logits of h_L[t] (the trace's last
`post` leaf at t) after ln_f. The LM head is vocab × width (4096 × 128 here): too large for a circuit on
this machine and for the contract to compute whole, but a *lie* needs only two rows: the challenger names
a token u whose logit beats the signed token g's, and the contract computes logit(u) − logit(g) exactly
as `gap` does, from h_L[t] opened against the node's root and ln_f's and the two tokens' rows opened
against the weights root (`weights_tree`). The node loses when the gap exceeds `MARGIN`.

In integers, every division truncated toward zero as Solidity's (h at scale 2^12, D = width):

    c_i = D·h_i − Σh                      (D·2^12 times h_i − mean, exact)
    q   = isqrt(Σc_i² · 2^32 / D + ⌊1e-5 · 2^56⌉ · D²)    (2^16 · D · 2^12 · sqrt(var + ε), var at scale 1)
    x_i = c_i · 2^40 / q                  (the normalized value at scale 2^24)
    gap = Σ (x_i · w_i + b_i · 2^24) · (u_i − g_i)          (logit(u) − logit(g) at scale 2^48)

Why the margin is sound for an honest node: it signed g as the argmax of its engine's float32 logits, the
trace's float64 logits lie within 0.05 of those (tests/unit/test_llm_trace.py), so the float gap is at most
0.1; the integer rule differs from the float64 one only by the weights' rounding to 2^-12
(tests/unit/test_dispute_binding.py measures it: below 0.01 on the bundled model). A liar escapes only
where its token's logit is within MARGIN of the best one.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from zkinfer.llm import substeps
from zkinfer.llm.weights_tree import WeightsTree

SCALE: Final = 48  # the gap's scale: 2^48
EPSILON_2_56: Final = round(substeps.LN_EPSILON * 2**56)  # LayerNorm's epsilon at scale 2^56
MARGIN: Final = 1 << (SCALE - 2)  # 0.25 logits


def _tdiv(a: int, b: int) -> int:
    """a / b truncated toward zero (Solidity's signed division)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def normalized(hidden: np.ndarray) -> list[int]:
    """ln_f's (h − mean) / sqrt(var + ε) at scale 2^24, as the contract computes it."""
    h = [int(v) for v in hidden]
    width, total = len(h), sum(h)
    centred = [width * v - total for v in h]
    q = math.isqrt(sum(c * c for c in centred) * 2**32 // width + EPSILON_2_56 * width * width)
    return [_tdiv(c * 2**40, q) for c in centred]


def normed(hidden: np.ndarray, norm_weight: np.ndarray, norm_bias: np.ndarray) -> list[int]:
    """ln_f(h) at scale 2^36 (weight and bias as committed integers)."""
    return [x * int(w) + int(b) * 2**24 for x, w, b in zip(normalized(hidden), norm_weight, norm_bias, strict=True)]


def gap(
    hidden: np.ndarray, norm_weight: np.ndarray, norm_bias: np.ndarray, other: np.ndarray, signed: np.ndarray
) -> int:
    """logit(other) − logit(signed) at scale 2^48, exactly as the contract computes it."""
    y = normed(hidden, norm_weight, norm_bias)
    return sum(v * (int(u) - int(g)) for v, u, g in zip(y, other, signed, strict=True))


def best_rival(
    hidden: np.ndarray, norm_weight: np.ndarray, norm_bias: np.ndarray, embedding: np.ndarray, signed: int
) -> tuple[int, int]:
    """The token a challenger names against `signed`: the highest integer-rule logit other than it, and its
    exact gap (the argmax in float64 over the integer rule's normalized values, then the exact gap)."""
    y = np.asarray([float(v) for v in normed(hidden, norm_weight, norm_bias)])
    logits = embedding.astype(np.float64) @ y
    logits[signed] = -np.inf
    rival = int(np.argmax(logits))
    return rival, gap(hidden, norm_weight, norm_bias, embedding[rival], embedding[signed])


def first_lie(
    last_hidden: np.ndarray, tokens: list[int], prompt_tokens: int, weights: WeightsTree
) -> tuple[int, int, int] | None:
    """The first position t whose signed next token (tokens[t + 1]) a rival beats by more than MARGIN under
    the integer rule, from a trace's last-layer states ([positions, width]): (t, rival, gap), or None."""
    norm = weights.norm_weight_index
    for t in range(max(prompt_tokens - 1, 0), len(tokens) - 1):
        signed = tokens[t + 1]
        rival, found = best_rival(
            last_hidden[t], weights.rows[norm], weights.rows[norm + 1], weights.rows[: weights.vocab], signed
        )
        if found > MARGIN:
            return t, rival, found
    return None
