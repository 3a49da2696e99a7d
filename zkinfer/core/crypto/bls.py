"""BLS12-381 signatures, IETF ciphersuite BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_ (minimal-pubkey-size:
48-byte G1 public keys, 96-byte G2 signatures): the one place that picks the implementation.

blspy (Chia's C++ BLS, its PopSchemeMPL is this ciphersuite) signs, verifies and checks proofs of
possession when it is installed: ~3 ms a verification, ~2 ms a proof of possession, here. It replaced
milagro-bls-binding (~10 ms a verification, no proofs of possession, deprecated upstream): a gateway
checks two signatures per node per request, and loading a node set checks every node's proof of
possession, which py_ecc took 0.7–1.5 s for. py_ecc (pure Python, ~0.4–2 s a verification and ~1 s
to import) is the reference and the fallback, and the implementation of key generation; it is
imported only when used.

Public-key validation (KeyValidate: the compressed encoding of a G1 point that is on the curve, in the
prime-order subgroup and not the point at infinity) is done here in plain Python integers when blspy is
the backend (~2 ms, tested against py_ecc's KeyValidate), so checking a signature never imports py_ecc.
blspy's parsers refuse points off the curve or outside the subgroup by themselves as well.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Final, Literal

PUBLIC_KEY_BYTES: Final = 48
SIGNATURE_BYTES: Final = 96
Backend = Literal["blspy", "py_ecc"]

# The BLS12-381 base field modulus and the prime order of G1/G2 (the subgroup the keys must lie in).
P: Final = 0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB
R: Final = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
_B: Final = 4  # G1: y^2 = x^3 + 4
# The subgroup check of Bowe, "Faster subgroup checks for BLS12-381" (eprint 2019/814; proof corrected in
# 2022/352), as zkcrypto's bls12_381 and blst do it: P is in G1 iff sigma(P) == -[u^2]P, where
# sigma(x, y) = (BETA x, y), BETA the cube root of unity in Fp that matches, and u = -0xd201000000010000 the
# curve's parameter; two 64-bit multiplications instead of one by the 255-bit order.
_BETA: Final = 0x5F19672FDF76CE51BA69C6076A0F77EADDB3A93BE6F89688DE17D813620A00022E01FFFFFFFEFFFE
_U_ABS: Final = 0xD201000000010000

_fast_module: ModuleType | None = None
_fast_tried = False


def _fast() -> ModuleType | None:
    """blspy, or None when it is not installed (imported once, on first use)."""
    global _fast_module, _fast_tried
    if not _fast_tried:
        _fast_tried = True
        try:
            _fast_module = importlib.import_module("blspy")
        except ImportError:
            _fast_module = None
    return _fast_module


def backend() -> Backend:
    """Which implementation signs and verifies in this process."""
    return "blspy" if _fast() is not None else "py_ecc"


def py_ecc() -> Any:
    """py_ecc's G2ProofOfPossession scheme. Importing py_ecc raises the interpreter's recursion limit to
    100000; at that depth a deeply nested hostile JSON document overflows the C stack (a segfault) instead
    of raising RecursionError, and py_ecc's BLS code runs fine at the default, so the limit is put back."""
    limit = sys.getrecursionlimit()
    try:
        module = importlib.import_module("py_ecc.bls")
    finally:
        sys.setrecursionlimit(limit)
    return module.G2ProofOfPossession


def key_gen(ikm: bytes) -> int:
    """A secret key from at least 32 bytes of key material (the IETF KeyGen; py_ecc's)."""
    return int(py_ecc().KeyGen(ikm))


def _secret_bytes(secret: int) -> bytes:
    if not 0 < secret < R:
        raise ValueError("a BLS12-381 secret key is an integer in [1, r)")
    return secret.to_bytes(32, "big")


def _private(fast: ModuleType, secret: int) -> Any:
    return fast.PrivateKey.from_bytes(_secret_bytes(secret))


def sk_to_pk(secret: int) -> bytes:
    fast = _fast()
    if fast is not None:
        return bytes(_private(fast, secret).get_g1())
    return bytes(py_ecc().SkToPk(secret))


def sign(secret: int, message: bytes) -> bytes:
    fast = _fast()
    if fast is not None:
        return bytes(fast.PopSchemeMPL.sign(_private(fast, secret), message))
    return bytes(py_ecc().Sign(secret, message))


# What the implementations raise on bytes that are no point (blspy: ValueError or RuntimeError).
_BAD_POINT = (ValueError, TypeError, AssertionError, RuntimeError)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True only for a valid key and a valid signature of `message` by it; never raises on bad bytes."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES or not key_validate(public_key):
        return False
    fast = _fast()
    try:
        if fast is not None:
            return bool(fast.PopSchemeMPL.verify(_g1_point(public_key), message, fast.G2Element.from_bytes(signature)))
        return bool(py_ecc().Verify(public_key, message, signature))
    except _BAD_POINT:
        return False


@functools.lru_cache(maxsize=256)  # a gateway checks the same pinned keys on every answer: ~0.05 ms a parse
def _g1_point(public_key: bytes) -> Any:
    """blspy's point for a key KeyValidate accepted (its parser checks the curve and subgroup again)."""
    fast = _fast()
    assert fast is not None  # only called on the blspy path
    return fast.G1Element.from_bytes(public_key)


def aggregate(signatures: Sequence[bytes]) -> bytes:
    """One signature from several (raises ValueError on an empty list or a malformed signature)."""
    if not signatures:
        raise ValueError("nothing to aggregate")
    if any(len(s) != SIGNATURE_BYTES for s in signatures):
        raise ValueError(f"a signature is not {SIGNATURE_BYTES} bytes")
    fast = _fast()
    try:
        if fast is not None:
            return bytes(fast.PopSchemeMPL.aggregate([fast.G2Element.from_bytes(s) for s in signatures]))
        return bytes(py_ecc().Aggregate(list(signatures)))
    except _BAD_POINT as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc


def fast_aggregate_verify(public_keys: Sequence[bytes], message: bytes, signature: bytes) -> bool:
    """True when every key (each valid; proofs of possession are the caller's to check) signed `message`
    and `signature` aggregates their signatures."""
    if (
        not public_keys
        or len(signature) != SIGNATURE_BYTES
        or not all(len(k) == PUBLIC_KEY_BYTES and key_validate(k) for k in public_keys)
    ):
        return False
    fast = _fast()
    try:
        if fast is not None:
            keys = [fast.G1Element.from_bytes(k) for k in public_keys]
            return bool(fast.PopSchemeMPL.fast_aggregate_verify(keys, message, fast.G2Element.from_bytes(signature)))
        return bool(py_ecc().FastAggregateVerify(list(public_keys), message, signature))
    except _BAD_POINT:
        return False


def pop_prove(secret: int) -> bytes:
    """Proof of possession of the secret key (a signature of the public key under the POP tag)."""
    fast = _fast()
    if fast is not None:
        return bytes(fast.PopSchemeMPL.pop_prove(_private(fast, secret)))
    return bytes(py_ecc().PopProve(secret))


def pop_verify(public_key: bytes, proof: bytes) -> bool:
    if len(public_key) != PUBLIC_KEY_BYTES or len(proof) != SIGNATURE_BYTES or not key_validate(public_key):
        return False
    fast = _fast()
    try:
        if fast is not None:
            return bool(
                fast.PopSchemeMPL.pop_verify(fast.G1Element.from_bytes(public_key), fast.G2Element.from_bytes(proof))
            )
        return bool(py_ecc().PopVerify(public_key, proof))
    except _BAD_POINT:
        return False


def key_validate(public_key: bytes) -> bool:
    """The IETF KeyValidate: a compressed G1 point, on the curve, in the order-r subgroup, not infinity."""
    if _fast() is None:
        try:
            return bool(py_ecc().KeyValidate(public_key))
        except (ValueError, TypeError, AssertionError):
            return False
    return g1_key_validate(public_key)


@functools.lru_cache(maxsize=256)  # a pure function of the bytes: a pinned key and the receipt's are one key
def g1_key_validate(public_key: bytes) -> bool:
    """KeyValidate in plain integers (ZCash's compressed encoding, as py_ecc's decompress_G1 reads it)."""
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != PUBLIC_KEY_BYTES:
        return False
    flags = public_key[0] >> 5
    compressed, infinity, y_sign = bool(flags & 4), bool(flags & 2), flags & 1
    if not compressed or infinity:  # only compressed keys; the point at infinity is never a valid key
        return False
    x = int.from_bytes(public_key, "big") & ((1 << 381) - 1)
    if x >= P:
        return False
    rhs = (x * x * x + _B) % P
    y = pow(rhs, (P + 1) // 4, P)  # P ≡ 3 (mod 4)
    if y * y % P != rhs:
        return False  # not on the curve
    if (y * 2) // P != y_sign:  # the sign bit picks the larger of y and P - y
        y = P - y
    return _g1_in_subgroup(x, y)


def _g1_in_subgroup(x: int, y: int) -> bool:
    """For an affine point (x, y) on the curve: sigma(P) == -[u^2]P (Bowe's check)."""
    qx, qy, qz = _g1_multiply(_g1_multiply((x, y, 1), _U_ABS), _U_ABS)  # [u^2]P: u^2 = |u|^2
    if qz % P == 0:
        return False
    zz = qz * qz % P
    return qx == _BETA * x % P * zz % P and (-qy) % P == y * zz % P * qz % P


_Jacobian = tuple[int, int, int]  # (X, Y, Z) for the affine point (X/Z^2, Y/Z^3); Z == 0 is infinity


def _g1_double(point: _Jacobian) -> _Jacobian:
    x, y, z = point
    if z == 0 or y == 0:
        return (1, 1, 0)
    yy = y * y % P
    s = 4 * x * yy % P
    m = 3 * x * x % P  # a == 0
    x3 = (m * m - 2 * s) % P
    y3 = (m * (s - x3) - 8 * yy * yy) % P
    z3 = 2 * y * z % P
    return (x3, y3, z3)


def _g1_add(p1: _Jacobian, p2: _Jacobian) -> _Jacobian:
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1, z2z2 = z1 * z1 % P, z2 * z2 % P
    u1, u2 = x1 * z2z2 % P, x2 * z1z1 % P
    s1, s2 = y1 * z2 * z2z2 % P, y2 * z1 * z1z1 % P
    h, r = (u2 - u1) % P, (s2 - s1) % P
    if h == 0:
        return _g1_double(p1) if r == 0 else (1, 1, 0)
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - s1 * hhh) % P
    z3 = h * z1 * z2 % P
    return (x3, y3, z3)


def _g1_multiply(point: _Jacobian, scalar: int) -> _Jacobian:
    result: _Jacobian = (1, 1, 0)
    for bit in bin(scalar)[2:]:
        result = _g1_double(result)
        if bit == "1":
            result = _g1_add(result, point)
    return result


def _g1_order_r(x: int, y: int) -> bool:
    """The definition, [r]P == infinity: slower; the tests hold the fast check to it."""
    return _g1_multiply((x, y, 1), R)[2] % P == 0
