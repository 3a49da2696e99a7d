"""The gateway's settings (`zkinfer gateway`), and the error its unusable options raise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkinfer.core.support.errors import UsageError
from zkinfer.serving.config import ServerConfig


class GatewayError(UsageError):
    """A gateway option, or the file it names, is unusable."""


@dataclass(frozen=True, kw_only=True)  # keywords only: `port` has its own default here
class GatewayConfig(ServerConfig):
    """What `zkinfer gateway` was told (where it listens, its state directory, API keys and body
    limit: `zkinfer.serving.config`)."""

    config_error = GatewayError

    nodes: Path
    port: int = 8090
    poll_s: float = 2.0  # the watcher's first wait between polls of a receipt
    # processes that check the answers a decision waits on; 0: the event loop (stragglers: one idle process)
    check_processes: int = 0
    post_to: Any = None  # certificate_posts.ChainTarget: --post-certificates (None: certificates stay off chain)
