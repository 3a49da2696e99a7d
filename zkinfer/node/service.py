"""The node's state and the path of a request: validate → fast answer → persist → acknowledge.

Everything here runs on the event loop except SQLite writes and the fast path (worker threads)
and proving (worker processes). Accepted jobs are written in group commits: every request that
arrives while one commit is in flight is persisted by the next, so a burst pays one fsync per
commit rather than one per request, and nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hmac
import logging
import math
import secrets
import sqlite3
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from zkinfer import identity
from zkinfer.errors import InputError
from zkinfer.node import auth, jobs, protocol
from zkinfer.node.config import NodeConfig, NodeConfigError
from zkinfer.node.metrics import Metrics
from zkinfer.node.models import ServedModel, load_provers
from zkinfer.node.store import UNFINISHED, JobView, NewJob, Store
from zkinfer.node.workers import Finished, WorkerPool, WorkerSettings
from zkinfer.prove import FastAnswer

log = logging.getLogger("zkinfer.node")

FIRST_GUESS_JOB_S = 5.0  # seconds per job assumed for Retry-After until a proof has been timed


class UnknownModel(LookupError):
    pass


class QueueFull(Exception):
    def __init__(self, depth: int, retry_after: int) -> None:
        super().__init__(f"the proving queue is full ({depth} jobs); retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Accepted:
    job_id: str
    model: ServedModel
    parsed: protocol.ParsedInfer
    fast: FastAnswer


def _check_finite(fast: FastAnswer, model: ServedModel) -> None:
    """Refuse (422, nothing queued) an input whose float answer overflowed: it was never served, so there is nothing to prove."""
    for spec, output in zip(model.output_specs, fast.outputs, strict=True):
        bad = np.flatnonzero(~np.isfinite(output))
        if bad.size:
            raise InputError(
                f"inputs: drive the model's output out of range (output {spec.name!r} is {output.flat[bad[0]]} at flat index {bad[0]}); "
                "send values in the range the model was made for"
            )


def _node_key(config: NodeConfig) -> identity.NodeKey:
    path = config.node_key_path
    if config.key_file is None and not path.exists():
        identity.save_key(identity.new_key(), path)
        log.info("made a node key at %s", path)
    return identity.load_key(path)


def _api_keys(config: NodeConfig) -> auth.ApiKeys:
    path = config.api_keys_path
    if config.api_keys_file is None and not path.exists():
        auth.create(path)
        log.info("made an API key in %s (send it as `Authorization: Bearer KEY`)", path)
    return auth.read(path)


class StateDirError(NodeConfigError):
    """The state directory cannot be made or written (the job store, keys and lock live there)."""


def _lock_state_dir(config: NodeConfig) -> TextIO:
    """Make the state directory and hold an exclusive lock on it for the node's lifetime (released even by `kill -9`).

    A second node on the same store would re-queue the first one's proofs at start-up. Making the
    lock file is the first write, so an unwritable folder is reported here, in one line.
    """
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(config.state_dir / "node.lock", "w")  # noqa: SIM115 (held open on purpose)
    except OSError as exc:
        raise StateDirError(f"{config.state_dir}: cannot write the node's state directory ({exc.strerror}); give --state-dir a folder this user can write") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise NodeConfigError(f"{config.state_dir}: another node is serving from this state directory; stop it or give --state-dir another folder") from exc
    return handle


class Node:
    """Loads circuits and keys, owns the store and the worker pool, admits requests."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self._lock = _lock_state_dir(config)
        key = _node_key(config)
        log.info("node public key %s (auditors pin it with --expect-signer)", key.public_hex)
        self.api_keys = _api_keys(config)
        provers = load_provers(config.circuits, prefer_gpu=config.prefer_gpu)
        self.models = {
            name: ServedModel(prover=p, jobs_per_proof=config.jobs_per_proof(p.circuit.manifest.batch_size, p.circuit.manifest.visibility.input))
            for name, p in provers.items()
        }
        for m in self.models.values():
            log.info("serving %s (k=%d, batch %d, %d job(s) per proof)", m.name, m.prover.circuit.logrows, m.batch_size, m.jobs_per_proof)
        try:
            self.store = Store(config.store_path)
        except sqlite3.Error as exc:
            raise StateDirError(f"{config.store_path}: cannot open the job store ({exc}); give --state-dir a folder this user can write") from exc
        self.store.requeue()  # jobs a stop or crash of the node left mid-proof go back to the queue before any worker starts
        self.depth = self.store.count_unfinished(list(self.models))
        if self.depth:
            log.info("resuming %d unfinished job(s)", self.depth)
        self.metrics = Metrics()
        self.metrics.queue_depth.set(self.depth)
        settings = WorkerSettings(
            circuits=config.circuits,
            store_path=config.store_path,
            key_path=config.node_key_path,
            caps={name: m.jobs_per_proof for name, m in self.models.items()},
            window_s=config.batch_window_ms / 1000,
            rayon_threads=config.rayon_threads,
            nice=config.worker_nice,
        )
        self.pool = WorkerPool(config.workers, settings, lambda slot: self.store.requeue(slot), self._from_pool)
        self.metrics.workers_ready.set_function(lambda: self.pool.ready_count)
        self._mean_job_s = FIRST_GUESS_JOB_S
        self._waiters: dict[str, asyncio.Event] = {}
        self._pending: list[tuple[NewJob, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.pool.ready

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._writer = asyncio.create_task(self._write_jobs())
        self.pool.start()
        log.info("%d prover worker(s), RAYON_NUM_THREADS=%d each", self.config.workers, self.config.rayon_threads)

    async def stop(self) -> None:
        await asyncio.to_thread(self.pool.stop)
        if self._writer is not None:
            self._writer.cancel()
        self.store.requeue()  # a proof cut short by shutdown is redone on the next start
        self.store.close()
        self._lock.close()

    # --- admission -------------------------------------------------------------------------

    def model(self, name: str) -> ServedModel:
        try:
            return self.models[name]
        except KeyError:
            raise UnknownModel(f"model {name!r} is not served here") from None  # the others are not listed: keys are per tenant

    def retry_after(self) -> int:
        return max(1, math.ceil(self._mean_job_s / self.config.workers))

    async def infer(self, model: ServedModel, body: bytes, header_length: str | None, owner: str) -> Accepted:
        """Check the request, answer it fast, persist the job; only then is it accepted."""
        parsed = protocol.parse_infer(body, header_length, model.input_specs, model.output_specs)
        if self.depth >= self.config.max_queue:
            self.metrics.rejected.labels("queue_full").inc()
            raise QueueFull(self.depth, self.retry_after())
        self.depth += 1
        try:
            fast = await asyncio.to_thread(model.answer, parsed.sample)
            _check_finite(fast, model)
            job = NewJob(id=secrets.token_urlsafe(16), model=model.name, payload=jobs.encode(model.input_specs, parsed.sample, model.output_specs, fast), owner=owner, public=parsed.receipt_public)
            await self._persist(job)
        except Exception:
            self.depth -= 1
            raise
        finally:
            self.metrics.queue_depth.set(self.depth)
        return Accepted(job_id=job.id, model=model, parsed=parsed, fast=fast)

    async def _persist(self, job: NewJob) -> None:
        assert self._loop is not None, "Node.start() was not called"
        done: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((job, done))
        self._wake.set()
        await asyncio.shield(done)

    async def _write_jobs(self) -> None:
        """Group commit: persist everything pending in one transaction, then acknowledge it all."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await asyncio.to_thread(self.store.add_many, [job for job, _ in batch])
            except Exception as exc:
                log.exception("could not persist %d job(s)", len(batch))
                for _, done in batch:
                    done.set_exception(exc)
            else:
                for _, done in batch:
                    done.set_result(None)

    # --- results ---------------------------------------------------------------------------

    async def job(self, job_id: str) -> JobView | None:
        return await asyncio.to_thread(self.store.get, job_id)

    async def job_for(self, job_id: str, owner: str) -> JobView | None:
        """The job if `owner` may read it (its own, or public); else None, as for an unknown id.

        Jobs stored before owners were recorded have none and are readable by no key (the operator
        still has them in the store): the safe choice, since who asked for them is not known.
        """
        view = await self.job(job_id)
        if view is None or view.public or (view.owner is not None and hmac.compare_digest(view.owner, owner)):
            return view
        return None

    async def wait(self, job_id: str, timeout_s: float) -> JobView | None:
        """The job once it has left the queue, or as it stands after `timeout_s`."""
        event = self._waiters.setdefault(job_id, asyncio.Event())
        try:
            view = await self.job(job_id)
            if view is not None and view.state in UNFINISHED:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout_s)
                view = await self.job(job_id)
            return view
        finally:
            self._waiters.pop(job_id, None)

    def _from_pool(self, event: Finished) -> None:
        """Called on the pool's thread: hand the event to the event loop."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._apply, event)

    def _apply(self, event: Finished) -> None:
        self.depth -= len(event.ids)
        self.metrics.queue_depth.set(self.depth)
        if event.proven:
            self.metrics.proof_seconds.labels(event.model).observe(event.seconds)
            self.metrics.jobs_proven.labels(event.model).inc(len(event.ids))
            self._mean_job_s = 0.8 * self._mean_job_s + 0.2 * event.seconds / len(event.ids)
        else:
            self.metrics.failures.labels(event.model).inc(len(event.ids))
            log.warning("%d job(s) of %s failed: %s", len(event.ids), event.model, event.error)
        for job_id in event.ids:
            waiter = self._waiters.get(job_id)
            if waiter is not None:
                waiter.set()
