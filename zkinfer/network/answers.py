"""One node's answer to one request, judged: what it signed, or why it does not count (`Dissent`).

Also what two answers must share to agree (`agreement_key`) and how an answer is told in a few words.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from zkinfer.core.formats.statement import SignedPromise, SignedStatement, Statement
from zkinfer.network import certificate
from zkinfer.network.nodeset import PinnedNode


class DissentKind(StrEnum):
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    HTTP_STATUS = "http status"
    GARBAGE = "garbage"  # not the OIP v2 answer with a signed statement and promise that the format asks for
    WRONG_KEY = "wrong key"  # signed by another node's key (a replay) or an unpinned one
    WRONG_REQUEST = "wrong request"  # a statement for another request (a replay)
    BAD_SIGNATURE = "bad signature"
    ANSWER_MISMATCH = "answer differs from its statement"
    LATE_PROMISE = "late promise"
    OTHER_OUTPUT = "other output"  # a valid statement, but not the one (or label) the quorum signed


@dataclass(frozen=True)
class Dissent:
    kind: DissentKind
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "detail": self.detail}


@dataclass(frozen=True)
class OutputMeta:
    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class NodeAnswer:
    """One node's answer to one request, judged."""

    node: PinnedNode
    latency_ms: float | None  # None: no answer (timeout, unreachable)
    signed: SignedStatement | None = None  # only when valid: this node's key, this request, signature checked
    promise: SignedPromise | None = None
    outputs: tuple[OutputMeta, ...] = ()
    problem: Dissent | None = None  # why it does not count (None: it is a valid signed answer)
    status: int | None = None
    error: str = ""  # a 4xx answer's message, passed on when every node refuses the request alike

    @property
    def receipt_url(self) -> str:
        return f"{self.node.url}/v1/receipts/{self.promise.promise.receipt_id}" if self.promise else ""


@dataclass(frozen=True)
class OutputTensor:
    name: str
    shape: tuple[int, ...]
    data: tuple[float, ...]  # FP32 values, the statement's dequantized output
    datatype: str = "FP32"


def agreement_key(statement: Statement, agree_on: str) -> Any:
    """What two valid statements must share to agree: all of it, or (for labels) the claim, the
    request and the argmax of output 0."""
    if agree_on == "label":
        return ("label", statement.claim(), statement.request_id, statement.output_scales, certificate.label(statement))
    return statement.signing_bytes()


def describe_statement(statement: Statement, agree_on: str = "output") -> str:
    """A statement in a few words: its digest, its first output values (and label)."""
    first = statement.dequantized()[0] if statement.output else []
    shown = ", ".join(f"{v:.4g}" for v in first[:4]) + (", …" if len(first) > 4 else "")
    label = f", label {certificate.label(statement)}" if agree_on == "label" else ""
    return f"statement {statement.digest()[:19]}… (output [{shown}]{label})"


def describe(answer: NodeAnswer, agree_on: str = "output") -> str:
    """What a node said, in a few words (for splits and dissent details)."""
    if answer.problem is not None:
        return f"{answer.problem.kind.value}: {answer.problem.detail}"
    assert answer.signed is not None
    return describe_statement(answer.signed.statement, agree_on)
