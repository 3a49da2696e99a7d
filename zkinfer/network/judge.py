"""Judging one node's HTTP answer: every answer is hostile until judged.

An answer counts only with a statement for *this* request signed by *that node's pinned key* (a
statement signed by another node's key is a replay, never counted), a promise by the same key to
prove that statement within the node set's `prove_within_s`, and output tensors that match the
statement's dequantized output. Anything else is a `Dissent` with its kind and a detail.
"""

from __future__ import annotations

import math
from typing import Any

from zkinfer.core.formats import strict_json
from zkinfer.core.formats.statement import SignedPromise, SignedStatement, Statement, StatementError
from zkinfer.core.support.text import visible
from zkinfer.network.answers import Dissent, DissentKind, NodeAnswer, OutputMeta
from zkinfer.network.nodeset import NodeSet, PinnedNode

CLOCK_SLACK_S = 5  # a promise may name a time this much beyond prove_within_s (clocks differ)
ANSWER_TOLERANCE = 0.05  # a node's float outputs may differ from its statement's by this × max(1, |value|)


def _load(value: Any, where: str) -> Any:
    """A nested document, as an object or as JSON text (OIP parameters are often scalars only)."""
    if isinstance(value, str):
        try:
            return strict_json.loads(value)
        except strict_json.StrictJSONError as exc:
            raise StatementError(f"{where}: not JSON ({exc})") from exc
    return value


def _parameter(parameters: dict[str, Any], name: str) -> tuple[Any, str]:
    """A signed document in an answer's `parameters`, and where it was."""
    return _load(parameters.get(name), name), f"parameters.{name}"


def _outputs(
    document: dict[str, Any], statement: Statement, tolerance: float
) -> tuple[tuple[OutputMeta, ...], Dissent | None]:
    outputs = document.get("outputs")
    if not isinstance(outputs, list) or len(outputs) != len(statement.output):
        return (), Dissent(
            DissentKind.GARBAGE, f"outputs: expected {len(statement.output)} output tensor(s) as its statement has"
        )
    metas = []
    expected = statement.dequantized()
    for i, (item, values) in enumerate(zip(outputs, expected, strict=True)):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("shape"), list)
        ):
            return (), Dissent(DissentKind.GARBAGE, f"outputs[{i}]: not a tensor with a name and a shape")
        shape = item["shape"]
        if not all(type(d) is int and d >= 0 for d in shape) or math.prod(shape) != len(values):
            return (), Dissent(
                DissentKind.GARBAGE,
                f"outputs[{i}].shape: {str(shape)[:40]} does not hold the statement's {len(values)} value(s)",
            )
        data = item.get("data")
        if not isinstance(data, list) or len(data) != len(values) or not all(type(v) in (int, float) for v in data):
            return (), Dissent(
                DissentKind.GARBAGE, f"outputs[{i}].data: not {len(values)} numbers (the gateway asks for JSON outputs)"
            )
        worst = max((abs(a - b) / max(1.0, abs(b)) for a, b in zip(data, values, strict=True)), default=0.0)
        if worst > tolerance:
            return (), Dissent(
                DissentKind.ANSWER_MISMATCH,
                f"outputs[{i}] differs from its own signed statement by {worst:.3g} (more than {tolerance})",
            )
        metas.append(OutputMeta(visible(item["name"], 64), tuple(shape)))
    return tuple(metas), None


def _refusal(status: int, body: bytes) -> str:
    try:
        document = strict_json.loads(body)
        message = document.get("error") if isinstance(document, dict) else None
    except strict_json.StrictJSONError:
        message = None
    return visible(message if isinstance(message, str) else body.decode("utf-8", "replace"), 300)


def judge(
    node: PinnedNode,
    nodeset: NodeSet,
    request_id: str,
    status: int,
    body: bytes,
    latency_ms: float,
    now: float,
    tolerance: float = ANSWER_TOLERANCE,
) -> NodeAnswer:
    """One node's HTTP answer, judged: valid (counts) or the first reason it does not."""

    def dissent(kind: DissentKind, detail: str, **extra: Any) -> NodeAnswer:
        return NodeAnswer(
            node=node, latency_ms=latency_ms, problem=Dissent(kind, visible(detail, 400)), status=status, **extra
        )

    if status != 200:
        message = _refusal(status, body)
        return dissent(DissentKind.HTTP_STATUS, f"HTTP {status}: {message}", error=message)
    try:
        document = strict_json.loads(body)
    except strict_json.StrictJSONError as exc:
        return dissent(DissentKind.GARBAGE, f"not JSON ({exc})")
    parameters = document.get("parameters") if isinstance(document, dict) else None
    if not isinstance(parameters, dict):
        return dissent(DissentKind.GARBAGE, "not an OIP v2 answer with parameters")
    try:
        signed = SignedStatement.from_json(*_parameter(parameters, "zkinfer_statement"))
    except StatementError as exc:
        return dissent(DissentKind.GARBAGE, f"no valid signed statement: {exc}")
    if signed.public_key != node.public_key:
        other = nodeset.by_key(signed.public_key)
        whose = f"node {other.name}'s key (a replay)" if other else f"an unpinned key {signed.public_key.hex()[:16]}…"
        return dissent(DissentKind.WRONG_KEY, f"its statement is signed by another key: {whose}")
    if signed.statement.request_id != request_id:
        return dissent(
            DissentKind.WRONG_REQUEST,
            f"its statement is for request {signed.statement.request_id!r}, not {request_id!r} (a replay)",
        )
    try:
        promised = SignedPromise.from_json(*_parameter(parameters, "zkinfer_promise"))
    except StatementError as exc:
        return dissent(DissentKind.GARBAGE, f"no valid promise: {exc}")
    if promised.public_key != node.public_key:
        return dissent(DissentKind.WRONG_KEY, "its promise is signed by another key")
    if promised.promise.statement_digest != signed.statement.digest():
        return dissent(DissentKind.GARBAGE, "its promise names another statement than the one it signed")
    limit = now + nodeset.quorum.prove_within_s + CLOCK_SLACK_S
    if promised.promise.prove_by > limit:
        return dissent(
            DissentKind.LATE_PROMISE,
            f"it promises a proof by {promised.promise.prove_by}, "
            f"later than prove_within_s = {nodeset.quorum.prove_within_s} s allows",
        )
    metas, mismatch = _outputs(document, signed.statement, tolerance)
    if mismatch is not None:
        return dissent(mismatch.kind, mismatch.detail)
    try:
        signed.verify()
        promised.verify()
    except StatementError as exc:
        return dissent(DissentKind.BAD_SIGNATURE, str(exc))
    return NodeAnswer(node=node, latency_ms=latency_ms, signed=signed, promise=promised, outputs=metas, status=status)
