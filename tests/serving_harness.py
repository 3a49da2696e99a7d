"""A FastAPI app served by uvicorn on loopback, in a thread, behind the serving layer's protocol."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from tests.node_harness import free_port
from tests.waiting import wait_until
from zkinfer.serving.connections import ConnectionLimits, protocol_class

LIMITS = ConnectionLimits(header_timeout_s=5.0, body_timeout_s=5.0, max_connections=64)


@contextmanager
def serving(app: FastAPI, limits: ConnectionLimits = LIMITS) -> Iterator[str]:
    """The app's base URL while it listens on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol_class(limits), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError(f"the test server on port {port} stopped before it started")
        return bool(server.started)

    wait_until(started, what=f"the test server listening on port {port}", timeout_s=30, interval_s=0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
