"""Proving worker processes and the pool that supervises them.

ezkl holds the GIL for a whole prove, so proving runs in separate processes (spawned, not forked:
onnxruntime and rayon threads do not survive a fork). Each worker loads its Provers once, then
claims jobs from the SQLite store, proves, and stores the signed receipt.

Workers prove under Linux's SCHED_IDLE policy by default (`--worker-priority idle`): a proof uses
only the cores the web process leaves idle, and any runnable thread of the web process (HTTP, the
fast path, each answer's witness and signatures) preempts it at once. `--worker-priority nice`
proves at nice 10 instead, which only weights the scheduler's shares, so rayon's threads on both
cores still delay the web process (3 nodes on 2 cores in `bench_consensus`, one node's answers while
it proves: p50/p99 53/332 ms at nice 10 against 36/83 ms under SCHED_IDLE). Only the threads that
prove run SCHED_IDLE (`ProvingThread`): a worker's main thread, which claims jobs and stores
receipts, keeps nice 10, because a SCHED_IDLE thread starved inside a SQLite write transaction holds
the store's lock and the web process cannot commit the next request's job (the priority inversion
that stalled answers past a gateway's 5 s timeout when whole workers ran SCHED_IDLE). The cost of
SCHED_IDLE: on a machine whose cores are never idle (a long burst, several nodes on one machine) it
proves almost nothing until the load falls, and a node that promised proofs (`--prove-within`) may
miss them; such an operator chooses `nice`. Where the kernel refuses SCHED_IDLE the worker falls
back to nice. Bounding rayon to fewer threads than cores was the other candidate: it slows every
proof, loaded or not, while SCHED_IDLE costs proving nothing when the node is quiet.
A worker dies with the node (PR_SET_PDEATHSIG), and a worker that dies alone has its jobs
re-queued and is replaced.

With `--executor ray` or `--max-prove-memory`, a worker still claims, witnesses and stores, but its
proofs run on an executor (`zkinfer.prover.executor`): Ray actors (one per circuit and worker process),
or a memory-capped prove worker process. When the process proving a job dies (a killed Ray actor, an
out-of-memory kill), the job goes back to the queue exactly as if this worker had died: the attempt
counts towards MAX_ATTEMPTS, the job is not lost, and it is proven again (by a new actor). A proof
made by an executor's process (with Ray, on another machine) is checked as an auditor would before it
is stored: one that does not verify or does not attest this job's input and output (a broken or
compromised machine, another ezkl version) is never served under this node's signature; the job is
re-queued the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar

from zkinfer.core.crypto import identity
from zkinfer.core.formats.inputs import Sample
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.support import logs
from zkinfer.core.support.errors import ProofMemoryError, ProverLostError, ZkinferError
from zkinfer.node import jobs
from zkinfer.node.models import load_provers, stack
from zkinfer.node.processes import ProcessPool, Ready
from zkinfer.node.store import Store
from zkinfer.prover.executor import Executor, choose
from zkinfer.prover.prove import FastAnswer, Prover
from zkinfer.verify.executor_check import check_executor_receipt

log = logging.getLogger("zkinfer.node")

IDLE_POLL_S = 0.05
T = TypeVar("T")


@dataclass(frozen=True)
class WorkerSettings:
    circuits: Path
    store_path: Path
    key_path: Path
    caps: dict[str, int]  # jobs per proof, by model
    window_s: float
    rayon_threads: int
    nice: int
    idle: bool = True  # SCHED_IDLE (else nice only)
    executor: str = "local"  # where proofs run (see the module docstring)
    ray_address: str | None = None  # the Ray cluster for executor "ray" (the node's local one when it started it)
    max_prove_memory: int | None = None  # each proving process's memory ceiling, bytes


@dataclass(frozen=True)
class Finished:
    """A group of jobs left the queue: proven (one receipt) or failed (with why)."""

    model: str
    ids: list[str]
    proven: bool
    seconds: float
    error: str | None = None


def _threads() -> list[int]:
    """This process's thread ids (Linux: a scheduling policy belongs to each thread)."""
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def lower_priority(nice: int, idle: bool) -> str:
    """Make this process yield to the web process: nice on every thread it has; under `idle`, SCHED_IDLE
    on every thread but the calling one (the store's: see `ProvingThread`). Returns which policy proves."""
    for thread_id in _threads():  # Linux nices each thread; those running already (numpy's BLAS pool) too
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread_id, nice)
    if idle:
        try:
            for thread_id in _threads():
                if thread_id != threading.get_native_id():
                    os.sched_setscheduler(thread_id, os.SCHED_IDLE, os.sched_param(0))
        except (AttributeError, OSError) as exc:  # not Linux, or refused (e.g. a seccomp policy)
            log.warning("prover worker could not take SCHED_IDLE (%s); running at nice %d instead", exc, nice)
            return "nice"
        return "idle"
    return "nice"


class ProvingThread:
    """The one thread of a worker that runs ezkl (keys, witness, proof, executor processes), under
    SCHED_IDLE when the worker proves at idle priority; rayon's pool and the processes it starts
    inherit that policy. The worker's main thread keeps nice alone and does the SQLite writes: a
    SCHED_IDLE thread starved inside a write transaction would hold the store's lock, and the web
    process could not commit the next request's job until the cores went quiet (the priority
    inversion that stalled answers past a gateway's timeout when whole workers ran SCHED_IDLE)."""

    def __init__(self, idle: bool) -> None:
        self._pool = ThreadPoolExecutor(
            1, thread_name_prefix="zkinfer-proving", initializer=_enter_idle if idle else None
        )

    def run(self, work: Callable[[], T]) -> T:
        """`work()` on the proving thread; its exception re-raised here."""
        return self._pool.submit(work).result()


def _enter_idle() -> None:
    with contextlib.suppress(AttributeError, OSError):  # refused: lower_priority already logged it
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: this thread


def worker_main(slot: int, settings: WorkerSettings, events: Connection) -> None:
    """Entry point of one worker process: load once, then claim → prove → store, until the node goes."""
    os.environ["RAYON_NUM_THREADS"] = str(settings.rayon_threads)  # before ezkl's first rayon call
    logs.configure()  # a spawned process starts with logging unconfigured: keep ezkl's noise out of the node's stderr
    parent = os.getppid()
    proving = ProvingThread(lower_priority(settings.nice, settings.idle) == "idle")
    provers = proving.run(
        lambda: load_provers(
            settings.circuits,
            prefer_gpu=False,
            signer=identity.load_key(settings.key_path),
            executor=_executor(settings),
        )
    )
    store = Store(settings.store_path)
    events.send(Ready(slot))
    while os.getppid() == parent:
        claim = store.claim(slot, settings.caps, settings.window_s)
        if claim is None:
            time.sleep(IDLE_POLL_S)
            continue
        try:
            finished = _prove(store, provers[claim.model], claim.model, claim.ids, claim.payloads, proving.run)
        except (
            ProverLostError
        ) as exc:  # the proving process died, not this worker: as if it had, the jobs go back to the queue
            log.warning("prover of %d job(s) of %s died (%s); re-queuing them", len(claim.ids), claim.model, exc)
            doomed = store.requeue(slot)
            finished = (
                [
                    Finished(
                        model=claim.model,
                        ids=[i for i, _ in doomed],
                        proven=False,
                        seconds=0.0,
                        error="proving kept crashing its prover",
                    )
                ]
                if doomed
                else []
            )
        for event in finished:
            events.send(event)


def _executor(settings: WorkerSettings) -> Executor | None:
    """Where this worker's proofs run: None (in this process, the default) or the executor the node was told."""
    return choose(settings.executor, ray_address=settings.ray_address, max_memory=settings.max_prove_memory, parallel=1)


def _prove(
    store: Store,
    prover: Prover,
    model: str,
    ids: list[str],
    payloads: list[str],
    run: Callable[[Callable[[], Receipt]], Receipt] = lambda work: work(),
) -> list[Finished]:
    """Prove one claimed group and record the outcome; never raises (a bad job must not stop the worker).

    When a batch fails on its input (one row outside the circuit's range fails the whole witness),
    it is split in halves and retried, so one bad request cannot sink the others: a failing half
    fails at witness generation, in milliseconds, so this costs about log2(batch) extra proofs.
    """
    start = time.perf_counter()
    try:
        decoded = [jobs.decode(p) for p in payloads]
        receipt = run(lambda: _proven(prover, model, decoded))
    except ProverLostError:
        raise  # the caller re-queues the claim
    except ZkinferError as exc:  # e.g. an input outside the range the circuit was calibrated for
        if len(ids) > 1 and not isinstance(exc, ProofMemoryError):  # a smaller group needs no less memory
            half = len(ids) // 2
            return _prove(store, prover, model, ids[:half], payloads[:half], run) + _prove(
                store, prover, model, ids[half:], payloads[half:], run
            )
        error, internal = str(exc), False
    except Exception as exc:  # an ezkl panic or a bug: fail these jobs, keep serving the rest
        log.exception("proving %d job(s) of %s failed", len(ids), model)
        error, internal = f"{type(exc).__name__}: {exc}", True
    else:
        seconds = time.perf_counter() - start
        store.finish(ids, receipt.model_dump_json(), seconds)
        return [Finished(model=model, ids=ids, proven=True, seconds=seconds)]
    store.fail(ids, error, internal)
    return [Finished(model=model, ids=ids, proven=False, seconds=time.perf_counter() - start, error=error)]


def _proven(prover: Prover, model: str, decoded: list[tuple[Sample, FastAnswer]]) -> Receipt:
    """On the proving thread: the group's receipt, an executor's proof checked before it is trusted."""
    batch_size = prover.circuit.manifest.batch_size
    if batch_size == 1:
        ((sample, fast),) = decoded
        receipt = prover.prove(sample, fast)
    else:  # the stored fast answers are single rows; the receipt's fast section covers the batch
        receipt = prover.prove(stack([sample for sample, _ in decoded], batch_size))
    if prover.executor is not None:
        check_executor_receipt(receipt, model, prover.executor.name)
    return receipt


class WorkerPool:
    """Starts `count` prover workers (`processes.ProcessPool`), relays their events to `on_event` (from
    the supervising thread); a worker that died has its jobs re-queued and is replaced."""

    def __init__(
        self,
        count: int,
        settings: WorkerSettings,
        requeue: Callable[[int], list[tuple[str, str]]],
        on_event: Callable[[Finished], None],
    ) -> None:
        self.count = count
        self.settings = settings
        self._requeue = requeue
        self._on_event = on_event
        self._processes = ProcessPool(count, "zkinfer-prover", worker_main, (settings,), self._relay, self._dead)

    @property
    def ready_count(self) -> int:
        return self._processes.ready_count

    @property
    def ready(self) -> bool:
        return self._processes.ready

    @property
    def pids(self) -> list[int]:
        return self._processes.pids

    def start(self) -> None:
        self._processes.start()

    def _relay(self, slot: int, event: object) -> None:
        if isinstance(event, Finished):
            self._on_event(event)

    def _dead(self, slot: int, exitcode: int | None) -> None:
        """A worker died: its jobs go back to the queue (those that kept crashing it fail)."""
        failed = self._requeue(slot)
        for model in {m for _, m in failed}:
            ids = [i for i, m in failed if m == model]
            self._on_event(
                Finished(model=model, ids=ids, proven=False, seconds=0.0, error="proving kept crashing its worker")
            )

    def stop(self) -> None:
        """Terminate the workers (a proof in flight is re-queued, as after a crash)."""
        self._processes.stop()
