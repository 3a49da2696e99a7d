"""Audit by sampling: after an LLM answer is sent, maybe have another node re-execute it, and record.

Which answers: a share `audit_share` (p) drawn at random once the answer has gone (the node cannot
tell which answers will be checked), and every answer of a node whose reputation is below
`audit_below`. Who re-executes: another pinned LLM node whose model digest equals the one the
receipt states, the best standing first (`POST /v1/attestations`: it signs an attestation).

- `agree`: the answer is recorded as agreed (it raises the node's standing).
- `disagree`: a second auditor is asked where there is one. Two disagreeing attestations (or one,
  where no other node holds the model) become evidence (`zkinfer.llm-evidence/1`, kind
  `llm-mismatch`: the signed receipt and the attestations) recorded against the node, which halves
  its reputation; anyone holding the model checks it offline (`zkinfer verify-evidence --model`).
  When the second auditor agrees instead, the first auditor's word is disputed: no evidence, and
  the dispute counts against the first auditor (a false attestation is signed, so attributable).
- A receipt that does not check without the model (signature, signer, request id, seed, model
  digest as asked) is a dissent at once; an audit that cannot run leaves the answer `served`.
Audits are not resumed after a restart: a sample lost is an answer not checked, never a verdict.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from zkinfer.core.crypto.digest import digest_json
from zkinfer.core.support.errors import ZkinferError
from zkinfer.llm import attestation as attestation_mod
from zkinfer.llm import receipt as receipt_mod
from zkinfer.network.llm_policy import LlmPolicy
from zkinfer.network.nodeset import PinnedNode
from zkinfer.network.record_types import Agreement, AnswerRecord, EvidenceRecord
from zkinfer.network.records import Records
from zkinfer.verify.llm_evidence import KIND, SCHEMA

log = logging.getLogger("zkinfer.gateway")
_random = secrets.SystemRandom()


@dataclass
class LlmNodeState:
    """What the gateway knows of one pinned LLM node (from its `/v1/models` and `/v1/identity`)."""

    node: PinnedNode
    model: str | None = None
    digest: str | None = None
    status: str = "not probed yet"
    probed_at: float = 0.0
    last_chosen: int = 0
    inflight: int = 0


@dataclass
class Served:
    """One answer a node sent, as the gateway observed it."""

    state: LlmNodeState
    request_id: str
    model: str
    seed: int
    receipt: dict[str, Any] | None
    latency_ms: float | None
    problem: str | None = None  # a problem found without the model (or no answer at all)
    no_answer: bool = False  # timed out or unreachable: not a dissent, a timeout
    extra: dict[str, Any] = field(default_factory=dict)


def receipt_problem(document: Any, state: LlmNodeState, request_id: str, seed: int) -> str | None:
    """Why an answer's receipt is not the one asked for, checked without the model; None when it is."""
    try:
        receipt = receipt_mod.parse(document, "zkinfer_receipt")
        receipt_mod.check_signature(receipt)
    except ZkinferError as exc:
        return f"receipt: {exc}"
    assert receipt.signature is not None
    if receipt.signature.public_key.removeprefix("0x").lower() != state.node.public_hex:
        return "receipt: signed by another key than the node's pinned one"
    if receipt.request_id != request_id:
        return f"receipt: request id {receipt.request_id!r}, not the gateway's {request_id!r}"
    if receipt.sampling.seed != seed:
        return f"receipt: seed {receipt.sampling.seed}, not the gateway's {seed}"
    if receipt.model.digest != state.digest:
        return f"receipt: model {receipt.model.digest}, not the {state.digest} the node serves under this name"
    return None


class Auditor:
    """Decides which answers to re-execute, asks the auditors, records the outcome and any evidence."""

    def __init__(
        self,
        policy: LlmPolicy,
        states: Mapping[str, LlmNodeState],
        records: Records,
        evidence_dir: Path,
        reputations: Callable[[], Mapping[bytes, float]],
        post: Callable[[LlmNodeState, str, dict[str, Any], float], Any],
    ) -> None:
        self.policy, self.states, self.records, self.evidence_dir = policy, states, records, evidence_dir
        self.reputations, self._post = reputations, post
        self.audits = 0

    def score(self, node: PinnedNode) -> float:
        return self.reputations().get(node.public_key, 0.5)

    def should_audit(self, node: PinnedNode) -> bool:
        return _random.random() < self.policy.audit_share or self.score(node) < self.policy.audit_below

    def auditors(self, served: Served, digest: str, exclude: set[str]) -> list[LlmNodeState]:
        """Other reachable nodes holding the model the receipt states, the best standing first."""
        found = [
            s
            for s in self.states.values()
            if s.digest == digest and s.status == "ok" and s.node.name not in exclude | {served.state.node.name}
        ]
        _random.shuffle(found)  # equal standing: any of them
        return sorted(found, key=lambda s: -self.score(s.node))

    async def settle(self, served: Served) -> None:
        """Record the answer, after re-executing it when sampled."""
        try:
            await self._settle(served)
        except Exception:  # a background task: log, never lose the gateway
            log.exception("auditing %s failed", served.request_id)

    async def _settle(self, served: Served) -> None:
        if served.problem is None and served.receipt is not None:
            served.problem = await asyncio.to_thread(
                receipt_problem, served.receipt, served.state, served.request_id, served.seed
            )
        if served.problem is not None or served.receipt is None:
            kind = "timeout" if served.no_answer else "bad-receipt"
            self._record(served, served.state, Agreement.DISSENT, kind, served.problem or "no receipt")
            return
        if not self.should_audit(served.state.node):
            self._record(served, served.state, Agreement.SERVED, None, "not sampled for re-execution")
            return
        digest = str(served.receipt["model"]["digest"])
        auditors = self.auditors(served, digest, set())
        if not auditors:
            self._record(
                served, served.state, Agreement.SERVED, None, f"not audited: no other node holds model {digest}"
            )
            return
        self.audits += 1
        first, why = await self.attest(auditors[0], served.receipt)
        if first is None:
            self._record(served, served.state, Agreement.SERVED, None, f"not audited: {auditors[0].node.name}: {why}")
            return
        if first.verdict == "agree":
            self._record(served, served.state, Agreement.AGREED, None, f"re-executed by {auditors[0].node.name}: agree")
            return
        second = None
        for other in auditors[1:2]:
            second, _ = await self.attest(other, served.receipt)
        if second is not None and second.verdict == "agree":
            names = f"{auditors[0].node.name} disagreed, {auditors[1].node.name} agreed"
            self._record(served, served.state, Agreement.SERVED, None, f"disputed: {names}")
            self._record(served, auditors[0], Agreement.DISSENT, "disputed-attestation", names)
            return
        attestations = [first] + ([second] if second is not None else [])
        self._evidence(served, attestations)

    async def attest(self, auditor: LlmNodeState, receipt: dict[str, Any]) -> tuple[Any, str]:
        """The auditor's signed attestation on `receipt` (checked: its pinned key, this receipt), or (None, why)."""
        auditor.inflight += 1  # a node re-executing is busy: new requests go elsewhere first
        try:
            response = await self._post(auditor, "/v1/attestations", receipt, self.policy.audit_timeout_ms / 1000)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            return None, f"unreachable ({type(exc).__name__})"
        finally:
            auditor.inflight -= 1
        if response.status_code != 200:
            return None, f"HTTP {response.status_code}: {response.text[:200]}"
        try:
            signed = attestation_mod.parse(response.json(), f"{auditor.node.name}'s attestation")
            attestation_mod.check_signature(signed, auditor.node.public_key)
        except (ZkinferError, ValueError) as exc:
            return None, str(exc)
        if signed.receipt_digest != receipt_mod.parse(receipt).digest() or signed.request_id != receipt["request_id"]:
            return None, "the attestation names another receipt"
        return signed, ""

    def _record(
        self, served: Served, state: LlmNodeState, verdict: Agreement, kind: str | None, detail: str
    ) -> AnswerRecord:
        row = AnswerRecord(
            request_id=served.request_id,
            model=served.model,
            node_key=state.node.public_hex,
            node=state.node.name,
            at=time.time(),
            latency_ms=served.latency_ms if state is served.state else None,
            verdict=verdict,
            dissent_kind=kind,
            detail=detail,
            statement_digest=None
            if served.receipt is None or served.problem
            else receipt_mod.parse(served.receipt).digest(),
        )
        return self.records.add_answers([row])[0]

    def _evidence(self, served: Served, attestations: list[Any]) -> None:
        assert served.receipt is not None
        document = {
            "schema": SCHEMA,
            "kind": KIND,
            "accused": served.state.node.public_hex,
            "node": served.state.node.name,
            "request_id": served.request_id,
            "observed_at": int(time.time()),
            "receipt": served.receipt,
            "attestations": [a.model_dump(mode="json") for a in attestations],
        }
        evidence_id = digest_json(document).removeprefix("sha256:")
        names = ", ".join(a.signature.public_key[:16] + "…" for a in attestations if a.signature)
        row = self._record(served, served.state, Agreement.DISSENT, KIND, f"re-executed: disagree ({names})")
        record = EvidenceRecord(
            evidence_id,
            KIND,
            served.state.node.public_hex,
            served.state.node.name,
            served.request_id,
            time.time(),
            document,
        )
        if self.records.add_evidence(record, row.seq):
            self.evidence_dir.mkdir(parents=True, exist_ok=True)
            (self.evidence_dir / f"{evidence_id}.json").write_text(json.dumps(document, indent=2) + "\n")
            log.warning("evidence %s: %s by node %s (request %s)", evidence_id[:16], KIND, row.node, row.request_id)


async def gather_quietly(tasks: set[asyncio.Task[None]]) -> None:
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
