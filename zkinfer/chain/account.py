"""A connection to an EVM node and the key that signs its transactions.

Every chain command takes `--rpc-url` and a key (`--key-file` holding a hex private key, or
$ZKINFER_CHAIN_KEY), so the same code runs on any EVM network. Only without `--rpc-url`, i.e. on
the embedded dev chain found in `--state-dir`, is anvil's first prefunded account the default
signer: its key is public knowledge and must never sign on a real network. The chain id is read
from the node (never assumed) and recorded with every deployment.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkinfer.chain import devchain
from zkinfer.core.support.errors import ChainError, ChainUnreachable

KEY_ENV = "ZKINFER_CHAIN_KEY"
_KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
RPC_TIMEOUT_S = 60


@dataclass(frozen=True)
class Chain:
    """A web3 connection, the chain id its node reports, and the signing account (None: read-only)."""

    web3: Any  # web3.Web3 (untyped: web3 is an optional extra)
    rpc_url: str
    chain_id: int
    account: Any | None = None  # eth_account LocalAccount

    @property
    def signer(self) -> Any:
        """The signing account; a read-only connection cannot send transactions."""
        if self.account is None:
            raise ChainError(
                f"{self.rpc_url}: a transaction needs a key: give --key-file FILE (a hex private key) or set ${KEY_ENV}"
            )
        return self.account

    @property
    def address(self) -> str:
        return str(self.signer.address)


def parse_key(text: str, source: str) -> str:
    """A private key as 0x + 64 hex digits; `source` names where it came from in errors (never the key)."""
    key = text.strip()
    if not _KEY_RE.fullmatch(key):
        raise ChainError(f"{source}: not a private key (64 hex digits, optionally 0x-prefixed, nothing else)")
    key = key if key.startswith("0x") else "0x" + key
    if int(key, 16) == 0:
        raise ChainError(f"{source}: the zero key is not a private key")
    return key


def read_key_file(path: Path) -> str:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ChainError(f"--key-file {path}: cannot read it ({exc.strerror or exc})") from exc
    return parse_key(text, f"--key-file {path}")


def resolve_key(key_file: Path | None, dev: devchain.DevChain | None = None) -> str | None:
    """--key-file, else $ZKINFER_CHAIN_KEY, else the dev chain's first account when `dev` is given; else None."""
    if key_file is not None:
        return read_key_file(key_file)
    env = os.environ.get(KEY_ENV)
    if env:
        return parse_key(env, f"${KEY_ENV}")
    return dev.default_key if dev is not None else None


def connect(rpc_url: str, key: str | None = None) -> Chain:
    """Connect to `rpc_url` and read its chain id; `key` signs transactions (None: read-only). web3 is
    imported here, the first chain call of every command: it imports py_ecc, which raises the recursion
    limit to 100000 (see `bls.py_ecc`), so the limit is put back (a deeply nested hostile JSON document
    must raise RecursionError, not overflow the C stack)."""
    limit = sys.getrecursionlimit()
    try:
        from web3 import Web3
    finally:
        sys.setrecursionlimit(limit)

    if not re.fullmatch(r"(https?|wss?)://[^\s]+", rpc_url):
        raise ChainError(f"--rpc-url {rpc_url[:80]!r} is not an http(s):// or ws(s):// URL")
    provider = Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_S})
    web3 = Web3(provider)
    try:
        chain_id = int(web3.eth.chain_id)
    except Exception as exc:  # requests' and web3's errors alike
        if unreachable(exc):  # nothing answers: an operator starts it, or a retry finds it back
            raise ChainUnreachable(
                f"--rpc-url {rpc_url}: no Ethereum node answers there ({type(exc).__name__}: {str(exc)[:200]}); "
                "start one with `zkinfer chain up`"
            ) from exc
        raise ChainError(
            f"--rpc-url {rpc_url}: what answers there is not an Ethereum node "
            f"({type(exc).__name__}: {str(exc)[:200]}); check the URL"
        ) from exc
    account = web3.eth.account.from_key(key) if key is not None else None
    return Chain(web3=web3, rpc_url=rpc_url, chain_id=chain_id, account=account)


def unreachable(exc: BaseException) -> bool:
    """True when an RPC endpoint did not answer (refused, reset, timed out) or failed (HTTP 5xx),
    as opposed to answering as something other than an Ethereum node (a wrong URL)."""
    import requests

    if isinstance(exc, requests.HTTPError):
        return exc.response is not None and exc.response.status_code >= 500
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError))


def stopped_answering(chain: Chain, what: str, exc: BaseException) -> ChainUnreachable:
    """The error for an RPC endpoint that answered once and then stopped (exit 3, a retry may pass)."""
    return ChainUnreachable(
        f"{what}: the Ethereum node at {chain.rpc_url} (chain {chain.chain_id}) stopped answering "
        f"({type(exc).__name__}); nothing was changed by this call unless its transaction was already sent: "
        "check `zkinfer chain status`, start the node again if it is down, and retry"
    )


def connect_cli(rpc_url: str | None, key_file: Path | None, state_dir: Path, *, need_key: bool) -> Chain:
    """What a chain command connects to: `--rpc-url` with an explicit key, or (no --rpc-url) the
    embedded dev chain running from `state_dir`, whose first prefunded account is then the default."""
    dev = None
    if rpc_url is None:
        dev = devchain.running(state_dir)
        if dev is None:
            raise ChainError(
                f"no --rpc-url given and no dev chain runs from {state_dir}; "
                f"start one with `zkinfer chain up --state-dir {state_dir}` or give --rpc-url"
            )
        rpc_url = dev.rpc_url
    key = resolve_key(key_file, dev)
    if need_key and key is None:
        raise ChainError(
            f"--rpc-url {rpc_url}: this command sends a transaction and needs a key: "
            f"give --key-file FILE (a hex private key) or set ${KEY_ENV}"
        )
    return connect(rpc_url, key)
