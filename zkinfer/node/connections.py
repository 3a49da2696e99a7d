"""Connection limits uvicorn lacks: header and body deadlines, and a cap on open connections.

uvicorn only times out idle keep-alive connections, so a client that sends its headers (or body)
one byte a minute holds a file descriptor for ever, and ten thousand of them exhaust the process's
descriptors: accept() fails and real requests are reset. Here every connection has a deadline for
its headers (from the connection's opening, or the next request's first byte) and one for its body
(after the headers); past it the connection is aborted. At the cap, a new connection evicts the
oldest one that is still sending a request or idle between requests; if every connection is busy
with a request being answered, the new one is closed at once, so its descriptor is freed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("zkinfer.node")


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    body_timeout_s: float
    max_connections: int


class _Guard:
    """State shared by one server's connections: which may be evicted, oldest first."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.evictable: OrderedDict[GuardedHttpProtocol, None] = OrderedDict()
        self.refused = 0
        self.timed_out = 0


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body deadlines and the connection cap."""

    guard: _Guard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._admitted = False

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        """Abort (not close: a client that does not read would hold the descriptor while a close drains)."""
        self._deadline = None
        self.guard.timed_out += 1
        self.guard.evictable.pop(self, None)
        self.transport.abort()

    def _mark_evictable(self) -> None:
        self.guard.evictable[self] = None
        self.guard.evictable.move_to_end(self)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.guard.limits.max_connections:
            victim = next(iter(self.guard.evictable), None)
            if victim is None:
                self.guard.refused += 1
                transport.abort()
                return
            victim._expire()
        self._admitted = True
        super().connection_made(transport)
        self._arm(self.guard.limits.header_timeout_s)
        self._mark_evictable()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._disarm()
        self.guard.evictable.pop(self, None)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the next request on a kept-alive connection: its headers are due
            self._arm(self.guard.limits.header_timeout_s)
        self._mark_evictable()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.guard.limits.body_timeout_s)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()  # the request is in: it is being answered, and is not evicted
        self.guard.evictable.pop(self, None)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timeout
        if not self.transport.is_closing():
            self._mark_evictable()


def protocol_class(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A protocol class bound to one server's limits (uvicorn instantiates it per connection)."""
    return type("NodeHttpProtocol", (GuardedHttpProtocol,), {"guard": _Guard(limits)})
