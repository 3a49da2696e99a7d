"""A server's app and process: the lifespan its service runs for, request counting, and uvicorn's start.

The node, the gateway and the LLM node each `load` everything slow or fallible before the port opens,
make an app with `new_app` (their service starts with the app and stops with it), and `serve` it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zkinfer import __version__
from zkinfer.serving.collector import calm_garbage_collector
from zkinfer.serving.connections import FD_HEADROOM, ConnectionLimits, connection_cap, protocol_class, raise_fd_limit
from zkinfer.serving.statuses import INTERNAL


class CountRequests:
    """Pure ASGI middleware counting responses by route template and status (no body buffering):
    `requests` is a prometheus Counter labelled (route, code)."""

    def __init__(self, app: ASGIApp, requests: Any) -> None:
        self.app = app
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = INTERNAL  # counted so when the app fails before answering

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(route, str(status)).inc()


def new_app(
    title: str,
    start: Callable[[], Awaitable[None]] | None = None,
    stop: Callable[[], Awaitable[None]] | None = None,
    *,
    openapi: bool = True,
) -> FastAPI:
    """A FastAPI app whose service runs for the app's lifetime (`start` before the first request,
    `stop` at shut-down, even after a failure); no interactive docs."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start is not None:
            await start()
        try:
            yield
        finally:
            if stop is not None:
                await stop()

    extra: dict[str, Any] = {} if openapi else {"openapi_url": None}
    return FastAPI(title=title, version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None, **extra)


def serve(
    app: FastAPI,
    host: str,
    port: int,
    log: logging.Logger,
    limits: ConnectionLimits | None = None,
    keep_alive_s: float = 5.0,
) -> None:
    """Serve until interrupted (SIGINT, SIGTERM): behind `limits` (header and body deadlines, a cap on
    connections, within the descriptors this process may open), or uvicorn's own protocol when None."""
    import dataclasses

    import uvicorn

    http: Any = "auto"
    if limits is not None:
        fd_limit = raise_fd_limit()
        cap = connection_cap(limits.max_connections, fd_limit)
        if cap < limits.max_connections:
            log.warning(
                "at most %d connections (RLIMIT_NOFILE %d, %d kept free); raise the hard limit for more",
                cap,
                fd_limit,
                FD_HEADROOM,
            )
        http = protocol_class(dataclasses.replace(limits, max_connections=cap))
    calm_garbage_collector()  # a serving process only: what was loaded is frozen out of every later collection
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=http,
        timeout_keep_alive=int(keep_alive_s),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
