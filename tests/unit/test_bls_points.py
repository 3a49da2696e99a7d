"""zkinfer's compressed BLS points in the EIP-2537 encoding the chain takes (zkinfer.chain.bls_points)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from zkinfer.chain import bls_points
from zkinfer.core.crypto import bls, identity


def test_points_keep_the_compressed_x_and_pad_every_field_element() -> None:
    key = identity.new_key()
    point = bls_points.g1_point(key.public_key)
    assert len(point) == 128 and point[:16] == point[64:80] == bytes(16)
    x = int.from_bytes(key.public_key, "big") & ((1 << 381) - 1)
    assert int.from_bytes(point[:64], "big") == x
    signature = bls.sign(key.secret, b"message")
    g2 = bls_points.g2_point(signature)
    assert len(g2) == 256 and all(g2[i : i + 16] == bytes(16) for i in range(0, 256, 64))
    x_im = int.from_bytes(signature[:48], "big") & ((1 << 381) - 1)  # ZCash: x.c1 first, x.c0 second
    assert int.from_bytes(g2[64:128], "big") == x_im and g2[16:64] == signature[48:]


@pytest.mark.parametrize(
    ("make", "data", "error"),
    [
        (bls_points.g1_point, bytes(47), "48 bytes"),
        (bls_points.g1_point, b"\xc0" + bytes(47), "infinity"),
        (bls_points.g1_point, b"\x9f" + b"\xff" * 47, "no point"),  # x >= p
        (bls_points.g2_point, bytes(95), "96 bytes"),
        (bls_points.g2_point, b"\xc0" + bytes(95), "infinity"),
    ],
)
def test_what_is_no_point_is_refused_by_name(make: Callable[[bytes], bytes], data: bytes, error: str) -> None:
    with pytest.raises(bls_points.PointError, match=error):
        make(data)
