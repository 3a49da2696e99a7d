"""Supervised worker processes: the one machinery behind the node's prover pool and its statement pool.

Workers are spawned, not forked (onnxruntime and rayon threads do not survive a fork), each dies
with the node (PR_SET_PDEATHSIG, so a `kill -9` of the node leaves no orphan), says `Ready` once it
has loaded what it needs, then sends events on its pipe. One supervising thread relays the events
and replaces a worker that died, no sooner than RESTART_DELAY_S after that worker started (a worker
that crashes while loading does not spin). A pool made with `requests=True` also gives each worker
a pipe from the node, for work handed to one worker in particular (`send`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("zkinfer.node")

RESTART_DELAY_S = 1.0


@dataclass(frozen=True)
class Ready:
    """A worker's first event: it has loaded what it needs and takes work."""

    slot: int


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the node dies, so a `kill -9` leaves no orphan worker."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def name_process(name: str) -> None:
    """Name this process in /proc/PID/comm (Linux's PR_SET_NAME, 15 bytes): `top`, `ps -o comm` and the
    benchmarks tell prover workers from statement workers by it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(15, name.encode()[:15], 0, 0, 0)  # 15 = PR_SET_NAME


def _bootstrap(name: str, target: Callable[..., None], *args: Any) -> None:
    """A worker's first steps, whatever it runs: die with the node, carry the pool's name, then `target`."""
    die_with_parent()
    name_process(name)
    target(*args)


@dataclass
class _Worker:
    process: BaseProcess
    events: Connection
    requests: Connection | None
    started: float


class ProcessPool:
    """`count` processes running `target(slot, *args, events[, requests])`, supervised from one thread.

    `on_event(slot, event)` gets every event but `Ready`, `on_ready(slot)` each `Ready`, and
    `on_death(slot)` runs (on the supervising thread) when a worker died, before it is replaced."""

    def __init__(
        self,
        count: int,
        name: str,
        target: Callable[..., None],
        args: tuple[Any, ...],
        on_event: Callable[[int, object], None],
        on_death: Callable[[int, int | None], None],
        *,
        on_ready: Callable[[int], None] | None = None,
        requests: bool = False,
    ) -> None:
        self.count, self.name = count, name
        self._target, self._args, self._with_requests = target, args, requests
        self._on_event, self._on_death, self._on_ready = on_event, on_death, on_ready
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: dict[int, _Worker] = {}
        self._ready: set[int] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name=f"{name}-supervisor", daemon=True)

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    @property
    def ready(self) -> bool:
        return self.ready_count == self.count

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in list(self._workers.values()) if w.process.pid is not None]

    def start(self) -> None:
        for slot in range(self.count):
            self._spawn(slot)
        self._thread.start()

    def send(self, slot: int, message: object) -> None:
        """Hand `message` to the worker in `slot` (a pool made with `requests=True`); OSError when it is gone."""
        worker = self._workers.get(slot)
        if worker is None or worker.requests is None:
            raise OSError(f"{self.name} worker {slot} is not running")
        worker.requests.send(message)

    def _spawn(self, slot: int) -> None:
        receive, send = self._ctx.Pipe(duplex=False)
        ours, theirs = self._ctx.Pipe(duplex=False) if self._with_requests else (None, None)
        extra = () if theirs is None else (ours,)  # the worker reads what the node writes
        process = self._ctx.Process(
            target=_bootstrap,
            args=(self.name, self._target, slot, *self._args, send, *extra),
            name=f"{self.name}-{slot}",
            daemon=True,
        )
        process.start()
        send.close()
        if ours is not None:
            ours.close()
        self._workers[slot] = _Worker(process=process, events=receive, requests=theirs, started=time.monotonic())

    def _supervise(self) -> None:
        """Relay events and replace workers that died; runs until `stop`."""
        while not self._stopping.is_set():
            by_handle: dict[object, tuple[int, _Worker]] = {}
            for slot, worker in self._workers.items():
                by_handle[worker.events] = (slot, worker)
                by_handle[worker.process.sentinel] = (slot, worker)
            handles = [h for w in self._workers.values() for h in (w.events, w.process.sentinel)]
            for handle in wait(handles, timeout=1.0):
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
            if self._on_ready is not None:
                self._on_ready(slot)
        else:
            self._on_event(slot, event)

    def _replace(self, slot: int, worker: _Worker) -> None:
        self._ready.discard(slot)
        worker.events.close()
        if worker.requests is not None:
            worker.requests.close()
        log.warning(
            "%s worker %d (pid %s) exited with code %s; starting another",
            self.name,
            slot,
            worker.process.pid,
            worker.process.exitcode,
        )
        self._on_death(slot, worker.process.exitcode)
        time.sleep(max(0.0, RESTART_DELAY_S - (time.monotonic() - worker.started)))
        if not self._stopping.is_set():
            self._spawn(slot)

    def stop(self) -> None:
        """Terminate the workers and wait for them (SIGKILL after 10 s)."""
        self._stopping.set()
        for worker in self._workers.values():
            worker.process.terminate()
        for worker in self._workers.values():
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.events.close()
            if worker.requests is not None:
                worker.requests.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._ready.clear()
