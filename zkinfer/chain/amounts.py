"""Amounts of ether as people write them (decimal ETH) and as contracts take them (whole wei)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

from zkinfer.core.support.errors import UsageError

WEI_PER_ETH: Final = 10**18


def parse_eth(text: str, option: str) -> int:
    """An ETH amount given as a decimal string, exactly in wei (no float rounding); a UsageError naming `option`
    for anything else (negative, more than 18 decimals, not a number)."""
    try:
        value = Decimal(text) * WEI_PER_ETH
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0 or value != value.to_integral_value():  # NaN, Infinity: no amount
        raise UsageError(f"{option} {text!r}: expected an amount of ETH (a decimal number, at most 18 decimals)")
    return int(value)
