"""The running gateway's state: node set, consensus client, records, watcher, and what it knows of
each node; it answers an infer through a quorum and records every node's answer afterwards."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, TextIO

from zkinfer.network import llm_routing, reputation
from zkinfer.network.answers import DissentKind, NodeAnswer
from zkinfer.network.certificate_posts import CertificatePoster
from zkinfer.network.client import Consensus
from zkinfer.network.gateway_config import GatewayConfig
from zkinfer.network.nodeset import NodeSet
from zkinfer.network.outcome import NoQuorum, Outcome, Round
from zkinfer.network.record_types import Agreement, AnswerRecord, CertificateRecord, ReceiptState
from zkinfer.network.records import Records
from zkinfer.network.watcher import Watcher, claim_digest
from zkinfer.serving import oip
from zkinfer.serving.auth import ApiKeys

log = logging.getLogger("zkinfer.gateway")
READY_CACHE_S = 2.0
REPUTATION_CACHE_S = 2.0


class Gateway:
    """The gateway's state: node set, consensus client, records, watcher, and what it knows of each node."""

    def __init__(self, config: GatewayConfig, pinned: NodeSet, records: Records, api_keys: ApiKeys) -> None:
        self.config, self.nodeset, self.records, self.api_keys = config, pinned, records, api_keys
        self.consensus = Consensus(
            pinned, reputation=self.reputations, check_processes=config.check_processes, stragglers_apart=True
        )
        self.watcher = Watcher(records, self.consensus, config.state_dir / "evidence", poll_s=config.poll_s)
        self.node_status: dict[str, str] = {n.name: "not probed yet" for n in pinned.nodes}
        self.llm = llm_routing.LlmRouter(pinned, records, config.state_dir / "evidence", self.reputations)
        self._background: set[asyncio.Task[None]] = set()
        self._reputation: tuple[float, dict[bytes, float]] = (0.0, {})
        self._ready: tuple[float, bool] = (0.0, False)
        self.lock: TextIO | None = None  # the state directory's lock, held while the gateway runs
        self.poster = None if config.post_to is None else CertificatePoster(records, config.post_to.open)

    async def start(self) -> None:
        self.node_status, _, _ = await asyncio.gather(
            self.consensus.identities(), self.consensus.warm(), self.llm.start()
        )
        for name, status in self.node_status.items():
            if status == "ok":
                log.info("node %s: reachable, key as pinned", name)
            else:
                log.warning(
                    "node %s: %s (the gateway serves on; it counts as a dissent until it answers)", name, status
                )
        if self.poster is not None:
            self.poster.start()
        resumed = self.watcher.resume()
        if resumed:
            log.info("watching %d receipt(s) left pending by the last run", resumed)

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.watcher.stop()
        if self.poster is not None:
            await self.poster.stop()
        await self.consensus.aclose()
        await self.llm.stop()

    def reputations(self) -> dict[bytes, float]:
        at, scores = self._reputation
        if time.monotonic() - at > REPUTATION_CACHE_S:
            every = (*self.nodeset.nodes, *self.nodeset.llm_nodes)
            scores = {n.public_key: reputation.score(self.records.node_stats(n.public_hex)) for n in every}
            self._reputation = (time.monotonic(), scores)
        return scores

    async def ready(self) -> bool:
        """Whether nodes of at least the threshold's weight are ready (asked at most every READY_CACHE_S)."""
        at, ready = self._ready
        if time.monotonic() - at > READY_CACHE_S:
            answers = await asyncio.gather(*(self._node_ready(n.url) for n in self.nodeset.nodes))
            ready = (
                self.nodeset.weight_of(n.public_key for n, ok in zip(self.nodeset.nodes, answers, strict=True) if ok)
                >= self.nodeset.quorum.threshold
            )
            self._ready = (time.monotonic(), ready)
        return ready

    async def _node_ready(self, url: str) -> bool:
        try:
            async with asyncio.timeout(self.consensus.timeout_s):
                return (await self.consensus.client().request("GET", url + "/v2/health/ready")).status == 200
        except Exception:  # any failure is "not ready"
            return False

    async def infer(self, model: str, request: oip.InferRequest, binary: bytes, request_id: str) -> Outcome:
        """A quorum's answer to `request_id` (namespaced: `namespaced`), recorded at once with its
        certificate; the rest is recorded in the background."""
        try:
            outcome = await self.consensus.infer_request(model, request, binary, request_id)
        except NoQuorum as exc:
            self._later(self._record(exc.round, None))
            raise
        dissenters = sorted({*outcome.dissent, *outcome.pending})
        self.records.add_certificate(
            CertificateRecord(
                outcome.request_id,
                model,
                outcome.statement.digest(),
                outcome.certificate_json,
                outcome.signers,
                dissenters,
                time.time(),
            ),
            post=self.poster is not None,
        )
        if self.poster is not None:
            self.poster.wake()
        self._later(self._record(outcome.round, outcome))
        return outcome

    def _later(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _record(self, round: Round, outcome: Outcome | None) -> None:
        """Once every node has answered or timed out: record each answer and watch its receipt."""
        answers = await round.settled()
        at = time.time()
        for a in answers:  # what start-up found is kept current: a node that came up, or went down
            if a.signed is not None:
                self.node_status[a.node.name] = "ok"
            elif a.problem is not None and a.problem.kind is DissentKind.UNREACHABLE:
                self.node_status[a.node.name] = f"unreachable: {a.problem.detail}"
        rows = [answer_record(a, outcome, round.request_id, round.model, at) for a in answers]
        stored = self.records.add_answers(rows)
        if outcome is not None:
            self.records.set_dissenters(round.request_id, [r.node for r in rows if r.verdict is not Agreement.AGREED])
        self.watcher.watch(stored)


def answer_record(answer: NodeAnswer, outcome: Outcome | None, request_id: str, model: str, at: float) -> AnswerRecord:
    """One node's answer as a record: how it ended relative to the quorum, and what to watch."""
    why = outcome.classify(answer) if outcome is not None else answer.problem
    verdict = (
        Agreement.DISSENT if why is not None else (Agreement.AGREED if outcome is not None else Agreement.NO_QUORUM)
    )
    signed, promise = answer.signed, answer.promise
    return AnswerRecord(
        request_id=request_id,
        model=model,
        node_key=answer.node.public_hex,
        node=answer.node.name,
        at=at,
        latency_ms=answer.latency_ms,
        verdict=verdict,
        dissent_kind=None if why is None else why.kind.value,
        detail="" if why is None else why.detail,
        statement=signed.to_json() if signed else None,
        statement_digest=signed.statement.digest() if signed else None,
        claim=claim_digest(signed.statement) if signed else None,
        promise=promise.to_json() if promise else None,
        receipt_id=promise.promise.receipt_id if promise else None,
        prove_by=promise.promise.prove_by if promise else None,
        receipt=ReceiptState.PENDING if signed and promise else ReceiptState.NONE,
    )
