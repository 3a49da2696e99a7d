"""zkinfer.core.crypto.bls: blspy (fast) and py_ecc (reference, fallback) are one ciphersuite. A signature made by
either verifies with the other; both refuse tampered messages, wrong keys, and keys or signatures that
are not valid points (infinity, off the curve, outside the subgroup, wrong length)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from zkinfer.core.crypto import bls

pytest.importorskip("blspy")

Use = Callable[[str], None]
MESSAGE = b"zkinfer.receipt/1\x00 some canonical bytes"


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Iterator[Use]:
    """use("py_ecc") hides blspy from zkinfer.core.crypto.bls; use("blspy") brings it back."""
    fast = bls._fast()
    assert fast is not None

    def switch(backend: str) -> None:
        monkeypatch.setattr(bls, "_fast_tried", True)
        monkeypatch.setattr(bls, "_fast_module", fast if backend == "blspy" else None)
        assert bls.backend() == backend

    yield switch


@pytest.fixture(scope="module")
def keys() -> list[tuple[int, bytes]]:
    secrets = [bls.key_gen(bytes([i]) * 32) for i in range(1, 3)]
    return [(s, bls.sk_to_pk(s)) for s in secrets]


def _g1(x: int, y: int, *, compressed: bool = True, infinity: bool = False) -> bytes:
    encoded = bytearray(x.to_bytes(48, "big"))
    encoded[0] |= (0x80 if compressed else 0) | (0x40 if infinity else 0) | (0x20 if (2 * y) // bls.P else 0)
    return bytes(encoded)


def _curve_point(x: int) -> int | None:
    rhs = (x**3 + 4) % bls.P
    y = pow(rhs, (bls.P + 1) // 4, bls.P)
    return y if y * y % bls.P == rhs else None


def _non_subgroup_g1() -> bytes:
    """A point on the curve whose order is not r (most points are: the cofactor is ~2^125)."""
    x = next(x for x in range(1, 100) if _curve_point(x) is not None and not bls._g1_order_r(x, _curve_point(x) or 0))
    return _g1(x, _curve_point(x) or 0)


def _off_curve_g1() -> bytes:
    return _g1(next(x for x in range(1, 100) if _curve_point(x) is None), 0)


def _non_subgroup_g2() -> bytes:
    """A compressed G2 point on the curve but outside the order-r subgroup (found with py_ecc's decoder)."""
    from py_ecc.bls.g2_primitives import subgroup_check
    from py_ecc.bls.point_compression import decompress_G2

    bls.py_ecc()  # restores the recursion limit py_ecc raises on import
    for x in range(1, 100):
        encoded = bytes([0x80]) + bytes(94) + bytes([x])
        try:
            point = decompress_G2((int.from_bytes(encoded[:48], "big"), int.from_bytes(encoded[48:], "big")))  # type: ignore[arg-type]
        except ValueError:
            continue
        if not subgroup_check(point):
            return encoded
    raise AssertionError("no non-subgroup G2 point among the first 100 x")


INFINITY_G1 = bytes([0xC0]) + bytes(47)
INFINITY_G2 = bytes([0xC0]) + bytes(95)


def test_the_installed_backend_is_blspy() -> None:
    assert bls.backend() == "blspy"


@pytest.mark.parametrize(("signer", "verifier"), [("blspy", "py_ecc"), ("py_ecc", "blspy")])
def test_each_backend_verifies_the_others_signatures(
    use: Use, keys: list[tuple[int, bytes]], signer: str, verifier: str
) -> None:
    (secret, public), (_, other) = keys[0], keys[1]
    use(signer)
    signature = bls.sign(secret, MESSAGE)
    assert bls.sk_to_pk(secret) == public
    use(verifier)
    assert bls.sign(secret, MESSAGE) == signature  # deterministic, the same bytes from both
    assert bls.verify(public, MESSAGE, signature)
    assert not bls.verify(public, MESSAGE + b"!", signature)  # tampered message
    assert not bls.verify(other, MESSAGE, signature)  # someone else's key
    tampered = bytearray(signature)
    tampered[-1] ^= 1
    assert not bls.verify(public, MESSAGE, bytes(tampered))


@pytest.mark.parametrize(("signer", "verifier"), [("blspy", "py_ecc"), ("py_ecc", "blspy")])
def test_aggregates_cross_backends(use: Use, keys: list[tuple[int, bytes]], signer: str, verifier: str) -> None:
    use(signer)
    together = bls.aggregate([bls.sign(secret, MESSAGE) for secret, _ in keys])
    publics = [public for _, public in keys]
    use(verifier)
    assert bls.fast_aggregate_verify(publics, MESSAGE, together)
    assert not bls.fast_aggregate_verify(publics, MESSAGE + b"!", together)
    assert not bls.fast_aggregate_verify(publics[:1], MESSAGE, together)  # a signer left out
    assert not bls.fast_aggregate_verify([], MESSAGE, together)


def _invalid_public_keys(public: bytes) -> dict[str, bytes]:
    uncompressed = bytearray(public)
    uncompressed[0] &= 0x7F
    return {
        "infinity": INFINITY_G1,
        "off-curve": _off_curve_g1(),
        "not in the subgroup": _non_subgroup_g1(),
        "x beyond the field": bytes([0x80 | 0x1F]) + b"\xff" * 47,
        "uncompressed flag": bytes(uncompressed),
        "47 bytes": public[:47],
        "49 bytes": public + b"\x00",
        "empty": b"",
    }


@pytest.mark.parametrize("backend", ["blspy", "py_ecc"])
def test_invalid_keys_and_signatures_never_verify(use: Use, keys: list[tuple[int, bytes]], backend: str) -> None:
    secret, public = keys[0]
    use(backend)
    signature, pop = bls.sign(secret, MESSAGE), bls.pop_prove(secret)
    for name, key in _invalid_public_keys(public).items():
        assert not bls.key_validate(key), name
        assert not bls.verify(key, MESSAGE, signature), name
        assert not bls.verify(key, MESSAGE, INFINITY_G2), name  # the infinity key with the infinity signature
        assert not bls.fast_aggregate_verify([public, key], MESSAGE, signature), name
        assert not bls.pop_verify(key, pop), name
    bad_signatures = {
        "infinity": INFINITY_G2,
        "not in the subgroup": _non_subgroup_g2(),
        "95 bytes": signature[:95],
        "97 bytes": signature + b"\x00",
    }
    for name, bad in bad_signatures.items():
        assert not bls.verify(public, MESSAGE, bad), name
        assert not bls.fast_aggregate_verify([public], MESSAGE, bad), name
    with pytest.raises(ValueError):
        bls.aggregate([signature[:95]])
    with pytest.raises(ValueError):
        bls.aggregate([b"x" * 96])
    with pytest.raises(ValueError):
        bls.aggregate([])


def test_key_validate_matches_py_ecc() -> None:
    """The plain-integer KeyValidate (blspy's backend) agrees with py_ecc's on valid keys, on random
    points (on and off the curve, almost all outside the subgroup), and on both subgroup checks."""
    reference = bls.py_ecc()
    rng = __import__("random").Random(9)
    for i in range(4):
        public = bls.sk_to_pk(bls.key_gen(rng.randbytes(32)))
        assert bls.g1_key_validate(public) and reference.KeyValidate(public), i
        negated = bytearray(public)
        negated[0] ^= 0x20  # -P: still a valid key
        assert bls.g1_key_validate(bytes(negated)) and reference.KeyValidate(bytes(negated)), i
    on_curve = 0
    for _ in range(60):
        x = rng.randrange(bls.P)
        y = _curve_point(x)
        key = _g1(x, y or 0)
        if y is not None:
            on_curve += 1
            assert bls._g1_in_subgroup(x, y) == bls._g1_order_r(x, y) == False  # noqa: E712
        assert bls.g1_key_validate(key) == bool(reference.KeyValidate(key)) == False  # noqa: E712
    assert on_curve > 15
    for public in [bls.sk_to_pk(s) for s in (1, 2, 12345, bls.R - 1)]:
        assert bls.g1_key_validate(public) and reference.KeyValidate(public)


def test_proof_of_possession(keys: list[tuple[int, bytes]]) -> None:
    (secret, public), (_, other) = keys[0], keys[1]
    pop = bls.pop_prove(secret)
    assert bls.pop_verify(public, pop)
    assert not bls.pop_verify(other, pop)
    assert not bls.verify(public, public, pop)  # a proof of possession is not a signature of the key bytes


def test_py_ecc_restores_the_recursion_limit() -> None:
    code = (
        "import sys; from zkinfer.core.crypto import bls; before = sys.getrecursionlimit(); bls.py_ecc(); import "
        "py_ecc; "
        "print(before, sys.getrecursionlimit())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == out[1], out


def test_a_chain_connection_keeps_the_recursion_limit() -> None:
    """web3 imports py_ecc too: connecting (the first chain call of a command) must not leave the limit at
    100000, where a deeply nested hostile JSON document read afterwards overflows the C stack."""
    code = (
        "import sys\nfrom zkinfer.chain import account\nbefore = sys.getrecursionlimit()\n"
        "try:\n    account.connect('http://127.0.0.1:9')\nexcept Exception:\n    pass\n"
        "print(before, sys.getrecursionlimit())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == out[1], out


def test_without_blspy_py_ecc_signs_and_verifies(keys: list[tuple[int, bytes]]) -> None:
    """A process where blspy cannot be imported falls back to py_ecc, with the same signatures."""
    secret, public = keys[0]
    code = (
        "import sys; sys.modules['blspy'] = None\n"
        "from zkinfer.core.crypto import bls\n"
        f"s = bls.sign({secret}, {MESSAGE!r})\n"
        f"print(bls.backend(), bls.verify({public!r}, {MESSAGE!r}, s), bls.key_validate({INFINITY_G1!r}), s.hex())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}
    )
    assert result.returncode == 0, result.stderr
    backend, verified, infinity_valid, signature = result.stdout.split()
    assert (backend, verified, infinity_valid) == ("py_ecc", "True", "False")
    assert bytes.fromhex(signature) == bls.sign(secret, MESSAGE)  # blspy's, in this process
