"""A request's round (the nodes' answers, which keep arriving after the decision) and how it ended:
an `Outcome` (a quorum's answer and its certificate) or `NoQuorum` (what each node said)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from zkinfer.core.formats.statement import Statement
from zkinfer.core.support.errors import InfrastructureError
from zkinfer.network import certificate
from zkinfer.network.answers import (
    Dissent,
    DissentKind,
    NodeAnswer,
    OutputTensor,
    agreement_key,
    describe,
    describe_statement,
)
from zkinfer.network.nodeset import NodeSet
from zkinfer.network.tally import Tally, agreed_outputs


class Round:
    """One request's fan-out: the node tasks, which keep running after the decision."""

    def __init__(self, request_id: str, model: str, tasks: dict[str, asyncio.Task[NodeAnswer]], started: float) -> None:
        self.request_id, self.model, self.tasks, self.started = (
            request_id,
            model,
            tasks,
            started,
        )  # started: time.perf_counter()
        self.decided = False  # set once the quorum formed (or could not): answers after it are stragglers

    async def settled(self) -> list[NodeAnswer]:
        """Every node's answer (each ends by its timeout at the latest), in node-set order."""
        return list(await asyncio.gather(*self.tasks.values()))


@dataclass
class Outcome:
    """A quorum's answer: the agreed output, its certificate, who signed and who dissented so far."""

    request_id: str
    model: str
    statement: Statement  # the certified statement (for a label quorum: the heaviest group's)
    outputs: list[OutputTensor]
    certificate: certificate.Certificate
    signers: list[str]
    dissent: dict[str, Dissent]  # nodes that answered otherwise before the quorum formed
    pending: list[str]  # nodes that had not answered when the quorum formed
    latency_ms: dict[str, float | None]  # per node, its answer's arrival (None: not yet, or never)
    weight: int
    decided_ms: float  # from the fan-out to the quorum's decision (the arrivals plus their checks)
    round: Round = field(repr=False)
    agree_on: str = "output"
    agreed: Any = field(repr=False, default=None)  # the agreement key

    def classify(self, answer: NodeAnswer) -> Dissent | None:
        """None when this answer agrees with the quorum, else why not."""
        if answer.problem is not None:
            return answer.problem
        assert answer.signed is not None
        if agreement_key(answer.signed.statement, self.agree_on) == self.agreed:
            return None
        said, certified = describe(answer, self.agree_on), describe_statement(self.statement, self.agree_on)
        return Dissent(DissentKind.OTHER_OUTPUT, f"signed {said}; the quorum signed {certified}")

    async def settled(self) -> list[NodeAnswer]:
        return await self.round.settled()

    @functools.cached_property
    def certificate_json(self) -> dict[str, Any]:
        """The certificate as JSON, made once: the gateway both records it and answers with it."""
        return self.certificate.to_json()

    def response_parameters(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "zkinfer_certificate": self.certificate_json,
            "zkinfer_signers": self.signers,
            "zkinfer_latency_ms": {"decided": round(self.decided_ms, 2)}
            | {name: round(ms, 2) for name, ms in self.latency_ms.items() if ms is not None},
            "zkinfer_dissent": {name: d.to_json() for name, d in self.dissent.items()}
            | {name: {"kind": "pending", "detail": "no answer yet when the quorum formed"} for name in self.pending},
        }


class NoQuorum(InfrastructureError):
    """No statement reached the quorum (infrastructure: retry, or an operator mends the nodes): `split`
    says what each node said."""

    def __init__(
        self,
        message: str,
        request_id: str,
        split: dict[str, str],
        answers: list[NodeAnswer],
        round: Round,
        refusal: tuple[int, str] | None,
    ) -> None:
        super().__init__(message)
        self.request_id, self.split, self.answers, self.round = request_id, split, answers, round
        self.refusal = refusal  # (status, message) when a quorum of nodes refused the request alike (a client error)

    def to_json(self) -> dict[str, Any]:
        return {"error": str(self), "request_id": self.request_id, "split": self.split}


def decided(nodeset: NodeSet, round: Round, tally: Tally, agreed: Any, answers: dict[str, NodeAnswer]) -> Outcome:
    """The outcome of a round whose group `agreed` is a quorum: its certificate, signers and dissent so far."""
    members = tally.groups[agreed]
    signed = [a.signed for a in members if a.signed is not None]
    by_statement: Counter[bytes] = Counter()
    for a in members:
        by_statement[a.signed.statement.signing_bytes() if a.signed else b""] += a.node.weight
    heaviest = max(
        signed, key=lambda s: by_statement[s.statement.signing_bytes()]
    ).statement  # ties: the first to arrive
    info = {
        a.node.public_hex: {
            "name": a.node.name,
            "receipt_url": a.receipt_url,
            "receipt_id": a.promise.promise.receipt_id if a.promise else "",
        }
        for a in members
    }
    cert = certificate.make(signed, info, verified=True)
    outcome = Outcome(
        request_id=round.request_id,
        model=round.model,
        statement=heaviest,
        outputs=agreed_outputs(heaviest, members),
        certificate=cert,
        signers=[a.node.name for a in members],
        dissent={},
        pending=[n for n in round.tasks if n not in answers],
        latency_ms={n.name: answers[n.name].latency_ms if n.name in answers else None for n in nodeset.nodes},
        weight=nodeset.weight_of(a.node.public_key for a in members),
        decided_ms=(time.perf_counter() - round.started) * 1000,
        round=round,
        agree_on=nodeset.quorum.agree_on,
        agreed=agreed,
    )
    for name, answer in answers.items():
        why = outcome.classify(answer)
        if why is not None:
            outcome.dissent[name] = why
    return outcome


def no_quorum(nodeset: NodeSet, round: Round, answers: dict[str, NodeAnswer]) -> NoQuorum:
    """Why no statement reached the quorum: what each node said, and a quorum's alike refusal (a 4xx) if any."""
    rule = nodeset.quorum
    split = {
        n.name: describe(answers[n.name], rule.agree_on) if n.name in answers else "pending: no answer yet"
        for n in nodeset.nodes
    }
    refusals: Counter[int] = Counter()
    for answer in answers.values():
        if (
            answer.problem is not None
            and answer.problem.kind is DissentKind.HTTP_STATUS
            and answer.status is not None
            and 400 <= answer.status < 500
        ):
            refusals[answer.status] += answer.node.weight
    refusal = None
    if refusals:
        status, weight = refusals.most_common(1)[0]
        if weight >= rule.threshold:
            message = next(a.error for a in answers.values() if a.status == status)
            refusal = (status, message)
    parts = "; ".join(f"{name}: {said}" for name, said in split.items())
    message = (
        f"no quorum for request {round.request_id!r} (weight {rule.threshold} of {nodeset.total_weight()} "
        "needed to sign one statement): " + parts
    )
    return NoQuorum(message, round.request_id, split, list(answers.values()), round, refusal)
