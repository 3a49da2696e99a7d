"""One way for a test to wait for something another process or thread does: poll a probe until it holds.

Every wait in the suite goes through here, so a timeout always fails the same way: naming what was awaited,
for how long, and whatever detail (a server's log tail, the last value seen) helps to find out why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """What a test waited for did not happen in time (an AssertionError, so pytest reports it as a failure)."""


def _timeout(what: str, timeout_s: float, last: object, detail: Callable[[], str] | None) -> WaitTimeout:
    extra = f"\n{detail()}" if detail is not None else ""
    return WaitTimeout(f"{what}: not seen after {timeout_s:g} s (last seen: {last!r}){extra}")


def wait_until(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout_s: float,
    interval_s: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> T:
    """Call `probe()` every `interval_s` until it returns something truthy, and return that.

    Raises `WaitTimeout` naming `what` (plus `detail()`, e.g. a log tail) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise _timeout(what, timeout_s, found, detail)
        time.sleep(interval_s)


async def until(
    probe: Callable[[], T | Awaitable[T | None] | None],
    *,
    what: str,
    timeout_s: float,
    interval_s: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> T:
    """`wait_until` for code running in an event loop: sleeps without blocking the loop."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if isinstance(found, Awaitable):
            found = await found
        if found:
            return found
        if time.monotonic() >= deadline:
            raise _timeout(what, timeout_s, found, detail)
        await asyncio.sleep(interval_s)
