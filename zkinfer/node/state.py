"""The node's state directory: its lock, the node key, the API keys and the job store.

Each is made on first start when not given, and every failure is a one-line `NodeConfigError`
(exit 2) before the port opens. `server.load` calls these in order.
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
from typing import TextIO

from zkinfer.core import identity
from zkinfer.node import auth
from zkinfer.node.config import NodeConfig, NodeConfigError
from zkinfer.node.store import Store

log = logging.getLogger("zkinfer.node")


class StateDirError(NodeConfigError):
    """The state directory cannot be made or written (the job store, keys and lock live there)."""


def lock(config: NodeConfig) -> TextIO:
    """Make the state directory and hold an exclusive lock on it for the node's lifetime (released even by `kill -9`).

    A second node on the same store would re-queue the first one's proofs at start-up. Making the
    lock file is the first write, so an unwritable folder is reported here, in one line.
    """
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(config.state_dir / "node.lock", "w")  # noqa: SIM115 (held open on purpose)
    except OSError as exc:
        raise StateDirError(
            f"{config.state_dir}: cannot write the node's state directory ({exc.strerror}); give --state-dir a folder this user can write"
        ) from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise NodeConfigError(
            f"{config.state_dir}: another node is serving from this state directory; stop it or give --state-dir another folder"
        ) from exc
    return handle


def node_key(config: NodeConfig) -> identity.NodeKey:
    """The key that signs receipts: the one given, else the state directory's (made on first start)."""
    path = config.node_key_path
    if config.key_file is None and not path.exists():
        identity.save_key(identity.new_key(), path)
        log.info("made a node key at %s", path)
    return identity.load_key(path)


def api_keys(config: NodeConfig) -> auth.ApiKeys:
    """The API keys callers send: the file given, else the state directory's (one key made on first start)."""
    path = config.api_keys_path
    if config.api_keys_file is None and not path.exists():
        auth.create(path)
        log.info("made an API key in %s (send it as `Authorization: Bearer KEY`)", path)
    return auth.read(path)


def store(config: NodeConfig) -> Store:
    try:
        return Store(config.store_path)
    except sqlite3.Error as exc:
        raise StateDirError(
            f"{config.store_path}: cannot open the job store ({exc}); give --state-dir a folder this user can write"
        ) from exc
