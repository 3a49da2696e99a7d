"""chain/amounts: ETH as people write it, exactly in wei; anything else is a usage error naming the option."""

from __future__ import annotations

import pytest

from zkinfer.chain.amounts import WEI_PER_ETH, parse_eth
from zkinfer.core.support.errors import UsageError


def test_decimal_eth_is_exact_wei() -> None:
    assert parse_eth("1", "--bond") == WEI_PER_ETH
    assert parse_eth("0.1", "--bond") == 10**17  # no float rounding
    assert parse_eth("0.000000000000000001", "--bond") == 1


@pytest.mark.parametrize("text", ["-1", "abc", "0.0000000000000000001", "NaN", "Infinity", ""])
def test_anything_else_names_the_option(text: str) -> None:
    with pytest.raises(UsageError, match="--min-bond") as caught:
        parse_eth(text, "--min-bond")
    assert caught.value.exit_code == 2
