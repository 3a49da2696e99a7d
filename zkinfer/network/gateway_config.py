"""The gateway's settings (`zkinfer gateway`), and the error its unusable options raise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zkinfer.core.errors import UsageError


class GatewayError(UsageError):
    """A gateway option, or the file it names, is unusable."""


@dataclass(frozen=True)
class GatewayConfig:
    nodes: Path
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8090
    api_keys_file: Path | None = None
    poll_s: float = 2.0  # the watcher's first wait between polls of a receipt
    max_body_bytes: int = 1 << 20
    check_processes: int = 0  # processes that check the nodes' answers (signatures); 0: threads (client.Consensus)

    @property
    def api_keys_path(self) -> Path:
        return self.api_keys_file or self.state_dir / "api-keys"
