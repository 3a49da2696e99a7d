"""The node's state directory: its lock, the node key, the API keys and the job store.

Each is made on first start when not given, and every failure is a one-line usage error (exit 2)
before the port opens. `server.load` calls these in order; the lock and the API keys are the
serving layer's (`zkinfer.serving.state`, `zkinfer.serving.auth`), shared with the gateway.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TextIO

from zkinfer.core.crypto import identity
from zkinfer.node.config import NodeConfig
from zkinfer.node.store import Store
from zkinfer.serving import auth
from zkinfer.serving import state as serving_state
from zkinfer.serving.state import StateDirError

log = logging.getLogger("zkinfer.node")


def lock(config: NodeConfig) -> TextIO:
    """Make the state directory and hold its lock for the node's lifetime: a second node on the same
    store would re-queue the first one's proofs at start-up."""
    return serving_state.lock(config.state_dir, "node")


def node_key(config: NodeConfig) -> identity.NodeKey:
    """The key that signs receipts: the one given, else the state directory's (made on first start)."""
    return serving_state.node_key(config.node_key_path, config.key_file is not None, log)


def api_keys(config: NodeConfig) -> auth.ApiKeys:
    """The API keys callers send: the file given, else the state directory's (one key made on first start)."""
    return auth.load(config.api_keys_path, config.api_keys_file is not None, log)


def store(config: NodeConfig) -> Store:
    try:
        return Store(config.store_path)
    except sqlite3.Error as exc:
        raise StateDirError(
            f"{config.store_path}: cannot open the job store ({exc}); give --state-dir a folder this user can write"
        ) from exc
