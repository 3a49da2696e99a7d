"""The network's side of the pinned node set: the set itself is the auditor's policy
(`zkinfer.verify.nodeset`, re-exported here for the gateway and the consensus client), and here is
what an operator writes into nodes.toml for one node (`zkinfer keys show`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from zkinfer.core.crypto import identity
from zkinfer.core.support.errors import UsageError
from zkinfer.verify.nodeset import (
    ENV_NAME,
    KINDS,
    MAX_FILE_BYTES,
    MAX_NODES,
    MAX_WEIGHT,
    NAME,
    NODE_KEYS,
    QUORUM_KEYS,
    NodeSet,
    NodeSetError,
    PinnedNode,
    QuorumRule,
    dump,
    load,
    parse,
    pop_ok,
)

_URL = re.compile(r"https?://[^\s\"\\]+")

__all__ = [
    "ENV_NAME",
    "KINDS",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_WEIGHT",
    "NAME",
    "NODE_KEYS",
    "QUORUM_KEYS",
    "NodeEntry",
    "NodeSet",
    "NodeSetError",
    "PinnedNode",
    "QuorumRule",
    "dump",
    "entry",
    "load",
    "parse",
    "pop_ok",
]


@dataclass(frozen=True)
class NodeEntry:
    """One node's [[nodes]] table for nodes.toml, from its key file."""

    name: str
    url: str
    public_key: str  # hex
    proof_of_possession: str  # hex
    api_key_env: str | None

    def toml(self) -> str:
        """The [[nodes]] table (weight 1); its api_key_env line separately: `api_key_line`."""
        return (
            f'[[nodes]]\nname = "{self.name}"\nurl = "{self.url}"\npublic_key = "{self.public_key}"\n'
            f'proof_of_possession = "{self.proof_of_possession}"\nweight = 1'
        )

    def api_key_line(self) -> str:
        """The api_key_env line: as given, else commented out, with a name suggested from the node's."""
        if self.api_key_env is not None:
            return (
                f'api_key_env = "{self.api_key_env}"   '
                f"# the gateway sends ${self.api_key_env} to this node as its API key"
            )
        suggested = re.sub(r"[^A-Z0-9_]", "_", self.name.upper()) + "_API_KEY"
        suggested = suggested if ENV_NAME.fullmatch(suggested) else "NODE_" + suggested
        return (
            f'# api_key_env = "{suggested}"   # the node needs an API key: '
            "name the variable the gateway reads it from (--api-key-env)"
        )


def entry(key_file: Path, name: str, url: str, api_key_env: str | None = None) -> NodeEntry:
    """The nodes.toml entry for a node key file; a name, URL or variable name nodes.toml would refuse is a
    UsageError naming the option (checked before the key is read)."""
    if not NAME.fullmatch(name):
        raise UsageError(f"--name: {name[:40]!r} is not 1-32 characters of A-Z a-z 0-9 _ -")
    if not _URL.fullmatch(url):
        raise UsageError(f"--url: {url[:80]!r} is not an http:// or https:// URL")
    if api_key_env is not None and not ENV_NAME.fullmatch(api_key_env):
        raise UsageError(
            f"--api-key-env: {api_key_env[:40]!r} is not an environment variable name "
            "(A-Z a-z 0-9 _, not starting with a digit), e.g. ALPHA_API_KEY"
        )
    key = identity.load_key(key_file)
    pop = identity.proof_of_possession(key).hex()
    return NodeEntry(name, url, key.public_hex, pop, api_key_env)
