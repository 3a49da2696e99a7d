"""Node identity: BLS12-381 keys, receipt signatures checked by `verify`, and aggregate
signatures of several nodes over the same statement."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.cli import zkinfer
from zkinfer.core.crypto import identity
from zkinfer.core.crypto.identity import NodeKeyError
from zkinfer.core.formats.receipt import Receipt, load
from zkinfer.core.support.errors import ZkinferError


@pytest.fixture(scope="module")
def receipt(receipt_file: Path) -> Receipt:
    return load(receipt_file)


def test_keys_new_writes_a_private_key_file_and_prints_the_public_key(tmp_path: Path) -> None:
    result = zkinfer("keys", "new", "-o", tmp_path / "node.key")
    assert result.returncode == 0, result.stderr
    key = identity.load_key(tmp_path / "node.key")
    assert f"public key {key.public_hex}" in result.stdout
    assert stat.S_IMODE((tmp_path / "node.key").stat().st_mode) == 0o600
    assert identity.parse_public_key(key.public_hex) == key.public_key
    again = zkinfer("keys", "new", "-o", tmp_path / "node.key")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert identity.load_key(tmp_path / "node.key") == key  # never overwritten


def test_corrupt_key_files_are_named_errors(tmp_path: Path) -> None:
    (tmp_path / "a.key").write_text("{}")
    with pytest.raises(NodeKeyError, match=r"a\.key"):
        identity.load_key(tmp_path / "a.key")
    body = {"scheme": identity.SCHEME, "secret_key": "01" * 32, "public_key": identity.new_key().public_hex}
    (tmp_path / "b.key").write_text(json.dumps(body))
    with pytest.raises(NodeKeyError, match="does not belong"):
        identity.load_key(tmp_path / "b.key")
    with pytest.raises(NodeKeyError, match="no such node key"):
        identity.load_key(tmp_path / "absent.key")


@pytest.mark.parametrize("text", ["", "zz", "00" * 48, "ab" * 47])
def test_malformed_public_keys_are_refused(text: str) -> None:
    with pytest.raises(NodeKeyError):
        identity.parse_public_key(text)


def test_receipt_signature_covers_the_canonical_bytes(receipt: Receipt, node_key_file: Path) -> None:
    key = identity.load_key(node_key_file)
    assert receipt.signature is not None and receipt.signature.public_key == key.public_hex
    assert "valid" in identity.check_receipt_signature(receipt)
    moved = receipt.model_copy(update={"issued_at": "1999-12-31T23:59:59.000+00:00"})
    with pytest.raises(ZkinferError, match="does not verify"):
        identity.check_receipt_signature(moved)
    # re-signing the same content with the same key gives the same (deterministic) signature
    assert identity.sign_receipt(receipt, key).signature == receipt.signature


def test_verify_checks_the_signature_and_the_pinned_signer(receipt_file: Path, node_key_file: Path) -> None:
    key = identity.load_key(node_key_file)
    pinned = zkinfer("verify", receipt_file, "--expect-signer", key.public_hex)
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    assert "the pinned signer" in pinned.stdout
    other = zkinfer("verify", receipt_file, "--expect-signer", identity.new_key().public_hex)
    assert other.returncode == 1 and "expect_signer" in other.stdout
    bad = zkinfer("verify", receipt_file, "--expect-signer", "not-a-key")
    assert bad.returncode == 2 and "--expect-signer" in bad.stderr


def test_aggregating_garbage_is_a_typed_error() -> None:
    with pytest.raises(ZkinferError, match="nothing to aggregate"):
        identity.aggregate([])
    with pytest.raises(ZkinferError, match="not a valid"):
        identity.aggregate([b"x" * 96])
