"""The LLM node's settings (`zkinfer serve --llm DIR`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zkinfer.core.support.errors import UsageError
from zkinfer.serving.config import NodeServerConfig


class LlmConfigError(UsageError):
    """An LLM node option is unusable."""


@dataclass(frozen=True)
class LlmConfig(NodeServerConfig):
    """What `zkinfer serve --llm DIR` was told (where it listens, its state directory, keys, body
    limit and /metrics access: `zkinfer.serving.config`)."""

    config_error = LlmConfigError

    model_dir: Path
    threads: int = 1  # torch threads for generation
    max_prompt_tokens: int | None = None  # None: the model's context less one
    max_tokens_cap: int = 256  # the most a request may ask for (max_tokens above it: 422 naming max_tokens)
    default_max_tokens: int = 16  # /v1/completions without max_tokens (OpenAI's default); chat defaults to the cap
    max_queue: int = 32  # requests waiting for the model beyond the running one; more: 429 with Retry-After

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.threads <= 256:
            raise LlmConfigError(f"--threads: {self.threads}; give 1 to 256")
        if not 1 <= self.max_tokens_cap <= 1 << 16:
            raise LlmConfigError(f"--max-tokens: {self.max_tokens_cap}; give 1 to 65536")
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 1:
            raise LlmConfigError(f"--max-prompt-tokens: {self.max_prompt_tokens}; give at least 1")
        if not 0 <= self.max_queue <= 1 << 16:
            raise LlmConfigError(f"--max-queue: {self.max_queue}; give 0 to 65536")

    @property
    def receipts_dir(self) -> Path:
        return self.state_dir / "llm-receipts"
