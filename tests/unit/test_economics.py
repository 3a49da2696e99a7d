"""The challenge-bond floor: what answering a challenge costs an honest node, exactly in wei."""

from __future__ import annotations

import pytest

from zkinfer.chain import economics
from zkinfer.chain.amounts import parse_eth, parse_gwei
from zkinfer.chain.stake_types import StakeParams
from zkinfer.core.support.errors import UsageError


def test_the_floor_is_answer_gas_times_gas_price_plus_proving_time_times_its_price() -> None:
    cost = economics.AnswerCost(parse_gwei("50", "g"), parse_eth("0.000001", "p"), answer_gas=600_000, proving_s=21.2)
    assert cost.gas_wei == 600_000 * 50 * 10**9 == 3 * 10**16
    assert cost.proving_wei == 212 * 10**11  # 21.2 s × 10^12 wei/s, exact (no float error)
    assert cost.wei == 3 * 10**16 + 212 * 10**11
    economics.check_challenge_bond(cost.wei, cost)  # exactly the floor: the node breaks even
    with pytest.raises(economics.ChallengeBondTooLow) as caught:
        economics.check_challenge_bond(cost.wei - 1, cost)
    message = str(caught.value)
    assert "--challenge-bond" in message and "at least 0.0300212 ETH" in message
    for option in ("--gas-price-gwei", "--proving-cost-per-second", "--answer-gas", "--proving-seconds"):
        assert option in message
    assert isinstance(caught.value, UsageError)  # exit 2


def test_the_default_challenge_bond_clears_the_default_floor() -> None:
    """`deploy-stake` with no options deploys: 0.1 ETH against the measured answer at 50 gwei."""
    cost = economics.AnswerCost(parse_gwei(economics.GAS_PRICE_GWEI, "g"), parse_eth(economics.PROVING_COST_PER_S, "p"))
    economics.check_challenge_bond(StakeParams().challenge_bond, cost)
    assert cost.wei > StakeParams().challenge_bond // 5  # and the floor is no formality at these prices


def test_gas_prices_parse_exactly_and_refuse_nonsense() -> None:
    assert parse_gwei("0.000000001", "--gas-price-gwei") == 1
    for bad in ("-1", "x", "1e-10", "nan"):
        with pytest.raises(UsageError, match="--gas-price-gwei"):
            parse_gwei(bad, "--gas-price-gwei")


def test_seconds_and_gas_that_are_no_amount_are_refused() -> None:
    for seconds in (float("inf"), float("nan"), -1.0):
        with pytest.raises(UsageError, match="--proving-seconds"):
            economics.AnswerCost(1, 1, proving_s=seconds)
    with pytest.raises(UsageError, match="--answer-gas"):
        economics.AnswerCost(1, 1, answer_gas=-1)
