"""What answering a challenge costs an honest node, and the challenge bond below which griefing pays.

A challenger who is wrong (the node answers with a valid proof) pays the challenge's gas and forfeits
`challengeBond` to the node; the node pays the answer's gas and the proving. With a bond below the
node's cost, anyone can make an honest node lose money on every challenge: griefing. So
`zkinfer chain deploy-stake` refuses a challengeBond below

    floor = answer_gas × gas_price + proving_s × proving_cost_per_second

Its parts are the CLI's options with documented defaults: answer_gas and proving_s default to the
largest that `benchmarks/bench_chain.py` measured over the bundled circuits (ANSWER_GAS: the digits
MLP's answer; PROVING_S: the digits CNN's proving on demand, on 2 busy CPU cores), the prices to a congested
L1 gas price and a generous price of a proving machine. A model bigger than the bundled ones needs its
own measured `--answer-gas` and `--proving-seconds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from zkinfer.chain.amounts import WEI_PER_ETH, WEI_PER_GWEI
from zkinfer.core.support.errors import UsageError

# benchmarks/bench_chain.py (anvil 1.7.1, 2 busy cores), the README's stake table
ANSWER_GAS: Final = 668_985  # `stake: answer with the proof`, digits MLP: the largest answer measured
PROVING_S: Final = 18.4  # `stake: answer with the proof`, digits CNN: proving on demand, the longest measured
GAS_PRICE_GWEI: Final = "50"  # a congested L1; an L2's is ~100x lower
PROVING_COST_PER_S: Final = "0.000001"  # ETH per second of proving: ~$11/hour at $3,000/ETH, a generous machine


class ChallengeBondTooLow(UsageError):
    """A challengeBond below what answering a challenge costs the node: griefing an honest node would pay."""


@dataclass(frozen=True)
class AnswerCost:
    """What one answer to a challenge costs the node: its gas at a price, and the proving at a price."""

    gas_price_wei: int
    proving_cost_wei_per_s: int
    answer_gas: int = ANSWER_GAS
    proving_s: float = PROVING_S

    def __post_init__(self) -> None:
        if not (math.isfinite(self.proving_s) and self.proving_s >= 0):
            raise UsageError(f"--proving-seconds {self.proving_s}: expected a finite number of seconds, 0 or more")
        if self.answer_gas < 0:
            raise UsageError(f"--answer-gas {self.answer_gas}: expected a gas amount, 0 or more")

    @property
    def gas_wei(self) -> int:
        return self.answer_gas * self.gas_price_wei

    @property
    def proving_wei(self) -> int:
        """Rounded up: the floor never falls below the cost."""
        return int(
            (Decimal(str(self.proving_s)) * self.proving_cost_wei_per_s).to_integral_value(rounding="ROUND_CEILING")
        )

    @property
    def wei(self) -> int:
        """The smallest challengeBond that leaves an honest node no worse off after answering (the floor)."""
        return self.gas_wei + self.proving_wei

    def explain(self) -> str:
        gwei = Decimal(self.gas_price_wei) / WEI_PER_GWEI
        per_s = Decimal(self.proving_cost_wei_per_s) / WEI_PER_ETH
        return (
            f"{self.answer_gas:,} answer gas (--answer-gas) × {gwei:f} gwei (--gas-price-gwei) "
            f"+ {self.proving_s:g} s proving (--proving-seconds) × {per_s:f} ETH/s (--proving-cost-per-second) "
            f"= {_eth(self.wei)} ETH"
        )


def check_challenge_bond(challenge_bond_wei: int, cost: AnswerCost) -> None:
    """Refuse a challenge bond below `cost` (a ChallengeBondTooLow naming the option and the minimum)."""
    if challenge_bond_wei < cost.wei:
        raise ChallengeBondTooLow(
            f"--challenge-bond {_eth(challenge_bond_wei)} ETH is below what answering a challenge costs an honest "
            f"node: {cost.explain()}, so challenging it would be a cheap way to make it pay (griefing); "
            f"give --challenge-bond of at least {_eth(cost.wei)} ETH "
            "(or state lower prices or costs with the options named)"
        )


def _eth(wei: int) -> str:
    """wei as decimal ETH, exactly (no float rounding)."""
    return f"{(Decimal(wei) / WEI_PER_ETH).normalize():f}"
