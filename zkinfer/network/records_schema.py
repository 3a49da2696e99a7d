"""The gateway records' SQLite schema, its versioned migrations, and opening a database with them.

The schema is versioned with `PRAGMA user_version` (`MIGRATIONS`), as the node's job store is, so
a state directory written by an older gateway still opens and a newer one is refused.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from zkinfer.core.support import sqlite_tx
from zkinfer.core.support.errors import UsageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    model TEXT NOT NULL,
    node_key TEXT NOT NULL,
    node TEXT NOT NULL,
    at REAL NOT NULL,
    latency_ms REAL,
    verdict TEXT NOT NULL,
    dissent_kind TEXT,
    detail TEXT NOT NULL DEFAULT '',
    statement TEXT,
    statement_digest TEXT,
    claim TEXT,
    promise TEXT,
    receipt_id TEXT,
    prove_by INTEGER,
    receipt TEXT NOT NULL,
    proven_equal INTEGER,
    receipt_detail TEXT NOT NULL DEFAULT '',
    receipt_seconds REAL,
    evidence TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS answers_node ON answers(node_key, seq);
CREATE INDEX IF NOT EXISTS answers_claim ON answers(node_key, claim);
CREATE INDEX IF NOT EXISTS answers_request ON answers(request_id);
CREATE INDEX IF NOT EXISTS answers_watch ON answers(receipt);
CREATE TABLE IF NOT EXISTS certificates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    model TEXT NOT NULL,
    statement_digest TEXT NOT NULL,
    certificate TEXT NOT NULL,
    signers TEXT NOT NULL,
    dissenters TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_request ON certificates(request_id, seq);
CREATE TABLE IF NOT EXISTS evidence (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    accused TEXT NOT NULL,
    node TEXT NOT NULL,
    request_id TEXT NOT NULL,
    at REAL NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_accused ON evidence(accused);
"""

# (version reached, statements) for each schema change after the first.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, []),
    (  # 2: certificates queued for the chain (`zkinfer gateway --post-certificates`), by the certificate's seq
        2,
        [
            "CREATE TABLE IF NOT EXISTS chain_posts (certificate_seq INTEGER PRIMARY KEY, state TEXT NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL, tx_hash TEXT,"
            " detail TEXT NOT NULL DEFAULT '')",
            "CREATE INDEX IF NOT EXISTS chain_posts_due ON chain_posts(state, next_try)",
        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class RecordsError(UsageError):
    """The gateway's records cannot be opened (unwritable, corrupt, or from a newer zkinfer)."""


def connect(path: Path, lock: threading.Lock) -> sqlite3.Connection:
    """Open (creating or migrating) the gateway's records at `path`; RecordsError when it cannot."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        _migrate(db, lock, path)
    except (OSError, sqlite3.Error) as exc:
        raise RecordsError(
            f"{path}: cannot open the gateway's records ({exc}); give --state-dir a folder this user can write"
        ) from exc
    return db


def _migrate(db: sqlite3.Connection, lock: threading.Lock, path: Path) -> None:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise RecordsError(
            f"{path}: written by a newer zkinfer (schema {version}, this one knows {SCHEMA_VERSION}); upgrade zkinfer "
            "or use another --state-dir"
        )
    if version == 0:
        with lock:
            db.executescript(SCHEMA)  # executescript commits by itself: not inside a transaction
    with sqlite_tx.immediate(db, lock) as tx:
        for reached, statements in MIGRATIONS:
            if version < reached:
                for sql in statements:
                    tx.execute(sql)
        tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
