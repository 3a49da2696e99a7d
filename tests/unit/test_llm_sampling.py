"""The seeded sampler: draws from (seed, request id, position), top_p, and the margin rule for near-ties."""

from __future__ import annotations

import numpy as np
import pytest

from zkinfer.llm import sampling
from zkinfer.llm.sampling import Params


def test_draws_depend_on_seed_request_and_position_only() -> None:
    u = sampling.uniform(7, "req-1", 0)
    assert u == sampling.uniform(7, "req-1", 0)
    assert (
        len({u, sampling.uniform(8, "req-1", 0), sampling.uniform(7, "req-2", 0), sampling.uniform(7, "req-1", 1)}) == 4
    )
    draws = np.array([sampling.uniform(0, "r", i) for i in range(4000)])
    assert draws.min() >= 0 and draws.max() < 1
    assert abs(draws.mean() - 0.5) < 0.02 and np.histogram(draws, bins=10, range=(0, 1))[0].min() > 330


def test_greedy_takes_the_highest_logit_and_the_lowest_id_on_ties() -> None:
    assert sampling.draw(np.array([0.1, 3.0, 3.0, -1.0], dtype=np.float32), Params(temperature=0.0), 0.99) == 1


def test_inverse_cdf_in_token_id_order_over_the_nucleus() -> None:
    logits = np.log(np.array([0.1, 0.5, 0.05, 0.35]))
    params = Params(temperature=1.0)
    assert [sampling.draw(logits, params, u) for u in (0.05, 0.11, 0.59, 0.62, 0.99)] == [0, 1, 1, 2, 3]
    nucleus = Params(temperature=1.0, top_p=0.8)  # {1: 0.5, 3: 0.35}: id order 1 then 3, renormalised
    assert sampling.nucleus(sampling.probabilities(logits, 1.0), 0.8).tolist() == [1, 3]
    assert [sampling.draw(logits, nucleus, u) for u in (0.0, 0.58, 0.6, 0.99)] == [1, 1, 3, 3]


def test_the_sampler_follows_the_distribution() -> None:
    logits = np.log(np.array([0.2, 0.5, 0.3]))
    counts = (
        np.bincount([sampling.draw(logits, Params(), sampling.uniform(1, "freq", i)) for i in range(3000)], minlength=3)
        / 3000
    )
    assert np.allclose(counts, [0.2, 0.5, 0.3], atol=0.03)


def test_honest_float_noise_is_accepted_and_other_tokens_are_not() -> None:
    rng = np.random.default_rng(0)
    params = Params(temperature=0.9, top_p=0.95, seed=3)
    exact = near = 0
    for position in range(500):
        logits = rng.standard_normal(512).astype(np.float32) * 3
        u = sampling.uniform(params.seed, "noise", position)
        token = sampling.draw(logits, params, u)
        noisy = logits + rng.standard_normal(512).astype(np.float32) * 1e-5  # another machine's float order
        is_exact, accepted = sampling.accepts(noisy, params, u, token)
        assert accepted
        exact += is_exact
        near += accepted and not is_exact
        others = [t for t in range(512) if t != token]
        wrong = [sampling.accepts(noisy, params, u, t)[1] for t in others[:50]]
        assert sum(wrong) <= 1  # only a token whose interval touches u's margin could pass
    assert exact >= 490


def test_a_near_tie_is_accepted_within_the_margin_only() -> None:
    greedy = Params(temperature=0.0)
    logits = np.array([1.0, 5.0, 5.0 - 5e-4, 2.0], dtype=np.float32)
    assert sampling.accepts(logits, greedy, 0.5, 1) == (True, True)
    assert sampling.accepts(logits, greedy, 0.5, 2) == (False, True)  # within LOGIT_MARGIN of the top
    assert sampling.accepts(logits, greedy, 0.5, 3) == (False, False)
    assert sampling.accepts(logits, greedy, 0.5, 7) == (False, False)  # outside the vocabulary
    p = np.array([0.25, 0.25, 0.5])
    logits = np.log(p)
    params = Params(temperature=1.0)
    assert sampling.accepts(logits, params, 0.25 + 5e-5, 0) == (False, True)  # u just past token 0's interval end
    assert sampling.accepts(logits, params, 0.25 + 5e-3, 0) == (False, False)


def test_a_top_p_boundary_within_the_margin_accepts_either_side() -> None:
    p = np.array([0.5, 0.3, 0.2 - 2e-5, 2e-5])
    logits = np.log(p)
    params = Params(temperature=1.0, top_p=0.8 + 1e-5)  # the boundary falls a hair inside token 2
    assert sampling.nucleus(sampling.probabilities(logits, 1.0), params.top_p).tolist() == [0, 1, 2]
    u = 0.9  # token 2 in the 3-token nucleus; a machine whose cumulative mass reached top_p at token 1 draws token 1
    assert sampling.draw(logits, params, u) == 2
    assert sampling.accepts(logits, params, u, 1)[1]
    assert not sampling.accepts(logits, Params(temperature=1.0, top_p=0.95), u, 1)[1]


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", -0.1), ("temperature", 2.5), ("top_p", 0.0), ("top_p", 1.5), ("seed", -1), ("seed", 1 << 63)],
)
def test_parameters_out_of_range_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        Params(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "params", [Params(temperature=0.7, top_p=0.9, seed=1), Params(temperature=1.0, seed=2), Params(temperature=0.0)]
)
def test_a_whole_answer_at_once_draws_what_generation_draws_one_by_one(params: Params) -> None:
    """The verifier's vectorised draws and generation's one-row draws are the same arithmetic row by row."""
    logits = np.random.default_rng(4).standard_normal((300, 1024)).astype(np.float32) * 4
    us = np.array([sampling.uniform(params.seed, "rows", i) for i in range(300)])
    assert sampling.draws(logits, params, us).tolist() == [
        sampling.draw(row, params, float(u)) for row, u in zip(logits, us, strict=True)
    ]


def test_the_nucleus_is_the_smallest_most_probable_set_by_the_definition() -> None:
    """The partial sort (`CANDIDATES` most probable first, a full sort only for flat rows) gives the nucleus
    the docstring defines: most probable first, ties by lower id, until the mass reaches top_p."""
    rng = np.random.default_rng(3)
    for vocab, scale in ((4096, 8.0), (4096, 0.5), (4096, 0.0), (300, 2.0), (7, 1.0)):
        logits = rng.standard_normal((40, vocab)) * scale
        logits[::3] = np.round(logits[::3])  # ties
        p = sampling.probabilities(logits, 1.0)
        for top_p in (0.3, 0.9, 0.95):
            expected = np.zeros(p.shape, dtype=bool)
            for row in range(len(p)):
                probability = p[row]
                order = sorted(range(vocab), key=lambda t: (-float(probability[t]), t))
                cumulative = np.cumsum(p[row, order])
                size = min(vocab, int((cumulative < top_p).sum()) + 1)
                expected[row, order[:size]] = True
            assert np.array_equal(sampling._nucleus_mask(p, top_p), expected), (vocab, scale, top_p)
