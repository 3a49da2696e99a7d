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
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TypeVar

from zkinfer.core.crypto import identity
from zkinfer.core.formats.inputs import Sample
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.support import logs
from zkinfer.core.support.errors import ProofMemoryError, ProverLostError, ZkinferError
from zkinfer.node import jobs
from zkinfer.node.models import load_provers, stack
from zkinfer.node.store import Store
from zkinfer.prover.executor import Executor, choose
from zkinfer.prover.prove import FastAnswer, Prover
from zkinfer.verify.executor_check import check_executor_receipt

log = logging.getLogger("zkinfer.node")

IDLE_POLL_S = 0.05
RESTART_DELAY_S = 1.0
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
class Ready:
    slot: int


@dataclass(frozen=True)
class Finished:
    """A group of jobs left the queue: proven (one receipt) or failed (with why)."""

    model: str
    ids: list[str]
    proven: bool
    seconds: float
    error: str | None = None


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the node dies, so a `kill -9` leaves no orphan prover."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


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
    _die_with_parent()
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


@dataclass
class _Worker:
    process: BaseProcess
    events: Connection
    started: float


class WorkerPool:
    """Starts `count` workers, relays their events to `on_event` (from its own thread), replaces the dead."""

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
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: dict[int, _Worker] = {}
        self._ready: set[int] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="zkinfer-workers", daemon=True)

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    @property
    def ready(self) -> bool:
        return self.ready_count == self.count

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers.values() if w.process.pid is not None]

    def start(self) -> None:
        for slot in range(self.count):
            self._spawn(slot)
        self._thread.start()

    def _spawn(self, slot: int) -> None:
        receive, send = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=worker_main, args=(slot, self.settings, send), name=f"zkinfer-prover-{slot}", daemon=True
        )
        process.start()
        send.close()
        self._workers[slot] = _Worker(process=process, events=receive, started=time.monotonic())

    def _supervise(self) -> None:
        """Relay events and replace workers that died; runs until `stop`."""
        while not self._stopping.is_set():
            by_handle: dict[object, tuple[int, _Worker]] = {}
            for slot, worker in self._workers.items():
                by_handle[worker.events] = (slot, worker)
                by_handle[worker.process.sentinel] = (slot, worker)
            for handle in wait(
                [*(w.events for w in self._workers.values()), *(w.process.sentinel for w in self._workers.values())],
                timeout=1.0,
            ):
                slot, worker = by_handle[handle]
                if self._stopping.is_set() or self._workers.get(slot) is not worker:
                    continue
                if handle is worker.events:
                    self._receive(slot, worker)
                elif not worker.process.is_alive():
                    self._replace(slot, worker)

    def _receive(self, slot: int, worker: _Worker) -> None:
        try:
            event = worker.events.recv()
        except (EOFError, OSError):  # the worker is gone; its sentinel reports the death
            worker.process.join(timeout=5)
            self._replace(slot, worker)
            return
        if isinstance(event, Ready):
            self._ready.add(slot)
        else:
            self._on_event(event)

    def _replace(self, slot: int, worker: _Worker) -> None:
        self._ready.discard(slot)
        worker.events.close()
        log.warning(
            "prover worker %d (pid %s) exited with code %s; re-queuing its jobs and starting another",
            slot,
            worker.process.pid,
            worker.process.exitcode,
        )
        failed = self._requeue(slot)
        for model in {m for _, m in failed}:
            ids = [i for i, m in failed if m == model]
            self._on_event(
                Finished(model=model, ids=ids, proven=False, seconds=0.0, error="proving kept crashing its worker")
            )
        time.sleep(max(0.0, RESTART_DELAY_S - (time.monotonic() - worker.started)))
        if not self._stopping.is_set():
            self._spawn(slot)

    def stop(self) -> None:
        """Terminate the workers (a proof in flight is re-queued, as after a crash)."""
        self._stopping.set()
        for worker in self._workers.values():
            worker.process.terminate()
        for worker in self._workers.values():
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.events.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._ready.clear()
