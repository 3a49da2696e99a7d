"""`zkinfer serve`: load the node (circuits, keys, store) before listening, then run uvicorn."""

from __future__ import annotations

import logging

from zkinfer.node.config import NodeConfig
from zkinfer.node.service import Node

log = logging.getLogger("zkinfer.node")


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

    config = node.config
    log.info("listening on http://%s:%d (KServe v2 under /v2, receipts under /v1/receipts, metrics at /metrics)", config.host, config.port)
    uvicorn.run(create_app(node), host=config.host, port=config.port, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
