"""Start an LLM node: `load` everything slow or fallible (state directory, keys, the model) before
the port opens, then `run` uvicorn. `run(config)` does both (what `zkinfer serve --llm DIR` calls)."""

from __future__ import annotations

import logging
from typing import Any, cast

from zkinfer.core import logs
from zkinfer.llm.config import LlmConfig
from zkinfer.llm.metrics import LlmMetrics
from zkinfer.llm.service import LlmService
from zkinfer.llm.store import ReceiptStore
from zkinfer.node import state
from zkinfer.node.config import NodeConfig

log = logging.getLogger("zkinfer.llm")


def _state(config: LlmConfig) -> NodeConfig:
    """The proving node's view of the same state directory and key files: its lock, node key and API keys are shared code."""
    return NodeConfig(
        circuits=config.model_dir,
        state_dir=config.state_dir,
        key_file=config.key_file,
        api_keys_file=config.api_keys_file,
    )


def load(config: LlmConfig) -> LlmService:
    """The service, ready to serve; every failure here is a one-line error before anything listens."""
    import torch
    from transformers.utils import logging as transformers_logging

    from zkinfer.llm.engine import Engine

    logs.serve_to_stderr(log)
    cast(Any, transformers_logging).disable_progress_bar()  # a server's log, not a terminal
    lock = state.lock(_state(config))  # one node per state directory: receipts and keys are not shared
    key = state.node_key(_state(config))
    api_keys = state.api_keys(_state(config))
    torch.set_num_threads(config.threads)
    engine = Engine(config.model_dir)
    log.info(
        "serving %s (%s) from %s; node public key %s", engine.name, engine.digest, config.model_dir, key.public_hex
    )
    service = LlmService(config, engine, key, api_keys, ReceiptStore(config.receipts_dir), LlmMetrics())
    service.state_lock = lock
    return service


def run(config: LlmConfig) -> None:
    """Load, then serve until interrupted."""
    import uvicorn

    from zkinfer.llm.app import create_app

    service = load(config)
    log.info(
        "listening on http://%s:%d (OpenAI API under /v1, receipts at /v1/receipts/{id}, metrics at /metrics)",
        config.host,
        config.port,
    )
    uvicorn.run(
        create_app(service),
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
