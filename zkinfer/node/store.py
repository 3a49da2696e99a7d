"""The job store: SQLite in WAL mode, `synchronous=FULL`, shared by the web process and the workers.

A request is acknowledged only after its job row is committed (and fsynced), so a crash — even
`kill -9` mid-proof — loses no accepted job: on restart, jobs left `proving` go back to `accepted`.
Workers claim jobs with `BEGIN IMMEDIATE`, so two processes never prove the same job at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from zkinfer.core.support import sqlite_tx
from zkinfer.core.support.errors import ZkinferError

# A job whose proving killed its worker this many times is failed instead of retried forever.
# Only a worker's death while proving the job counts (`attempts`), never a node stop or restart:
# those are not the job's doing, and counting them lost valid jobs after three restarts.
MAX_ATTEMPTS = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS proofs (
    id INTEGER PRIMARY KEY,
    receipt TEXT NOT NULL,
    prove_seconds REAL NOT NULL,
    jobs INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    accepted_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker INTEGER,
    proof_id INTEGER REFERENCES proofs(id),
    batch_row INTEGER,
    error TEXT,
    internal_error INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs(state, model, seq);
"""

# Schema changes since the first store, as (version reached, statements); `PRAGMA user_version`
# records the version a store is at, so a store written by an older node still opens.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        ["UPDATE jobs SET attempts = 0 WHERE state IN ('accepted', 'proving')"],
    ),  # attempts counted claims, now crashes
    # who may read the receipt: the SHA-256 of the API key that asked (NULL for jobs from before: no one), or anyone
    (2, ["ALTER TABLE jobs ADD COLUMN owner TEXT", "ALTER TABLE jobs ADD COLUMN public INTEGER NOT NULL DEFAULT 0"]),
    # an optimistic node's claims: committed with their job, posted later (batch_id and claim_file set then)
    (
        3,
        [
            """CREATE TABLE IF NOT EXISTS claims (
        request_id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL UNIQUE REFERENCES jobs(id),
        claim TEXT NOT NULL,
        batch_id INTEGER,
        claim_key TEXT UNIQUE,
        claim_file TEXT,
        challenged INTEGER NOT NULL DEFAULT 0,
        answered INTEGER NOT NULL DEFAULT 0
    )""",
            "CREATE INDEX IF NOT EXISTS claims_pending ON claims(batch_id)",
        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class StoreVersionError(ZkinferError):
    """The job store was written by a newer zkinfer than this one."""


class JobState(StrEnum):
    ACCEPTED = "accepted"
    PROVING = "proving"
    PROVEN = "proven"
    FAILED = "failed"
    HELD = "held"  # an optimistic answer: not proven unless its claim is challenged (then accepted)


UNFINISHED = (JobState.ACCEPTED, JobState.PROVING)


@dataclass(frozen=True)
class NewJob:
    id: str
    model: str
    payload: str  # JSON of `jobs.JobPayload`
    owner: str | None = None  # digest of the API key that asked (never the key)
    public: bool = False  # readable by every API key
    claim: str | None = None  # an optimistic node's claim (JSON of `chain.claims.Claim`), committed with the job
    held: bool = False  # optimistic and not drawn by the spot check: proven only if challenged


@dataclass(frozen=True)
class StoredClaim:
    """A claim as the node keeps it: posted once `batch_id` is set (then `claim_file` is the JSON a
    challenger needs)."""

    request_id: str
    job_id: str
    claim: str
    batch_id: int | None
    claim_file: str | None
    challenged: bool
    answered: bool


@dataclass(frozen=True)
class Claim:
    """Jobs for one model that one worker proves together, in row order."""

    model: str
    ids: list[str]
    payloads: list[str]


@dataclass(frozen=True)
class JobView:
    id: str
    model: str
    state: JobState
    error: str | None
    receipt: str | None
    batch_row: int | None
    batch_jobs: int | None
    internal_error: bool  # a failure of the node (a bug, an ezkl panic), not of the job's input
    owner: str | None = None
    public: bool = False


class Store:
    """One connection per process (thread-safe behind a lock); every write is its own transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)  # idempotent (IF NOT EXISTS), so workers may open it concurrently
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older store up to SCHEMA_VERSION, once (under the write lock: workers open it too)."""
        with self._transaction() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{self.path}: written by a newer zkinfer "
                    f"(store version {version}, this one reads up to {SCHEMA_VERSION}); "
                    "upgrade zkinfer or give --state-dir another folder"
                )
            for target, statements in MIGRATIONS:
                if version < target:
                    for statement in statements:
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite_tx.immediate(self._db, self._lock)

    def add_many(self, jobs: list[NewJob]) -> None:
        """Persist accepted jobs in one durable commit (group commit for a burst of requests)."""
        now = time.time()
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO jobs (id, model, state, payload, accepted_at, owner, public) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        j.id,
                        j.model,
                        (JobState.HELD if j.held else JobState.ACCEPTED).value,
                        j.payload,
                        now,
                        j.owner,
                        int(j.public),
                    )
                    for j in jobs
                ],
            )
            db.executemany(
                "INSERT INTO claims (request_id, job_id, claim) VALUES (json_extract(?, '$.request_id'), ?, ?)",
                [(j.claim, j.id, j.claim) for j in jobs if j.claim is not None],
            )

    def count_unfinished(self, models: list[str]) -> int:
        marks = ",".join("?" * len(models))
        with self._lock:
            row = self._db.execute(
                f"SELECT COUNT(*) FROM jobs WHERE state IN (?, ?) AND model IN ({marks})", (*UNFINISHED, *models)
            ).fetchone()
        return int(row[0])

    def requeue(self, worker: int | None = None) -> list[tuple[str, str]]:
        """Put `proving` jobs back in the queue: all of them when the node starts or stops, or one dead worker's.

        Only a worker's death counts against its jobs: one that has killed its worker MAX_ATTEMPTS
        times is failed instead (returned as (id, model) pairs). A node restart counts nothing.
        """
        if worker is None:
            with self._transaction() as db:
                db.execute(
                    "UPDATE jobs SET state = ?, worker = NULL WHERE state = ?",
                    (JobState.ACCEPTED.value, JobState.PROVING.value),
                )
            return []
        where, args = "state = ? AND worker = ?", [JobState.PROVING.value, worker]
        with self._transaction() as db:
            db.execute(f"UPDATE jobs SET attempts = attempts + 1 WHERE {where}", args)
            doomed = [
                (r[0], r[1])
                for r in db.execute(
                    f"SELECT id, model FROM jobs WHERE {where} AND attempts >= ?", (*args, MAX_ATTEMPTS)
                )
            ]
            db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, error = ?, internal_error = 1 "
                f"WHERE {where} AND attempts >= ?",
                (
                    JobState.FAILED.value,
                    time.time(),
                    f"proving stopped its worker {MAX_ATTEMPTS} times; not retried",
                    *args,
                    MAX_ATTEMPTS,
                ),
            )
            db.execute(f"UPDATE jobs SET state = ?, worker = NULL WHERE {where}", (JobState.ACCEPTED.value, *args))
        return doomed

    def has_accepted(self) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM jobs WHERE state = ? LIMIT 1", (JobState.ACCEPTED.value,)).fetchone()
                is not None
            )

    def claim(self, worker: int, caps: dict[str, int], window_s: float) -> Claim | None:
        """Claim the oldest ready group: up to `caps[model]` jobs of one model.

        A model whose cap is above 1 (batching) is ready once it has a full batch or its oldest job
        has waited `window_s`; otherwise any accepted job is ready at once.
        """
        if not self.has_accepted():
            return None
        now = time.time()
        with self._transaction() as db:
            groups = db.execute(
                "SELECT model, COUNT(*), MIN(seq), MIN(accepted_at) FROM jobs WHERE state = ? GROUP BY model",
                (JobState.ACCEPTED.value,),
            ).fetchall()
            ready = [
                (first, model)
                for model, count, first, oldest in groups
                if model in caps and (caps[model] <= 1 or count >= caps[model] or now - oldest >= window_s)
            ]
            if not ready:
                return None
            model = min(ready)[1]
            rows = db.execute(
                "SELECT seq, id, payload FROM jobs WHERE state = ? AND model = ? ORDER BY seq LIMIT ?",
                (JobState.ACCEPTED.value, model, caps[model]),
            ).fetchall()
            db.executemany(
                "UPDATE jobs SET state = ?, worker = ?, started_at = ? WHERE seq = ?",
                [(JobState.PROVING.value, worker, now, seq) for seq, _, _ in rows],
            )
        return Claim(model=model, ids=[r[1] for r in rows], payloads=[r[2] for r in rows])

    def finish(self, ids: list[str], receipt: str, prove_seconds: float) -> None:
        """Store one receipt for a claimed group; job i is row i of the proof."""
        now = time.time()
        with self._transaction() as db:
            proof_id = db.execute(
                "INSERT INTO proofs (receipt, prove_seconds, jobs, created_at) VALUES (?, ?, ?, ?)",
                (receipt, prove_seconds, len(ids), now),
            ).lastrowid
            db.executemany(
                "UPDATE jobs SET state = ?, proof_id = ?, batch_row = ?, finished_at = ?, error = NULL "
                "WHERE id = ? AND state = ?",
                [
                    (JobState.PROVEN.value, proof_id, row, now, job_id, JobState.PROVING.value)
                    for row, job_id in enumerate(ids)
                ],
            )

    def fail(self, ids: list[str], error: str, internal: bool = False) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE jobs SET state = ?, error = ?, internal_error = ?, finished_at = ? WHERE id = ? AND state = ?",
                [
                    (JobState.FAILED.value, error, int(internal), time.time(), job_id, JobState.PROVING.value)
                    for job_id in ids
                ],
            )

    def get(self, job_id: str) -> JobView | None:
        with self._lock:
            row = self._db.execute(
                "SELECT j.id, j.model, j.state, j.error, p.receipt, j.batch_row, p.jobs, "
                "j.internal_error, j.owner, j.public "
                "FROM jobs j LEFT JOIN proofs p ON p.id = j.proof_id WHERE j.id = ?",
                (job_id,),
            ).fetchone()
        if row is None:
            return None
        return JobView(
            id=row[0],
            model=row[1],
            state=JobState(row[2]),
            error=row[3],
            receipt=row[4],
            batch_row=row[5],
            batch_jobs=row[6],
            internal_error=bool(row[7]),
            owner=row[8],
            public=bool(row[9]),
        )

    # --- an optimistic node's claims ---------------------------------------------------------

    _CLAIM_COLUMNS = "request_id, job_id, claim, batch_id, claim_file, challenged, answered"

    def _claims(self, where: str, args: tuple[object, ...]) -> list[StoredClaim]:
        with self._lock:
            rows = self._db.execute(f"SELECT {self._CLAIM_COLUMNS} FROM claims WHERE {where}", args).fetchall()
        return [StoredClaim(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6])) for r in rows]

    def _claim(self, unique_column: str, value: str) -> StoredClaim | None:
        found = self._claims(f"{unique_column} = ?", (value,))
        return found[0] if found else None

    def claim_of(self, request_id: str) -> StoredClaim | None:
        return self._claim("request_id", request_id)

    def claim_by_key(self, claim_key: str) -> StoredClaim | None:
        return self._claim("claim_key", claim_key)

    def unposted_claims(self, limit: int) -> list[StoredClaim]:
        """The oldest claims not yet on chain (a restart finds those the last run left)."""
        return self._claims("batch_id IS NULL ORDER BY rowid LIMIT ?", (limit,))

    def count_unposted_claims(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM claims WHERE batch_id IS NULL").fetchone()[0])

    def mark_posted(self, posted: list[tuple[str, int, str, str]]) -> None:
        """(request id, batch id, claim key hex, claim file JSON) for each claim of a posted batch."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE claims SET batch_id = ?, claim_key = ?, claim_file = ? WHERE request_id = ?",
                [(b, k, f, r) for r, b, k, f in posted],
            )

    def challenge(self, request_id: str) -> None:
        """A challenged claim: its held job goes to the proving queue (a spot-checked one is proven already)."""
        with self._transaction() as db:
            db.execute("UPDATE claims SET challenged = 1 WHERE request_id = ?", (request_id,))
            db.execute(
                "UPDATE jobs SET state = ? WHERE state = ? AND id = (SELECT job_id FROM claims WHERE request_id = ?)",
                (JobState.ACCEPTED.value, JobState.HELD.value, request_id),
            )

    def challenged_claims(self) -> list[StoredClaim]:
        return self._claims("challenged = 1 AND answered = 0", ())

    def close_challenge(self, request_id: str) -> None:
        """Stop working on a claim's challenge: answered on chain, closed there, or unanswerable (its job failed)."""
        with self._transaction() as db:
            db.execute("UPDATE claims SET answered = 1 WHERE request_id = ?", (request_id,))

    def counts(self) -> dict[JobState, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {JobState(state): int(n) for state, n in rows}
