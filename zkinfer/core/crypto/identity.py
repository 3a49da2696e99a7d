"""Node identity: BLS12-381 keys (proof-of-possession scheme; `zkinfer.core.crypto.bls` picks blspy or py_ecc)
that sign receipts.

A node signs the receipt's canonical bytes, so an auditor can pin *who* served an answer, and it
signs a *statement* (`zkinfer.core.formats.statement`) the moment it answers; statement signatures of
several nodes aggregate into one. Messages are domain-separated so a receipt signature can never
be replayed as a statement one.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar, cast

from zkinfer.core.crypto import bls
from zkinfer.core.formats.receipt import Signature
from zkinfer.core.formats.split_receipt import AnyReceipt
from zkinfer.core.support import cache
from zkinfer.core.support.errors import ZkinferError

SCHEME: Final = "bls12-381-g2-pop"
RECEIPT_DOMAIN = b"zkinfer.receipt/1\x00"
PUBLIC_KEY_BYTES = bls.PUBLIC_KEY_BYTES
SIGNATURE_BYTES = bls.SIGNATURE_BYTES


class NodeKeyError(ZkinferError):
    """A node key file is missing or malformed."""


@dataclass(frozen=True)
class NodeKey:
    secret: int
    public_key: bytes

    @property
    def public_hex(self) -> str:
        return self.public_key.hex()


def new_key() -> NodeKey:
    secret = bls.key_gen(secrets.token_bytes(32))
    return NodeKey(secret=secret, public_key=bls.sk_to_pk(secret))


def save_key(key: NodeKey, path: Path) -> None:
    """Write the key file (owner-only permissions); refuses to overwrite an existing key."""
    if path.exists():
        raise NodeKeyError(
            f"{path}: a key already exists there; choose another path or delete it first (it cannot be recovered)"
        )
    body = {"scheme": SCHEME, "secret_key": format(key.secret, "064x"), "public_key": key.public_hex}
    cache.write_atomically(path, (json.dumps(body, indent=2) + "\n").encode())
    os.chmod(path, 0o600)


def load_key(path: Path) -> NodeKey:
    if not path.is_file():
        raise NodeKeyError(f"{path}: no such node key file; make one with `zkinfer keys new -o {path}`")
    try:
        body = json.loads(path.read_text())
        secret = int(body["secret_key"], 16)
        public = bytes.fromhex(body["public_key"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise NodeKeyError(
            f"{path}: malformed node key file ({exc}); expected fields secret_key and public_key"
        ) from exc
    if body.get("scheme") != SCHEME or not 0 < secret < bls.R or bls.sk_to_pk(secret) != public:
        raise NodeKeyError(
            f"{path}: public_key does not belong to secret_key (or scheme is not {SCHEME}); the file is corrupt"
        )
    return NodeKey(secret=secret, public_key=public)


def parse_public_key(text: str, where: str = "public key") -> bytes:
    try:
        key = bytes.fromhex(text.removeprefix("0x"))
    except ValueError as exc:
        raise NodeKeyError(f"{where}: not hex ({exc})") from exc
    if len(key) != PUBLIC_KEY_BYTES or not bls.key_validate(key):
        raise NodeKeyError(f"{where}: not a valid BLS12-381 public key ({PUBLIC_KEY_BYTES} bytes compressed G1)")
    return key


R = TypeVar("R", bound=AnyReceipt)


def sign_receipt(receipt: R, key: NodeKey) -> R:
    """A copy of `receipt` (/1 or a split /2) carrying the node's signature over its canonical bytes
    (which include its schema version, so one schema's signature never passes as the other's)."""
    signature = bls.sign(key.secret, RECEIPT_DOMAIN + receipt.canonical_bytes())
    return cast(
        R,
        receipt.model_copy(
            update={"signature": Signature(scheme=SCHEME, public_key=key.public_hex, signature=signature.hex())}
        ),
    )


def check_receipt_signature(receipt: AnyReceipt) -> str:
    """Return a description when the receipt's signature is valid; raise ZkinferError otherwise."""
    if receipt.signature is None:
        raise ZkinferError("the receipt is not signed")
    public = parse_public_key(receipt.signature.public_key, "field signature.public_key")
    try:
        signature = bytes.fromhex(receipt.signature.signature)
    except ValueError as exc:
        raise ZkinferError(f"field signature.signature: not hex ({exc})") from exc
    if len(signature) != SIGNATURE_BYTES or not bls.verify(
        public, RECEIPT_DOMAIN + receipt.canonical_bytes(), signature
    ):
        raise ZkinferError(
            f"the signature does not verify for key {receipt.signature.public_key[:16]}… over this receipt's contents"
        )
    return f"valid {SCHEME} signature by {receipt.signature.public_key}"


def proof_of_possession(key: NodeKey) -> bytes:
    """Proves the node holds its secret key: required before its signature joins an aggregate."""
    return bls.pop_prove(key.secret)


def aggregate(signatures: list[bytes]) -> bytes:
    if not signatures:
        raise ZkinferError("nothing to aggregate: give at least one signature")
    try:
        return bls.aggregate(signatures)
    except ValueError as exc:
        raise ZkinferError(
            f"cannot aggregate: a signature is not a valid {SIGNATURE_BYTES}-byte BLS12-381 G2 point ({exc})"
        ) from exc
