"""Connection limits uvicorn lacks: header and body deadlines, a cap on open connections, and a
cap on a request's head (the node and the gateway both serve through this protocol), and the
descriptor limit those connections need (`raise_fd_limit`, `connection_cap`).

uvicorn only times out idle keep-alive connections, so a client that sends its headers (or body)
one byte a minute holds a file descriptor for ever, and ten thousand of them exhaust the process's
descriptors: accept() fails and real requests are reset. Here every connection has a deadline for
its headers (from the connection's opening, or the next request's first byte) and one for its body
(after the headers); past it the connection is aborted. At the cap, a new connection evicts the
oldest one that is still sending a request or idle between requests; if every connection is busy
with a request being answered, the new one is closed at once, so its descriptor is freed.

uvicorn's httptools protocol takes a request head of any size (a 200 KB header was answered 200;
`h11_max_incomplete_event_size` applies to the h11 protocol only). Here a head over
`max_header_bytes` (request line and headers, 16 KiB by default) or with more than `max_headers`
headers (100) is answered 431 and the connection closed: counted as the parser reports the URL
and each header, and, for a head still unfinished after a read, by the bytes received, so an
endless header is refused after about 16 KiB rather than buffered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("zkinfer.serving")


MAX_HEADER_BYTES = 16 * 1024  # the usual front-end defaults (nginx's large buffers, Node.js's 16 KiB)
MAX_HEADERS = 100
LINGER_S = 2.0  # after a 431: how long the rest of the refused request is read and dropped before the close
FD_HEADROOM = 256  # descriptors kept free of connections: the store, worker pipes, onnxruntime, logs


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (the default soft 1024 is far below what a server
    holds); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def connection_cap(wanted: int, fd_limit: int) -> int:
    """At most `wanted` connections, and always FD_HEADROOM descriptors below the limit."""
    return max(1, min(wanted, fd_limit - FD_HEADROOM))


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    body_timeout_s: float
    max_connections: int
    max_header_bytes: int = MAX_HEADER_BYTES
    max_headers: int = MAX_HEADERS


class _HeadTooLarge(Exception):
    """Raised in a parser callback to stop parsing a refused head (uvicorn then calls send_400_response)."""


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
        self._head_open = False  # a request's head is being received
        self._head_size = self._head_count = self._head_read = 0  # as parsed (URL, headers); as read while unfinished
        self._message_ended = False  # a request ended within the bytes being parsed
        self._refused = False  # answered 431: what the client still sends is dropped

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

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._message_ended = False
        super().data_received(data)
        if self._head_open and not self._refused and not self._message_ended:
            self._head_read += len(data)  # a read that leaves a head unfinished is all head (the parser holds it)
            if self._head_read > self.guard.limits.max_header_bytes:
                self._refuse(
                    f"request head: more than this server's limit of {self.guard.limits.max_header_bytes} bytes "
                    "of request line and headers"
                )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open, self._head_size, self._head_count, self._head_read = True, 0, 0, 0
        if self._deadline is None:  # the next request on a kept-alive connection: its headers are due
            self._arm(self.guard.limits.header_timeout_s)
        self._mark_evictable()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url), 0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4, 1)  # "name: value\r\n"
        super().on_header(name, value)

    def _count_head(self, size: int, headers: int) -> None:
        self._head_size += size
        self._head_count += headers
        limits = self.guard.limits
        if self._head_count > limits.max_headers:
            self._refuse(f"headers: more than this server's limit of {limits.max_headers} headers")
        elif self._head_size > limits.max_header_bytes:
            self._refuse(
                f"request head: more than this server's limit of {limits.max_header_bytes} bytes "
                "of request line and headers"
            )
        if self._refused:
            raise _HeadTooLarge  # stops the parser here; uvicorn calls send_400_response, which sends nothing more

    def send_400_response(self, msg: str) -> None:
        if not self._refused:
            super().send_400_response(msg)

    def _refuse(self, message: str) -> None:
        """Answer 431 and close: the write side at once, the connection once the client has read the
        answer and hung up (or after LINGER_S): closing with its unread bytes would reset the
        connection, and the client could lose the answer."""
        self._refused, self._head_open = True, False
        body = json.dumps({"error": message}).encode()
        head = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm(LINGER_S)
        self._mark_evictable()

    def on_headers_complete(self) -> None:
        self._head_open = False
        super().on_headers_complete()
        self._arm(self.guard.limits.body_timeout_s)

    def on_message_complete(self) -> None:
        self._message_ended = True
        super().on_message_complete()
        self._disarm()  # the request is in: it is being answered, and is not evicted
        self.guard.evictable.pop(self, None)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timeout
        if not self.transport.is_closing():
            self._mark_evictable()


def protocol_class(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A protocol class bound to one server's limits (uvicorn instantiates it per connection)."""
    return type("GuardedHttpProtocolOfServer", (GuardedHttpProtocol,), {"guard": _Guard(limits)})
