"""Amounts of ether as people write them (decimal ETH) and as contracts take them (whole wei)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

from zkinfer.core.support.errors import UsageError

WEI_PER_ETH: Final = 10**18


WEI_PER_GWEI: Final = 10**9


def parse_eth(text: str, option: str) -> int:
    """An ETH amount given as a decimal string, exactly in wei (no float rounding); a UsageError naming `option`
    for anything else (negative, more than 18 decimals, not a number)."""
    return _parse_units(text, option, WEI_PER_ETH, "ETH", 18)


def parse_gwei(text: str, option: str) -> int:
    """A gas price in gwei given as a decimal string, exactly in wei (at most 9 decimals)."""
    return _parse_units(text, option, WEI_PER_GWEI, "gwei", 9)


def _parse_units(text: str, option: str, wei_per_unit: int, unit: str, decimals: int) -> int:
    try:
        value = Decimal(text) * wei_per_unit
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0 or value != value.to_integral_value():  # NaN, Infinity: no amount
        raise UsageError(
            f"{option} {text!r}: expected an amount of {unit} (a decimal number, at most {decimals} decimals)"
        )
    return int(value)
