"""The processes that judge the nodes' answers, for a gateway with cores to spare (`check_processes`).

Answers a decision waits on are judged in `processes` processes; stragglers (answers after the
decision) in one more at nice 10, so work for the records yields most of the CPU to the answers. A
gateway sends its stragglers there even when it judges the other answers on its event loop
(`stragglers_apart`): with 3 nodes and a quorum of 2, every request brings one straggler, whose two
signature checks (~2 ms, the GIL held) otherwise land on the loop while it fans out or answers the
next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

log = logging.getLogger("zkinfer.gateway")


class CheckPools:
    """The checking processes, made on first use (or `warm`), one pool per lateness."""

    def __init__(self, processes: int, stragglers_apart: bool = False) -> None:
        self.processes = processes  # 0: answers are judged on the event loop (the pools are unused)
        self.stragglers_apart = stragglers_apart or processes > 0
        self._pools: dict[bool, ProcessPoolExecutor] = {}

    def in_process(self, late: bool) -> bool:
        """Whether an answer is judged in a checking process (else on the event loop)."""
        return self.stragglers_apart if late else self.processes > 0

    def pool(self, late: bool) -> ProcessPoolExecutor:
        """`processes` processes for answers a decision waits on, one at nice 10 for stragglers."""
        pool = self._pools.get(late)
        if pool is None:
            context = multiprocessing.get_context("spawn")
            pool = (
                ProcessPoolExecutor(1, mp_context=context, initializer=nicer)
                if late
                else ProcessPoolExecutor(self.processes, mp_context=context, initializer=die_with_parent)
            )
            self._pools[late] = pool
        return pool

    def broken(self, late: bool) -> None:
        """Forget a pool whose process died: it is made again for the next answer."""
        self._pools.pop(late, None)

    async def warm(self) -> None:
        """Start the checking processes now rather than on the first answers (a spawn costs ~1 s); where
        they cannot start, answers are judged on the event loop."""
        if self.stragglers_apart:
            loop = asyncio.get_running_loop()
            try:
                await asyncio.gather(
                    *(loop.run_in_executor(self.pool(late), _warm) for late in (True, *[False] * self.processes))
                )
            except (BrokenProcessPool, OSError, RuntimeError) as exc:  # e.g. a script without a __main__ guard
                log.warning("cannot start checking processes (%s); answers are checked on the event loop", exc)
                self.processes = 0
                self.stragglers_apart = False
                self.shutdown()

    def shutdown(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self._pools.clear()


def die_with_parent() -> None:
    """A process initializer: the worker gets SIGKILL when the process that started it dies
    (Linux's PR_SET_PDEATHSIG), however it dies. A pool's workers otherwise outlive a gateway that
    stops before they read their exit message (uvicorn re-raises SIGTERM once the app has shut
    down, which ends the process before the pool's threads have told the workers to go) or that is
    killed: they wait on their queue for ever, with multiprocessing's resource tracker beside them.
    Linux sends the signal when the *thread* that started the worker exits: a pool's workers are
    started by the thread that submits to it, here the event loop's, which lives as long as the
    gateway (or the `Consensus` loop thread, until `close`)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # the parent died before the request took effect
        os._exit(0)


def nicer() -> None:
    """A process initializer for the stragglers' checks: nice 10, not SCHED_IDLE. Their ~2 ms a request must
    still run on a machine that is never idle: at SCHED_IDLE, a CI run's niced linters beside the gateway held
    the checks (and so every round's records and the receipt watching that follows them) back for minutes.
    The worker dies with its parent (`die_with_parent`)."""
    die_with_parent()
    with contextlib.suppress(OSError):
        os.nice(10)


def lower_priority() -> None:
    """A process initializer: work for the records (stragglers' checks, receipts' verification)
    yields the CPU to the answers. Linux's SCHED_IDLE, as the node's provers run: it runs only on
    a core nothing else wants (nice 10 alone still took a tenth of a busy core); nice 19 where the
    kernel refuses it. Children (the verifier's ezkl process) inherit it. The worker dies with its
    parent (`die_with_parent`)."""
    die_with_parent()
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)


def _warm() -> None:
    """Runs in a checking process once: loads `judge` and what it needs (BLS backend included), so the first
    answer it checks does not pay the imports."""
    from zkinfer.core.crypto import bls
    from zkinfer.network import judge  # noqa: F401

    bls.backend()
