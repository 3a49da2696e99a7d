"""The statement workers: processes that make each answer's signed statement, off the web process.

A statement costs a witness run and two BLS signatures, and both hold the GIL for much of their
time, so made on a thread of the web process they slowed every other request (HTTP, the fast path)
and capped a node's answer rate at one core whatever it had. Here each worker is a process
(`processes.ProcessPool`, the prover pool's machinery) that loads the circuits and the node key once;
the web process hands it one witness run (up to a batch of requests, coalesced by
`statements.StatementSigner`) and gets back the signed statements. Workers run at the node's own
priority (the provers yield to them: `workers`).

A worker that dies fails only the run it had (the requests get a 503 with Retry-After: nothing of
theirs was stored, since a job is persisted after its statement) and is replaced; the node keeps
answering on the others meanwhile. The pool stops with the node.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from zkinfer.core.crypto import identity
from zkinfer.core.support import logs
from zkinfer.core.support.errors import InfrastructureError, ZkinferError
from zkinfer.node.models import load_provers
from zkinfer.node.processes import ProcessPool, Ready
from zkinfer.node.statements import Request, Signed, StatementMaker

log = logging.getLogger("zkinfer.node")

SLOT_WAIT_S = 30.0  # longest a run waits for a free worker (all busy or restarting) before a 503


class StatementWorkerLost(InfrastructureError):
    """The statement worker making this answer died, or none came free in time (503: retry)."""


@dataclass(frozen=True)
class StatementSettings:
    circuits: Path
    key_path: Path
    prove_within_s: int
    promises: bool  # False on an optimistic node (claims instead of promises)
    rayon_threads: int  # each worker's share of the cores for ezkl's witness


@dataclass(frozen=True)
class _Run:
    number: int
    model: str
    group: list[Request]


@dataclass(frozen=True)
class _Made:
    number: int
    results: list[Signed | Exception]


def statement_main(slot: int, settings: StatementSettings, events: Connection, requests: Connection) -> None:
    """Entry point of one statement worker: load once, then make each run handed over until the node goes."""
    os.environ["RAYON_NUM_THREADS"] = str(settings.rayon_threads)  # before ezkl's first rayon call
    logs.configure()  # a spawned process starts with logging unconfigured: keep ezkl's noise out of the node's stderr
    maker = StatementMaker(
        load_provers(settings.circuits, prefer_gpu=False),
        identity.load_key(settings.key_path),
        settings.prove_within_s,
        settings.promises,
    )
    events.send(Ready(slot))
    while True:
        try:
            run: _Run = requests.recv()
        except (EOFError, OSError):  # the node closed its end: it is stopping
            return
        try:
            results = maker.make(run.model, run.group)
        except ZkinferError as exc:
            results = [exc] * len(run.group)
        except Exception as exc:  # an ezkl panic or a bug: these requests fail (500), as a plain error that pickles
            log.exception("making %d statement(s) of %s failed", len(run.group), run.model)
            results = [RuntimeError(f"{type(exc).__name__}: {exc}")] * len(run.group)
        events.send(_Made(run.number, results))


class StatementPool:
    """`count` statement workers; `run` hands one witness run to a free one and awaits its statements."""

    def __init__(self, count: int, settings: StatementSettings) -> None:
        self.count = count
        self._processes = ProcessPool(
            count,
            "zkinfer-signer",
            statement_main,
            (settings,),
            self._from_worker,
            self._from_death,
            on_ready=self._from_ready,
            requests=True,
        )
        self._numbers = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        # on the event loop only: free workers, runs waiting for one, and each busy worker's run
        self._free: set[int] = set()
        self._waiting: deque[asyncio.Future[int]] = deque()
        self._busy: dict[int, tuple[int, asyncio.Future[list[Signed | Exception]]]] = {}

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
        """Spawn the workers; call on the event loop that will `run` (their answers are delivered to it)."""
        self._loop = asyncio.get_running_loop()
        self._processes.start()

    def stop(self) -> None:
        self._processes.stop()

    async def run(self, model: str, group: list[Request]) -> list[Signed | Exception]:
        """The group's signed statements (or, per request, why not), made by one worker."""
        assert self._loop is not None, "StatementPool.start() was not called"
        slot = await self._acquire()
        number = next(self._numbers)
        done: asyncio.Future[list[Signed | Exception]] = self._loop.create_future()
        self._busy[slot] = (number, done)
        try:
            self._processes.send(slot, _Run(number, model, group))
        except (OSError, ValueError) as exc:  # died between its last answer and this hand-over
            self._busy.pop(slot, None)
            raise StatementWorkerLost(f"the statement worker died ({exc}); retry", 1) from exc
        return await done

    async def _acquire(self) -> int:
        if self._free:
            return self._free.pop()
        assert self._loop is not None
        waiter: asyncio.Future[int] = self._loop.create_future()
        self._waiting.append(waiter)
        try:
            return await asyncio.wait_for(waiter, SLOT_WAIT_S)
        except TimeoutError:
            raise StatementWorkerLost(
                f"no statement worker came free within {SLOT_WAIT_S:.0f} s (all busy or restarting); retry", 5
            ) from None

    def _release(self, slot: int) -> None:
        """On the loop: the worker in `slot` takes work (to the longest-waiting run, if any)."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return
        self._free.add(slot)

    # the supervising thread's callbacks, each moved onto the event loop

    def _from_ready(self, slot: int) -> None:
        self._call(self._release, slot)

    def _from_worker(self, slot: int, event: object) -> None:
        if isinstance(event, _Made):
            self._call(self._made, slot, event)

    def _from_death(self, slot: int, exitcode: int | None) -> None:
        self._call(self._lost, slot, exitcode)

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    def _made(self, slot: int, made: _Made) -> None:
        number, done = self._busy.get(slot, (None, None))
        if number != made.number or done is None:
            return  # a run whose caller already had its answer
        del self._busy[slot]
        if not done.done():
            done.set_result(made.results)
        self._release(slot)

    def _lost(self, slot: int, exitcode: int | None) -> None:
        self._free.discard(slot)
        _, done = self._busy.pop(slot, (None, None))
        if done is not None and not done.done():
            done.set_exception(
                StatementWorkerLost(f"the statement worker making this answer died (exit code {exitcode}); retry", 1)
            )
