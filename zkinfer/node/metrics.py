"""Prometheus metrics for `/metrics`: requests, queue depth, answer and proof times, failures.

Each node owns its registry (not the global one), so several nodes can live in one test process.
Workers report proof times through the pool's events; only the web process touches the metrics.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ANSWER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PROOF_BUCKETS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 600.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "zkinfer_requests", "HTTP requests by route and status code.", ["route", "code"], registry=self.registry
        )
        self.statement_seconds = Histogram(
            "zkinfer_statement_seconds",
            "Time to the signed statement and promise of an infer request (waiting for a witness run included).",
            ["model"],
            buckets=ANSWER_BUCKETS,
            registry=self.registry,
        )
        self.witness_runs = Gauge(
            "zkinfer_statement_witness_runs",
            "Witness runs made for statements (one run serves several requests of a batch circuit).",
            registry=self.registry,
        )
        self.answer_seconds = Histogram(
            "zkinfer_answer_seconds",
            "Time to the fast answer of an accepted infer request.",
            ["model"],
            buckets=ANSWER_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "zkinfer_queue_depth", "Accepted jobs not yet proven or failed.", registry=self.registry
        )
        self.workers_ready = Gauge(
            "zkinfer_workers_ready", "Prover worker processes ready to prove.", registry=self.registry
        )
        self.statement_workers_ready = Gauge(
            "zkinfer_statement_workers_ready",
            "Statement worker processes ready to make answers' signed statements.",
            registry=self.registry,
        )
        self.proof_seconds = Histogram(
            "zkinfer_proof_seconds",
            "Wall time of one proof (a batch counts once).",
            ["model"],
            buckets=PROOF_BUCKETS,
            registry=self.registry,
        )
        self.jobs_proven = Counter(
            "zkinfer_jobs_proven", "Jobs whose receipt is stored.", ["model"], registry=self.registry
        )
        self.failures = Counter(
            "zkinfer_proof_failures", "Jobs that failed to prove.", ["model"], registry=self.registry
        )
        self.claims_posted = Counter(
            "zkinfer_claims_posted", "Optimistic claims posted on chain.", registry=self.registry
        )
        self.claim_batches = Counter(
            "zkinfer_claim_batches", "Claim batches (or single claims) posted on chain.", registry=self.registry
        )
        self.challenges_answered = Counter(
            "zkinfer_challenges_answered",
            "Challenges of this node's claims answered on chain with a proof.",
            registry=self.registry,
        )
        self.rejected = Counter(
            "zkinfer_rejected", "Infer requests refused, by reason.", ["reason"], registry=self.registry
        )

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
