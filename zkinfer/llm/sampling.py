"""Reproducible sampling: every random draw comes from (seed, request id, position), so anyone holding
the model redoes it, and a verifier can tell a drawn token from a chosen one.

The sampler (`SAMPLER`, recorded in each receipt) for the token at completion position i:
1. u = the first 53 bits of SHA-256(domain ‖ seed ‖ request id ‖ i), as a number in [0, 1):
   a counter-based generator, so no state carries from one token or request to the next.
2. temperature 0: the highest logit (ties: the lowest token id); no draw.
3. otherwise p = softmax(logits / temperature) in float64; with top_p < 1, the nucleus is the
   smallest set of most probable tokens (ties: lower id first) whose mass reaches top_p.
4. the token is the inverse CDF at u over the nucleus renormalised, **in token-id order**: its
   tokens laid end to end by id, the one whose interval holds u · (nucleus mass).

Token-id order, not probability order, is deliberate: two machines that compute a probability a
hair apart then move each interval's ends by that hair, whereas sorting by probability would swap
two near-equal tokens and move whole intervals.

The margin rule (`accepts`): a verifier's recomputed logits differ from the node's by float noise
(thread counts, batch shapes, a KV cache), so it accepts a token that is not its own draw only at a
near-tie: for temperature 0, a token whose logit is within `LOGIT_MARGIN` of the highest; for
sampling, a token whose interval (for the verifier's nucleus, or one whose top_p boundary lies
within `PROBABILITY_MARGIN` of the verifier's) reaches within `PROBABILITY_MARGIN` of u. A liar
who picks other tokens lands in that margin with probability about 2 · PROBABILITY_MARGIN a token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

SAMPLER: Final[Literal["zkinfer.llm-sample/1"]] = "zkinfer.llm-sample/1"
_DOMAIN = SAMPLER.encode() + b"\x00"
LOGIT_MARGIN = 1e-3
PROBABILITY_MARGIN = 1e-4
MAX_SEED = (1 << 63) - 1


@dataclass(frozen=True)
class Params:
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature: {self.temperature}; give 0 to 2")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p: {self.top_p}; give a number above 0, at most 1")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed: {self.seed}; give 0 to 2^63 - 1")


def uniform(seed: int, request_id: str, position: int) -> float:
    """The draw for completion position `position` of request `request_id` under `seed`, in [0, 1)."""
    rid = request_id.encode()
    message = _DOMAIN + seed.to_bytes(8, "big") + len(rid).to_bytes(4, "big") + rid + position.to_bytes(8, "big")
    return (int.from_bytes(hashlib.sha256(message).digest()[:8], "big") >> 11) / float(1 << 53)


def probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / temperature) in float64, row by row (the last axis is the vocabulary).

    In place in one new array: a fresh 8 MB array costs more in page faults than the arithmetic."""
    z = np.array(logits, dtype=np.float64)
    z /= temperature
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _by_probability(p: np.ndarray) -> np.ndarray:
    """Token ids, most probable first (ties: lower id first), row by row."""
    return np.argsort(-p, axis=-1, kind="stable")


def _nucleus_size(cumulative: np.ndarray, top_p: float) -> np.ndarray:
    """Per row: the fewest most probable tokens whose mass reaches top_p."""
    return np.asarray(np.minimum(cumulative.shape[-1], (cumulative < top_p).sum(axis=-1) + 1))


CANDIDATES = 256  # how many most probable tokens `_nucleus_mask` sorts first (more where the nucleus is wider)


def _sorted_prefix(p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first tokens of `_by_probability`'s order, found by a partial sort: (ids [rows, k],
    how many of them are surely that order's prefix). argpartition finds the k most probable in
    linear time, a sort by id then a stable sort by probability orders them as `_by_probability`
    does; the tokens more probable than the k-th are exactly the prefix (a token tied with the k-th
    may have been left out)."""
    top = np.sort(np.argpartition(-p, k - 1, axis=-1)[:, :k], axis=-1)  # ids ascending
    ids = np.take_along_axis(top, np.argsort(-np.take_along_axis(p, top, axis=-1), axis=-1, kind="stable"), axis=-1)
    values = np.take_along_axis(p, ids, axis=-1)
    return ids, (values > values[:, -1:]).sum(axis=-1)


def _nucleus_mask(p: np.ndarray, top_p: float) -> np.ndarray:
    """Rows of booleans: which tokens are in the top_p nucleus (all of them when top_p is 1).

    The same sets as a full sort of every row (`_by_probability`, then `_nucleus_size` over its
    cumulative sums, which agree bit for bit over any prefix): rows whose nucleus ends inside the
    surely ordered prefix of the CANDIDATES most probable tokens are done from those; the others
    (a flat distribution) are sorted in full."""
    rows, vocab = p.shape
    mask = np.zeros(p.shape, dtype=bool)
    if top_p >= 1.0:
        mask[:] = True
        return mask
    if rows == 0:
        return mask
    k = min(CANDIDATES, vocab)
    ids, sure = _sorted_prefix(p, k)
    sizes = _nucleus_size(np.cumsum(np.take_along_axis(p, ids, axis=-1), axis=-1), top_p)
    done = (sizes <= sure) | (k == vocab)
    inside = np.arange(k)[None, :] < sizes[:, None]
    np.put_along_axis(mask, ids, inside, axis=-1)
    rest = np.flatnonzero(~done)
    if len(rest):
        order = _by_probability(p[rest])
        full = _nucleus_size(np.cumsum(np.take_along_axis(p[rest], order, axis=-1), axis=-1), top_p)
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.broadcast_to(np.arange(vocab), order.shape).copy(), axis=-1)
        mask[rest] = ranks < full[:, None]
    return mask


def nucleus(p: np.ndarray, top_p: float) -> np.ndarray:
    """The top_p nucleus of one distribution as sorted token ids."""
    return np.flatnonzero(_nucleus_mask(p[None, :], top_p)[0])


BLOCK_ROWS = 32  # positions a verifier's `draws` works on at once: its float64 arrays stay in cache


def draws(logits: np.ndarray, params: Params, us: np.ndarray) -> np.ndarray:
    """The sampler's token for each row of logits ([positions, vocab]) and its draw in `us`: what
    generation does one row at a time and a verifier does for a whole answer at once (the same
    arithmetic row by row, in blocks of BLOCK_ROWS rows)."""
    logits = np.asarray(logits)
    if params.temperature == 0.0:
        return np.asarray(np.argmax(logits, axis=-1))  # the first (lowest id) of equal maxima
    us = np.asarray(us, dtype=np.float64)
    return np.concatenate(
        [_draws(logits[i : i + BLOCK_ROWS], params, us[i : i + BLOCK_ROWS]) for i in range(0, len(logits), BLOCK_ROWS)]
        or [np.zeros(0, dtype=np.int64)]
    )


def _draws(logits: np.ndarray, params: Params, us: np.ndarray) -> np.ndarray:
    p = probabilities(logits, params.temperature)
    vocab = p.shape[-1]
    if params.top_p >= 1.0:
        last = np.full(len(p), vocab - 1)
    else:
        mask = _nucleus_mask(p, params.top_p)
        p[~mask] = 0.0  # in token-id order; tokens outside add exactly 0
        last = vocab - 1 - np.argmax(mask[:, ::-1], axis=-1)
    cdf = np.cumsum(p, axis=-1, out=p)
    target = us * cdf[:, -1]
    # the first token whose cumulative mass passes u · mass: as cdf never decreases, the count of those that do not
    first = np.array(
        [np.searchsorted(row, t, side="right") for row, t in zip(cdf, target, strict=True)], dtype=np.int64
    )
    return np.where(first < vocab, first, last)  # u · mass rounded up to the whole mass: the last (nucleus) token


def draw(logits: np.ndarray, params: Params, u: float) -> int:
    """The token the sampler gives for one position's logits and its draw."""
    return int(draws(np.asarray(logits)[None, :], params, np.array([u]))[0])


def _candidate_nuclei(p: np.ndarray, top_p: float) -> list[np.ndarray]:
    """The verifier's nucleus, and those whose boundary another machine's float noise could have given."""
    if top_p >= 1.0:
        return [np.arange(len(p))]
    order = _by_probability(p)
    cumulative = np.cumsum(p[order])
    size = int(_nucleus_size(cumulative, top_p))
    sizes = {size}
    if size > 1 and cumulative[size - 2] >= top_p - PROBABILITY_MARGIN:
        sizes.add(size - 1)
    if size < len(p) and cumulative[size - 1] < top_p + PROBABILITY_MARGIN:
        sizes.add(size + 1)
    nuclei = [np.sort(order[:s]) for s in sorted(sizes)]
    # near-equal probabilities across the boundary: either could be the last one in
    last, first_out = size - 1, size
    while first_out < len(p) and p[order[last]] - p[order[first_out]] <= PROBABILITY_MARGIN:
        nuclei.append(np.sort(np.concatenate([order[:last], order[first_out : first_out + 1]])))
        first_out += 1
    return nuclei


def _interval(p: np.ndarray, tokens: np.ndarray, token: int) -> tuple[float, float] | None:
    """Where `token` lies on [0, 1) in the id-ordered CDF over `tokens`; None if it is not among them."""
    where = int(np.searchsorted(tokens, token))
    if where >= len(tokens) or tokens[where] != token:
        return None
    mass = p[tokens]
    total = float(mass.sum())
    low = float(mass[:where].sum()) / total
    return low, low + float(mass[where]) / total


def accepts(logits: np.ndarray, params: Params, u: float, token: int, drawn: int | None = None) -> tuple[bool, bool]:
    """(exact, accepted): whether `token` is the verifier's own draw (`drawn`, when already known), and
    whether the margin rule accepts it."""
    if not 0 <= token < len(logits):
        return False, False
    if (draw(logits, params, u) if drawn is None else drawn) == token:
        return True, True
    if params.temperature == 0.0:
        return False, bool(logits[token] >= float(np.max(logits)) - LOGIT_MARGIN)
    p = probabilities(logits, params.temperature)
    for tokens in _candidate_nuclei(p, params.top_p):
        interval = _interval(p, tokens, token)
        if interval is not None and interval[0] - PROBABILITY_MARGIN <= u < interval[1] + PROBABILITY_MARGIN:
            return False, True
    return False, False
