"""One write transaction on a shared SQLite connection, for the node's job store and the gateway's records."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def immediate(db: sqlite3.Connection, lock: threading.Lock | threading.RLock) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT under the process lock: takes SQLite's write lock up front (no
    deadlock between two readers upgrading), and rolls back whatever raised."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
