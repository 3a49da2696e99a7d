"""API keys for a server's protected routes (`Authorization: Bearer KEY`).

Keys live in a file, one per line (`#` lines are comments). Only their SHA-256 digests are kept in
memory and compared in constant time, so timing reveals nothing about a key. The digest is also who
owns a job or an answer: servers record it (never the key) so only the same key reads it back. With
no key file given, a server makes one key in its state directory and logs where it is.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from zkinfer.core.support import cache
from zkinfer.core.support.errors import UsageError

MISSING_KEY = "header Authorization: missing or unknown API key; send `Authorization: Bearer KEY`"


class ApiKeyFileError(UsageError):
    """The API key file cannot be read or holds no key."""


class Unauthenticated(Exception):
    """No API key of this server in the request (401 with `WWW-Authenticate: Bearer`)."""

    def __init__(self, message: str = MISSING_KEY) -> None:
        super().__init__(message)


class ApiKeys:
    def __init__(self, keys: list[str]) -> None:
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys]

    def owner(self, authorization: str | None) -> str | None:
        """The key's owner id (`sha256:<hex>` of the key) when the header is `Bearer <a configured key>`."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = hashlib.sha256(token.strip().encode()).digest()
        matched = [hmac.compare_digest(digest, d) for d in self._digests]  # every key compared: no early exit to time
        return "sha256:" + digest.hex() if any(matched) else None

    def require(self, authorization: str | None) -> str:
        """The owner id, or `Unauthenticated`."""
        owner = self.owner(authorization)
        if owner is None:
            raise Unauthenticated()
        return owner


def read(path: Path) -> ApiKeys:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiKeyFileError(f"{path}: cannot read the API key file ({exc}); give one key per line") from exc
    keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise ApiKeyFileError(
            f"{path}: no API keys in the file; put one key per line "
            "(e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return ApiKeys(keys)


def create(path: Path) -> None:
    """Write a file holding one fresh random key (owner-only)."""
    cache.write_atomically(path, f"# zkinfer node API keys, one per line\n{secrets.token_urlsafe(32)}\n".encode())
    os.chmod(path, 0o600)


def load(path: Path, given: bool, log: logging.Logger) -> ApiKeys:
    """The keys callers send: the file given, else the state directory's (one key made on first start)."""
    if not given and not path.exists():
        create(path)
        log.info("made an API key in %s (send it as `Authorization: Bearer KEY`)", path)
    return read(path)
