"""What every server is told: where it listens, its state directory, its API keys and body limit.

`ServerConfig` is the gateway's base; `NodeServerConfig` adds what a node that signs its answers
has (the node key, `/metrics` access): the proving node's and the LLM node's base. Each server's
config names its own error type (`config_error`), so a bad option is a one-line usage error of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from zkinfer.core.support.errors import UsageError

DEFAULT_MAX_BODY_BYTES = 1 << 20
METRICS_ACCESS = ("off", "key", "public")


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    config_error: ClassVar[type[UsageError]] = UsageError

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys_file: Path | None = None  # one key a line; None: STATE_DIR/api-keys (made with one key on first start)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise self.config_error(f"--max-body-bytes: {self.max_body_bytes}; give at least 1 byte")

    @property
    def api_keys_path(self) -> Path:
        return self.api_keys_file or self.state_dir / "api-keys"


@dataclass(frozen=True, kw_only=True)
class NodeServerConfig(ServerConfig):
    key_file: Path | None = None  # the BLS key that signs answers; None: STATE_DIR/node.key (made on first start)
    metrics: str = "key"  # /metrics: "off", "key" (needs an API key) or "public"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.metrics not in METRICS_ACCESS:
            raise self.config_error(f"--metrics: {self.metrics!r} is not one of {', '.join(METRICS_ACCESS)}")

    @property
    def node_key_path(self) -> Path:
        return self.key_file or self.state_dir / "node.key"
