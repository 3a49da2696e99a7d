"""`zkinfer serve`: load the node (circuits, keys, store) before listening, then run uvicorn."""

from __future__ import annotations

import logging
import resource

from zkinfer.node.config import NodeConfig
from zkinfer.node.service import Node

log = logging.getLogger("zkinfer.node")


FD_HEADROOM = 256  # descriptors kept free of connections: the store, worker pipes, onnxruntime, logs


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (the default soft 1024 is far below what a node holds); the new soft limit."""
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


def load(config: NodeConfig) -> Node:
    """Everything slow or fallible (key setup, a bad circuit or key file) happens here, before the port opens."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    return Node(config)


def run(node: Node) -> None:
    """Serve until interrupted (SIGINT/SIGTERM stop the workers; an unfinished proof is redone next start)."""
    import uvicorn

    from zkinfer.node.app import create_app
    from zkinfer.node.connections import ConnectionLimits, protocol_class

    config = node.config
    fd_limit = raise_fd_limit()
    cap = connection_cap(config.max_connections, fd_limit)
    if cap < config.max_connections:
        log.warning("at most %d connections (RLIMIT_NOFILE %d, %d kept free); raise the hard limit for more", cap, fd_limit, FD_HEADROOM)
    limits = ConnectionLimits(header_timeout_s=config.header_timeout_s, body_timeout_s=config.body_timeout_s, max_connections=cap)
    log.info("listening on http://%s:%d (KServe v2 under /v2, receipts under /v1/receipts, metrics at /metrics)", config.host, config.port)
    uvicorn.run(
        create_app(node), host=config.host, port=config.port, http=protocol_class(limits), timeout_keep_alive=int(config.keep_alive_timeout_s),
        log_level="warning", access_log=False, timeout_graceful_shutdown=5,
    )
