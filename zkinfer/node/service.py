"""The node's service: admit an inference (check → fast answer → persist → acknowledge), read results.

It takes a model name, typed tensors, options and the caller's owner id, and answers with typed
results or raises typed errors; it knows nothing of HTTP, status codes or Triton's headers (the
HTTP layer is `app` + `protocol`, errors become statuses in `statuses`). Building a node (lock,
keys, store, requeue, workers) is `server.load`; the constructor only wires what it is given.

Everything here runs on the event loop except SQLite writes and the fast path (worker threads),
the signed statement (statement worker processes: `statement_pool`) and proving (prover worker
processes). Accepted jobs are written in group commits: every request that arrives while one commit
is in flight is persisted by the next, so a burst pays one fsync per commit rather than one per
request, and nothing is acknowledged before it is durable. The request's and the fast answer's
checks are `answer_checks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from zkinfer.core.crypto.identity import NodeKey
from zkinfer.core.formats.inputs import Sample
from zkinfer.core.support.errors import InputError
from zkinfer.node import jobs
from zkinfer.node.answer_checks import Tensor, check_finite, chosen_outputs, sample_of
from zkinfer.node.config import NodeConfig
from zkinfer.node.metrics import Metrics
from zkinfer.node.models import ServedModel
from zkinfer.node.statement_pool import StatementPool, StatementSettings
from zkinfer.node.statements import Signed, StatementSigner, signs_statements
from zkinfer.node.store import UNFINISHED, JobView, NewJob, Store, StoredClaim
from zkinfer.node.workers import Finished, WorkerPool, WorkerSettings
from zkinfer.serving import auth

if TYPE_CHECKING:  # the chain extra (web3) is needed only by an optimistic node
    from zkinfer.chain.claims import Claim
    from zkinfer.node.claimdesk import ClaimDesk

log = logging.getLogger("zkinfer.node")

FIRST_GUESS_JOB_S = 5.0  # seconds per job assumed for Retry-After until a proof has been timed


class UnknownModel(LookupError):
    """No such model (or version) here; the others are not named: API keys are per tenant."""


class UnknownReceipt(LookupError):
    """No such job, or another key's: the same error, so ids reveal nothing."""


class QueueFull(Exception):
    def __init__(self, depth: int, retry_after: int) -> None:
        super().__init__(f"the proving queue is full ({depth} jobs); retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class InferOptions:
    outputs: tuple[str, ...] | None = None  # the outputs to answer with, by name, in this order; None: all
    receipt_public: bool = False  # every API key may read the receipt, not only the caller's
    request_id: str | None = None  # the statement's request id (the OIP request `id`); None: the job id


@dataclass(frozen=True)
class Accepted:
    """An inference the node answered and committed to prove."""

    job_id: str
    model: str
    outputs: list[Tensor]  # the fast answer, as chosen by `InferOptions.outputs`
    fast_provider: str
    signed: Signed | None = (
        None  # the statement the proof will attest and the promise to prove it (None: the model cannot sign one)
    )
    claim: Claim | None = None  # an optimistic node's on-chain claim of the statement (posted later, in a batch)
    held: bool = False  # optimistic and not spot-checked: proven only if the claim is challenged


class Node:
    """Owns the loaded models, the store and the worker pool; admits inferences and reads results."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        lock: TextIO,
        api_keys: auth.ApiKeys,
        models: dict[str, ServedModel],
        store: Store,
        unfinished: int,
        workers: WorkerSettings,
        statements: StatementSettings,
        key: NodeKey,
        proof_of_possession: bytes,
        desk_factory: Callable[[Node], ClaimDesk] | None = None,
    ) -> None:
        self.config = config
        self.key = key
        self.proof_of_possession = (
            proof_of_possession  # of `key`: what lets a gateway aggregate this node's statement signatures
        )
        self.statements = StatementPool(config.statement_workers, statements)
        # every statement worker may run a witness at once, a batch circuit's too: one run at a time spends least CPU
        # (a run costs the same for 1 row or N) but makes a request that just missed a run wait for two
        # (bench_node_load quick, quiet: p50 76 -> 55-60 ms, statement workers' CPU 2.2 -> 2.4 ms per request)
        self.signers = {
            name: StatementSigner(m, self.statements.run, slots=config.statement_workers)
            for name, m in models.items()
            if signs_statements(m)
        }
        self.api_keys = api_keys
        self.models = models
        self.store = store
        self.depth = unfinished  # accepted jobs not yet proven or failed
        self._lock = lock  # the state directory's lock, held until `stop`
        self.metrics = Metrics()
        self.metrics.queue_depth.set(self.depth)
        self.pool = WorkerPool(config.workers, workers, lambda slot: self.store.requeue(slot), self._from_pool)
        self.metrics.workers_ready.set_function(lambda: self.pool.ready_count)
        self.metrics.statement_workers_ready.set_function(lambda: self.statements.ready_count)
        self.metrics.witness_runs.set_function(lambda: sum(s.runs for s in self.signers.values()))
        self._mean_job_s = FIRST_GUESS_JOB_S
        self._waiters: dict[str, asyncio.Event] = {}
        self._pending: list[tuple[NewJob, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.Task[None] | None = None
        self._claiming: set[str] = set()  # request ids whose claim is being committed (a second one is refused)
        self.desk = desk_factory(self) if desk_factory is not None else None  # the optimistic node's chain side

    @property
    def ready(self) -> bool:
        return self.pool.ready and self.statements.ready

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._writer = asyncio.create_task(self._write_jobs())
        self.statements.start()
        self.pool.start()
        if self.desk is not None:
            self.desk.start()
        log.info(
            "%d prover worker(s), RAYON_NUM_THREADS=%d each; %d statement worker(s)",
            self.config.workers,
            self.config.rayon_threads,
            self.config.statement_workers,
        )

    async def stop(self) -> None:
        if self.desk is not None:
            await asyncio.to_thread(self.desk.stop)
        await asyncio.gather(asyncio.to_thread(self.pool.stop), asyncio.to_thread(self.statements.stop))
        if self._writer is not None:
            self._writer.cancel()
        self.store.requeue()  # a proof cut short by shutdown is redone on the next start
        self.store.close()
        self._lock.close()

    # --- admission -------------------------------------------------------------------------

    def owner(self, credential: str | None) -> str | None:
        """The caller's owner id for an `Authorization` value (`Bearer KEY`), or None when it is no key of this node."""
        return self.api_keys.owner(credential)

    def model(self, name: str) -> ServedModel:
        try:
            return self.models[name]
        except KeyError:
            raise UnknownModel(
                f"model {name!r} is not served here"
            ) from None  # the others are not listed: keys are per tenant

    def retry_after(self) -> int:
        return max(1, math.ceil(self._mean_job_s / self.config.workers))

    async def infer(self, model_name: str, tensors: list[Tensor], options: InferOptions, owner: str) -> Accepted:
        """Check the inputs, answer them fast, persist the job; only then is it accepted."""
        model = self.model(model_name)
        sample = sample_of(model, tensors)
        chosen = chosen_outputs(model, options.outputs)
        if self.depth >= self.config.max_queue:
            self.metrics.rejected.labels("queue_full").inc()
            raise QueueFull(self.depth, self.retry_after())
        self.depth += 1
        try:
            fast = await asyncio.to_thread(model.answer, sample)
            check_finite(fast, model)
            job_id = secrets.token_urlsafe(16)
            signed = await self._sign(model, sample, options.request_id or job_id, job_id)
            payload = jobs.encode(model.input_specs, sample, model.output_specs, fast)
            job = NewJob(id=job_id, model=model.name, payload=payload, owner=owner, public=options.receipt_public)
            claim = None
            if self.desk is not None:
                claim, job = await self._claim(model, signed, job)
            else:
                await self._persist(job)
            if job.held:
                self.depth -= 1  # answered on the bond's word: in the proving queue only if challenged
        except Exception:
            self.depth -= 1
            raise
        finally:
            self.metrics.queue_depth.set(self.depth)
        outputs = [
            Tensor(model.output_specs[i].name, model.output_specs[i].shape, "FP32", fast.outputs[i]) for i in chosen
        ]
        return Accepted(
            job_id=job.id,
            model=model.name,
            outputs=outputs,
            fast_provider=fast.provider,
            signed=signed,
            claim=claim,
            held=job.held,
        )

    async def _claim(self, model: ServedModel, signed: Signed | None, job: NewJob) -> tuple[Claim, NewJob]:
        """An optimistic answer's claim, committed with its job (before the answer: a crash loses no
        claim a client holds); the job is held unproven unless the spot check draws it."""
        from zkinfer.chain import claims
        from zkinfer.chain.claims import ClaimError

        assert self.desk is not None
        if signed is None or signed.input_felts is None:
            raise InputError(
                f"model {model.name!r}: its answers carry no statement, so an optimistic node cannot claim them"
            )
        try:
            claim = claims.from_statement(
                signed.statement.statement, model.prover.circuit.manifest.visibility.input, signed.input_felts
            )
        except ClaimError as exc:
            raise InputError(f"inputs: no claim can be made of this answer ({exc})") from exc
        request_id = claim.request_id
        taken = InputError(
            f"id: request id {request_id!r} is already claimed by this node (a request id names one claim); send a "
            "fresh id"
        )
        if request_id in self._claiming:
            raise taken
        # before any await: a concurrent twin is refused here, not by the group commit (which would fail its
        # whole group)
        self._claiming.add(request_id)
        try:
            if await asyncio.to_thread(self.store.claim_of, request_id) is not None:
                raise taken
            held = dataclasses.replace(job, claim=json.dumps(claim.to_json()), held=not self.desk.draw())
            await self._persist(held)
        finally:
            self._claiming.discard(request_id)
        return claim, held

    def requeued(self, count: int) -> None:
        """Held jobs went back to the proving queue (their claims were challenged); any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._add_depth, count)

    def _add_depth(self, count: int) -> None:
        self.depth += count
        self.metrics.queue_depth.set(self.depth)

    async def _sign(self, model: ServedModel, sample: Sample, request_id: str, job_id: str) -> Signed | None:
        """The signed statement and promise (InputError when the circuit could never prove the input: nothing is
        queued)."""
        signer = self.signers.get(model.name)
        if signer is None:
            return None
        start = time.perf_counter()
        try:
            return await signer.sign(sample, request_id, job_id)
        except InputError:
            self.metrics.rejected.labels("unprovable").inc()
            raise
        finally:
            self.metrics.statement_seconds.labels(model.name).observe(time.perf_counter() - start)

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

    async def job_for(self, job_id: str, owner: str) -> JobView:
        """The job if `owner` may read it (its own, or public); else UnknownReceipt, as for an unknown id.

        Jobs stored before owners were recorded have none and are readable by no key (the operator
        still has them in the store): the safe choice, since who asked for them is not known.
        """
        view = await self.job(job_id)
        if view is not None and (view.public or (view.owner is not None and hmac.compare_digest(view.owner, owner))):
            return view
        raise UnknownReceipt(f"receipt id {job_id!r}: no such job on this node")

    async def claim_for(self, request_id: str, owner: str) -> StoredClaim:
        """The claim of `request_id` if `owner` may read its job; else UnknownReceipt, as for an unknown id."""
        stored = await asyncio.to_thread(self.store.claim_of, request_id)
        if stored is None:
            raise UnknownReceipt(f"request id {request_id!r}: no claim of it on this node")
        try:
            await self.job_for(stored.job_id, owner)
        except UnknownReceipt:
            raise UnknownReceipt(f"request id {request_id!r}: no claim of it on this node") from None
        return stored

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
