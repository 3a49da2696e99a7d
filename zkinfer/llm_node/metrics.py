"""Prometheus metrics of the LLM node (its own registry, so several nodes live in one process)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

FIRST_TOKEN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ANSWER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class LlmMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "zkinfer_llm_requests", "HTTP requests by route and status code.", ["route", "code"], registry=self.registry
        )
        self.prompt_tokens = Counter(
            "zkinfer_llm_prompt_tokens", "Prompt tokens of answered requests.", registry=self.registry
        )
        self.completion_tokens = Counter(
            "zkinfer_llm_completion_tokens", "Generated tokens of answered requests.", registry=self.registry
        )
        self.first_token_seconds = Histogram(
            "zkinfer_llm_first_token_seconds",
            "Time from a request's acceptance to its first token.",
            buckets=FIRST_TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.answer_seconds = Histogram(
            "zkinfer_llm_answer_seconds",
            "Time from a request's acceptance to its signed receipt.",
            buckets=ANSWER_BUCKETS,
            registry=self.registry,
        )
        self.commit_seconds = Counter(
            "zkinfer_llm_commit_seconds", "Time spent building activation commitments.", registry=self.registry
        )
        self.queue_depth = Gauge(
            "zkinfer_llm_queue_depth", "Requests waiting for the model or generating.", registry=self.registry
        )
        self.receipts = Counter("zkinfer_llm_receipts", "Signed LLM receipts stored.", registry=self.registry)
        self.rejected = Counter(
            "zkinfer_llm_rejected", "Requests refused, by reason.", ["reason"], registry=self.registry
        )

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
