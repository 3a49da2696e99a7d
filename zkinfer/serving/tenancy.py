"""Tenants and their request ids: one API key's owner is one tenant, and its ids live in its own namespace.

The request id a gateway sends the nodes (which their statements sign, and records, certificates
and evidence carry) is `<tenant>:<the client's id>`, so one tenant's id can never name, replace or
read another's answer.
"""

from __future__ import annotations

import hashlib
import secrets

from zkinfer.core.formats.statement import REQUEST_ID
from zkinfer.core.support.errors import UsageError
from zkinfer.core.support.text import visible


def new_request_id() -> str:
    return "zk-" + secrets.token_hex(12)


def tenant_of(owner: str) -> str:
    """A tenant's short stable id, from its API key's owner id (`auth.ApiKeys.owner`): `t` and 16 hex digits."""
    return "t" + hashlib.sha256(owner.encode()).hexdigest()[:16]


def namespaced(tenant: str, client_id: str | None) -> str:
    """The request id the nodes sign for a tenant's request: `<tenant>:<client id>` (a fresh id when none)."""
    full = f"{tenant}:{client_id if client_id is not None else new_request_id()}"
    if client_id is not None and not REQUEST_ID.fullmatch(full):
        room = 128 - len(tenant) - 1
        raise UsageError(
            f"id: {visible(client_id, 40)!r} is not a request id at this gateway (1-{room} characters of "
            "A-Z a-z 0-9 . _ : -: the gateway prefixes it with your tenant's namespace)"
        )
    return full


def owns(tenant: str, request_id: str) -> bool:
    return request_id.startswith(tenant + ":")
