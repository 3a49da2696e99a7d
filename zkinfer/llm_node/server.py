"""Start an LLM node: `load` everything slow or fallible (state directory, keys, the model) before
the port opens, then `run` uvicorn. `run(config)` does both (what `zkinfer serve --llm DIR` calls)."""

from __future__ import annotations

import logging
from typing import Any, cast

from zkinfer.core.support import logs
from zkinfer.llm_node.config import LlmConfig
from zkinfer.llm_node.metrics import LlmMetrics
from zkinfer.llm_node.service import LlmService
from zkinfer.llm_node.store import ReceiptStore
from zkinfer.serving import auth, state
from zkinfer.serving.app import serve

log = logging.getLogger("zkinfer.llm")


def load(config: LlmConfig) -> LlmService:
    """The service, ready to serve; every failure here is a one-line error before anything listens."""
    import torch
    from transformers.utils import logging as transformers_logging

    from zkinfer.llm.engine import Engine

    logs.serve_to_stderr(log)
    cast(Any, transformers_logging).disable_progress_bar()  # a server's log, not a terminal
    lock = state.lock(config.state_dir, "node")  # one node per state directory: receipts and keys are not shared
    key = state.node_key(config.node_key_path, config.key_file is not None, log)
    api_keys = auth.load(config.api_keys_path, config.api_keys_file is not None, log)
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
    from zkinfer.llm_node.app import create_app

    service = load(config)
    log.info(
        "listening on http://%s:%d (OpenAI API under /v1, receipts at /v1/receipts/{id}, metrics at /metrics)",
        config.host,
        config.port,
    )
    serve(create_app(service), config.host, config.port, log)
