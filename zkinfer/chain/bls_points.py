"""zkinfer's compressed BLS12-381 points (48-byte G1 keys, 96-byte G2 signatures) in the uncompressed
encoding of the EIP-2537 precompiles, which is what `contracts/BLS.sol` takes beside the compressed key.

The contract checks on chain that each uncompressed point is exactly the compressed one (same x, the y
its sign bit picks; `BLS.g1Matches` / `g2Matches`), so decompressing here is a convenience that saves the
chain a square root (in Fp2 for a signature), never something it trusts. Decompression is py_ecc's (pure
Python, ~10-40 ms a point), imported only when used.

Encoding (EIP-2537): a field element is 64 bytes (16 zero bytes, then 48 big-endian bytes); a G1 point is
x ‖ y (128 bytes); a G2 point is x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1 (256 bytes).
"""

from __future__ import annotations

from typing import Any, Final

from zkinfer.core.crypto import bls
from zkinfer.core.support.errors import ZkinferError

G1_POINT_BYTES: Final = 128
G2_POINT_BYTES: Final = 256


class PointError(ZkinferError):
    """Bytes that are no compressed BLS12-381 point (a malformed key or signature)."""


def _primitives() -> Any:
    """py_ecc's point (de)compression, imported through `bls.py_ecc` (which keeps the recursion limit)."""
    bls.py_ecc()
    from py_ecc.bls import g2_primitives

    return g2_primitives


def _field(value: Any) -> bytes:
    return int(value).to_bytes(64, "big")


def _affine(data: bytes, size: int, what: str, decompress: str) -> tuple[Any, Any]:
    """The affine (x, y) of the compressed point `data` (`size` bytes), by py_ecc's `decompress` function."""
    if len(data) != size:
        raise PointError(f"a {what} is {size} bytes, not {len(data)}")
    primitives = _primitives()
    from py_ecc.optimized_bls12_381.optimized_curve import is_inf, normalize

    try:
        point = getattr(primitives, decompress)(data)
    except (ValueError, AssertionError, TypeError) as exc:
        raise PointError(f"{what} {data.hex()[:16]}… is no point of its group ({exc})") from exc
    if is_inf(point):
        raise PointError(f"the {what} is the point at infinity")
    return normalize(point)


def g1_point(public_key: bytes) -> bytes:
    """A 48-byte compressed public key as the 128-byte point the precompiles take (PointError if it is none;
    whether it is a valid key, in the subgroup, is for `bls.key_validate` and the chain's pairing check)."""
    x, y = _affine(public_key, bls.PUBLIC_KEY_BYTES, "public key", "pubkey_to_G1")
    return _field(x) + _field(y)


def g2_point(signature: bytes) -> bytes:
    """A 96-byte compressed signature as the 256-byte point the precompiles take (PointError if it is none)."""
    x, y = _affine(signature, bls.SIGNATURE_BYTES, "signature", "signature_to_G2")
    return b"".join(_field(c) for c in (*x.coeffs, *y.coeffs))
