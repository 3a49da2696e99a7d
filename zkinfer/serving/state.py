"""A server's state directory: made on first start, held by one server at a time, and home of its key.

A second node on the same job store would re-queue the first one's proofs at start-up; two gateways
on one directory would watch the same receipts twice. Making the lock file is the first write, so
an unwritable folder is reported here, in one line, before the port opens.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path
from typing import TextIO

from zkinfer.core.crypto import identity
from zkinfer.core.support.errors import UsageError


class StateDirError(UsageError):
    """The state directory cannot be made or written, or another server holds it."""


def lock(state_dir: Path, who: str) -> TextIO:
    """Make `state_dir` and hold an exclusive lock on `<who>.lock` there for the server's lifetime
    (released even by `kill -9`); `who` ("node", "gateway") names the server in messages."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(state_dir / f"{who}.lock", "w")  # noqa: SIM115 (held open on purpose)
    except OSError as exc:
        raise StateDirError(
            f"{state_dir}: cannot write the {who}'s state directory ({exc.strerror}); "
            "give --state-dir a folder this user can write"
        ) from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise StateDirError(
            f"{state_dir}: another {who} is serving from this state directory; "
            "stop it or give --state-dir another folder"
        ) from exc
    return handle


def node_key(path: Path, given: bool, log: logging.Logger) -> identity.NodeKey:
    """The key that signs the server's statements and receipts: the file given, else the state
    directory's (made on first start)."""
    if not given and not path.exists():
        identity.save_key(identity.new_key(), path)
        log.info("made a node key at %s", path)
    return identity.load_key(path)
