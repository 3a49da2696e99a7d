"""Many untrusted nodes, one answer: fan a request out, count signed statements, certify a quorum.

`Consensus(nodeset).infer(model, body)` sends one OIP v2 request (its `id` set to the request id)
to every pinned node at once over one pooled HTTP/1.1 keep-alive client, and returns as soon as
signers of one statement reach the quorum, without waiting for the slow nodes (their answers
still arrive and are judged: `Outcome.settled()`, which the gateway records).

Every answer is hostile until judged (`judge`): it counts only with a statement for *this*
request signed by *that node's pinned key* (a statement signed by another node's key is a replay,
never counted), a promise by the same key to prove that statement within the node set's
`prove_within_s`, and output tensors that match the statement's dequantized output. Anything else
is a `Dissent` with its kind and a detail. Agreement is on identical statements (`agree_on =
"output"`) or on the label (the argmax of output 0: `agree_on = "label"`, for classifiers whose
honest nodes may differ in the last quantized unit); the quorum needs the signers' static weight
at the threshold and, with `weighting = "reputation"`, more than half of the reputation-weighted
weight. No quorum raises `NoQuorum`, naming what each node said; the output is never made up.

Signatures are checked on a worker thread as each answer arrives (a BLS verification costs ~8 ms
here), so checking overlaps with waiting for the other nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import math
import multiprocessing
import os
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import numpy as np

from zkinfer.core import strict_json
from zkinfer.core.errors import InfrastructureError, UsageError
from zkinfer.core.statement import REQUEST_ID, SignedPromise, SignedStatement, Statement, StatementError
from zkinfer.core.text import visible
from zkinfer.network import certificate
from zkinfer.network.nodeset import NodeSet, PinnedNode

log = logging.getLogger("zkinfer.gateway")
MAX_ANSWER_BYTES = 8 << 20  # a node's answer beyond this is garbage (the tiny models answer in ~2 KB)
CLOCK_SLACK_S = 5  # a promise may name a time this much beyond prove_within_s (clocks differ)
ANSWER_TOLERANCE = 0.05  # a node's float outputs may differ from its statement's by this × max(1, |value|)
T = TypeVar("T")


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

    def response_parameters(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "zkinfer_certificate": self.certificate.to_json(),
            "zkinfer_signers": self.signers,
            "zkinfer_latency_ms": {"decided": round(self.decided_ms, 2)}
            | {name: round(ms, 2) for name, ms in self.latency_ms.items() if ms is not None},
            "zkinfer_dissent": {name: d.to_json() for name, d in self.dissent.items()}
            | {name: {"kind": "pending", "detail": "no answer yet when the quorum formed"} for name in self.pending},
        }


class NoQuorum(InfrastructureError):
    """No statement reached the quorum (infrastructure: retry, or an operator mends the nodes): `split` says what each node said."""

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


def new_request_id() -> str:
    return "zk-" + secrets.token_hex(12)


# --- judging one answer ------------------------------------------------------------------------


def _load(value: Any, where: str) -> Any:
    """A nested document, as an object or as JSON text (OIP parameters are often scalars only)."""
    if isinstance(value, str):
        try:
            return strict_json.loads(value)
        except strict_json.StrictJSONError as exc:
            raise StatementError(f"{where}: not JSON ({exc})") from exc
    return value


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
        signed = SignedStatement.from_json(
            _load(parameters.get("zkinfer_statement"), "zkinfer_statement"), "parameters.zkinfer_statement"
        )
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
        promised = SignedPromise.from_json(
            _load(parameters.get("zkinfer_promise"), "zkinfer_promise"), "parameters.zkinfer_promise"
        )
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
            f"it promises a proof by {promised.promise.prove_by}, later than prove_within_s = {nodeset.quorum.prove_within_s} s allows",
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


# --- counting ----------------------------------------------------------------------------------


class Tally:
    """Valid answers grouped by agreement key; decides when one group is a quorum, or none can be."""

    def __init__(self, nodeset: NodeSet, reputation: Mapping[bytes, float] | None) -> None:
        self.nodeset, self.rule = nodeset, nodeset.quorum
        self.groups: dict[Any, list[NodeAnswer]] = {}
        self.answered: set[bytes] = set()
        rep = reputation or {}
        self.rep_weight = {n.public_key: n.weight * rep.get(n.public_key, 0.5) for n in nodeset.nodes}

    def add(self, answer: NodeAnswer) -> None:
        self.answered.add(answer.node.public_key)
        if answer.signed is not None:
            self.groups.setdefault(agreement_key(answer.signed.statement, self.rule.agree_on), []).append(answer)

    def _enough(self, keys: Sequence[bytes]) -> bool:
        if self.nodeset.weight_of(keys) < self.rule.threshold:
            return False
        if self.rule.weighting != "reputation":
            return True
        total = sum(self.rep_weight.values())
        return total > 0 and sum(self.rep_weight.get(k, 0.0) for k in set(keys)) > total / 2

    def quorum(self) -> Any | None:
        """The agreement key of a group that is a quorum (the heaviest, if several), or None."""
        ready = [key for key, members in self.groups.items() if self._enough([a.node.public_key for a in members])]
        return (
            max(ready, key=lambda k: self.nodeset.weight_of(a.node.public_key for a in self.groups[k]))
            if ready
            else None
        )

    def possible(self) -> bool:
        """Whether the nodes yet to answer could still make some group (or a new one) a quorum."""
        pending = [n.public_key for n in self.nodeset.nodes if n.public_key not in self.answered]
        candidates = [[a.node.public_key for a in members] for members in self.groups.values()] + [[]]
        return any(self._enough([*keys, *pending]) for keys in candidates)


def _agreed_outputs(statement: Statement, members: list[NodeAnswer]) -> list[OutputTensor]:
    """The statement's dequantized output, named and shaped as most of its signers (by weight) said."""
    votes: Counter[tuple[OutputMeta, ...]] = Counter()
    for answer in members:
        if answer.signed is not None and answer.signed.statement == statement:
            votes[answer.outputs] += answer.node.weight
    metas = votes.most_common(1)[0][0]
    return [
        OutputTensor(m.name, m.shape, tuple(np.asarray(values, dtype=np.float32).tolist()))
        for m, values in zip(metas, statement.dequantized(), strict=True)
    ]


# --- the client --------------------------------------------------------------------------------


class Consensus:
    """Fan-out and quorum over a pinned node set, as a library (the gateway is a front for it).

    `api_keys` maps node names to the API key sent to each (default: each node's `api_key_env`
    environment variable). `reputation` returns each node's current score (for weighting =
    "reputation"; default: every node 1/2). `check_processes`: answers are judged in that many
    processes (0: on threads of this one). The BLS library holds the GIL while it verifies (~3 ms
    a signature with blspy here, ~8 ms with milagro before it; two per answer), so on threads the
    answers' checks run one after another; in processes they run side by side, but each check then
    pays a hand-over to another process: on this 2-core machine, loaded (with milagro), one answer
    took 40 ms p50 in a process against 18-28 ms on a thread, so threads are the default; processes
    are for a gateway with cores to spare. Stragglers (answers after the decision) are then checked in one
    more process at idle priority.
    """

    def __init__(
        self,
        nodeset: NodeSet,
        api_keys: Mapping[str, str] | None = None,
        *,
        reputation: Callable[[], Mapping[bytes, float]] | None = None,
        tolerance: float = ANSWER_TOLERANCE,
        environ: Mapping[str, str] | None = None,
        check_processes: int = 0,
    ) -> None:
        self.nodeset = nodeset
        self.check_processes = check_processes
        self._pools: dict[bool, ProcessPoolExecutor] = {}  # by lateness: see `_pool`
        self.tolerance = tolerance
        self.reputation = reputation
        env = os.environ if environ is None else environ
        keys = dict(api_keys or {})
        for node in nodeset.nodes:
            if node.name not in keys and node.api_key_env is not None:
                if node.api_key_env not in env:
                    raise UsageError(
                        f"{nodeset.source}: node {node.name!r}: environment variable {node.api_key_env} (its api_key_env) is not set; export it with the node's API key"
                    )
                keys[node.name] = env[node.api_key_env]
        self._auth = {name: {"Authorization": f"Bearer {key}"} for name, key in keys.items()}
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._inflight: set[asyncio.Task[NodeAnswer]] = set()
        self._loop_thread: _LoopThread | None = None

    @property
    def timeout_s(self) -> float:
        return self.nodeset.quorum.timeout_ms / 1000

    def client(self) -> httpx.AsyncClient:
        """The pooled client of the running event loop (HTTP/1.1 keep-alive, one pool for all nodes)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            n = len(self.nodeset.nodes)
            limits = httpx.Limits(max_connections=256 * n, max_keepalive_connections=64 * n, keepalive_expiry=30)
            client = self._clients[loop] = httpx.AsyncClient(
                limits=limits, timeout=httpx.Timeout(self.timeout_s + 1), trust_env=False
            )
        return client

    def headers(self, node: PinnedNode) -> dict[str, str]:
        return dict(self._auth.get(node.name, {}))

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self._pools.clear()

    async def infer(self, model: str, body: Mapping[str, Any], request_id: str | None = None) -> Outcome:
        """One OIP v2 request (JSON body) answered by a quorum; raises NoQuorum otherwise."""
        return await self.infer_bytes(model, dict(body), b"", request_id)

    async def infer_bytes(
        self, model: str, header: dict[str, Any], binary: bytes, request_id: str | None = None
    ) -> Outcome:
        """As `infer`, for a request whose tensors may follow the JSON header as Triton binary data
        (sent to the nodes unchanged); the nodes answer in JSON."""
        request_id = request_id if request_id is not None else header.get("id") or new_request_id()
        if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
            raise UsageError(
                f"id: {str(request_id)[:40]!r} is not a request id (1-128 characters of A-Z a-z 0-9 . _ : -)"
            )
        forwarded = {k: v for k, v in header.items() if k != "outputs"}  # every output: the statement covers them all
        forwarded["id"] = request_id
        parameters = forwarded.get("parameters")
        if isinstance(parameters, dict):
            forwarded["parameters"] = {k: v for k, v in parameters.items() if k != "binary_data_output"}
        content = json.dumps(forwarded, separators=(",", ":")).encode()
        extra = {"Content-Type": "application/json"}
        if binary:
            extra["Inference-Header-Content-Length"] = str(len(content))
        path = f"/v2/models/{quote(model, safe='')}/infer"
        round = Round(request_id, model, {}, time.perf_counter())
        round.tasks = {
            n.name: asyncio.create_task(self._ask(n, path, content + binary, extra, round)) for n in self.nodeset.nodes
        }
        for task in round.tasks.values():  # held until done, even when the caller goes away before the decision
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        try:
            return await self._decide(round)
        finally:
            round.decided = True

    async def _ask(
        self, node: PinnedNode, path: str, content: bytes, extra: dict[str, str], round: Round
    ) -> NodeAnswer:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                status, body = await self._post(node, path, content, extra)
        except TimeoutError:
            return NodeAnswer(
                node,
                None,
                problem=Dissent(DissentKind.TIMEOUT, f"no answer within {self.nodeset.quorum.timeout_ms} ms"),
            )
        except httpx.TimeoutException:
            return NodeAnswer(node, None, problem=Dissent(DissentKind.TIMEOUT, "the connection timed out"))
        except _TooLarge:
            return NodeAnswer(
                node,
                (time.perf_counter() - start) * 1000,
                problem=Dissent(DissentKind.GARBAGE, f"an answer over {MAX_ANSWER_BYTES} bytes"),
            )
        except (httpx.HTTPError, OSError) as exc:
            return NodeAnswer(
                node, None, problem=Dissent(DissentKind.UNREACHABLE, visible(f"{type(exc).__name__}: {exc}", 200))
            )
        latency_ms = (time.perf_counter() - start) * 1000
        args = (node, self.nodeset, round.request_id, status, body, latency_ms, time.time(), self.tolerance)
        if self.check_processes > 0:
            late = round.decided  # a straggler: checked for the records only, after the next requests' answers
            try:
                return await asyncio.get_running_loop().run_in_executor(self._pool(late), judge, *args)
            except BrokenProcessPool:
                self._pools.pop(late, None)  # made again for the next answer; this one is checked here
        return await asyncio.to_thread(judge, *args)

    def _pool(self, late: bool) -> ProcessPoolExecutor:
        """The checking processes: `check_processes` for answers a decision waits on, one at idle priority for stragglers."""
        pool = self._pools.get(late)
        if pool is None:
            context = multiprocessing.get_context("spawn")
            pool = (
                ProcessPoolExecutor(1, mp_context=context, initializer=lower_priority)
                if late
                else ProcessPoolExecutor(self.check_processes, mp_context=context, initializer=die_with_parent)
            )
            self._pools[late] = pool
        return pool

    async def warm(self) -> None:
        """Start the checking processes now rather than on the first answers (a spawn costs ~1 s)."""
        if self.check_processes > 0:
            loop = asyncio.get_running_loop()
            try:
                await asyncio.gather(
                    *(loop.run_in_executor(self._pool(late), _warm) for late in (True, *[False] * self.check_processes))
                )
            except (
                BrokenProcessPool,
                OSError,
                RuntimeError,
            ) as exc:  # e.g. a script without `if __name__ == "__main__":`
                log.warning("cannot start checking processes (%s); answers are checked on threads", exc)
                self.check_processes = 0
                await self.aclose()

    async def _post(self, node: PinnedNode, path: str, content: bytes, extra: dict[str, str]) -> tuple[int, bytes]:
        async with self.client().stream(
            "POST", node.url + path, content=content, headers={**self.headers(node), **extra}
        ) as response:
            return response.status_code, await _read_capped(response)

    async def _decide(self, round: Round) -> Outcome:
        reputation = (
            self.reputation() if self.reputation is not None and self.nodeset.quorum.weighting == "reputation" else None
        )
        tally = Tally(self.nodeset, reputation)
        answers: dict[str, NodeAnswer] = {}
        waiting: set[asyncio.Task[NodeAnswer]] = set(round.tasks.values())
        while waiting:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                answer = task.result()
                answers[answer.node.name] = answer
                tally.add(answer)
            agreed = tally.quorum()
            if agreed is not None:
                return self._outcome(round, tally, agreed, answers)
            if not tally.possible():
                break
        raise self._no_quorum(round, answers)

    def _outcome(self, round: Round, tally: Tally, agreed: Any, answers: dict[str, NodeAnswer]) -> Outcome:
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
            outputs=_agreed_outputs(heaviest, members),
            certificate=cert,
            signers=[a.node.name for a in members],
            dissent={},
            pending=[n for n in round.tasks if n not in answers],
            latency_ms={n.name: answers[n.name].latency_ms if n.name in answers else None for n in self.nodeset.nodes},
            weight=self.nodeset.weight_of(a.node.public_key for a in members),
            decided_ms=(time.perf_counter() - round.started) * 1000,
            round=round,
            agree_on=self.nodeset.quorum.agree_on,
            agreed=agreed,
        )
        for name, answer in answers.items():
            why = outcome.classify(answer)
            if why is not None:
                outcome.dissent[name] = why
        return outcome

    def _no_quorum(self, round: Round, answers: dict[str, NodeAnswer]) -> NoQuorum:
        rule = self.nodeset.quorum
        split = {
            n.name: describe(answers[n.name], rule.agree_on) if n.name in answers else "pending: no answer yet"
            for n in self.nodeset.nodes
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
        message = f"no quorum for request {round.request_id!r} (weight {rule.threshold} of {self.nodeset.total_weight()} needed to sign one statement): {parts}"
        return NoQuorum(message, round.request_id, split, list(answers.values()), round, refusal)

    # --- other requests to the nodes -----------------------------------------------------------

    async def first_answer(self, path: str) -> tuple[int, Any]:
        """GET `path` from every node; the first 200 JSON answer, or the most common failure."""

        async def get(node: PinnedNode) -> tuple[int, Any]:
            try:
                async with asyncio.timeout(self.timeout_s):
                    async with self.client().stream("GET", node.url + path, headers=self.headers(node)) as response:
                        body = await _read_capped(response)
                return response.status_code, strict_json.loads(body)
            except (TimeoutError, httpx.HTTPError, OSError, _TooLarge, strict_json.StrictJSONError) as exc:
                return 503, {"error": visible(f"node {node.name}: {type(exc).__name__}: {exc}", 200)}

        tasks = [asyncio.create_task(get(n)) for n in self.nodeset.nodes]
        failures: list[tuple[int, Any]] = []
        for next_done in asyncio.as_completed(tasks):
            status, document = await next_done
            if status == 200:
                for task in tasks:
                    task.cancel()
                return status, document
            failures.append((status, document))
        status = Counter(s for s, _ in failures).most_common(1)[0][0]
        return status, next(d for s, d in failures if s == status)

    async def identities(self) -> dict[str, str]:
        """Each node's `/v1/identity` checked against its pinned key: "ok" or what is wrong."""

        async def probe(node: PinnedNode) -> str:
            try:
                async with asyncio.timeout(max(self.timeout_s, 2.0)):
                    async with self.client().stream("GET", node.url + "/v1/identity") as response:
                        body = await _read_capped(response)
                if response.status_code != 200:
                    return f"/v1/identity answered HTTP {response.status_code}"
                document = strict_json.loads(body)
                key = document.get("public_key") if isinstance(document, dict) else None
                if key != node.public_hex:
                    return f"/v1/identity names key {visible(str(key), 24)}, not the pinned one"
                return "ok"
            except (TimeoutError, httpx.HTTPError, OSError, _TooLarge, strict_json.StrictJSONError) as exc:
                return visible(f"unreachable: {type(exc).__name__}: {exc}", 200)

        results = await asyncio.gather(*(probe(n) for n in self.nodeset.nodes))
        return {n.name: r for n, r in zip(self.nodeset.nodes, results, strict=True)}

    # --- synchronous use (notebooks, scripts) --------------------------------------------------

    def infer_sync(self, model: str, body: Mapping[str, Any], request_id: str | None = None) -> Outcome:
        """`infer` from synchronous code, also where an event loop already runs (Jupyter): on a loop
        of its own, in a thread, where the stragglers finish too."""
        return self._run(self.infer(model, body, request_id))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop_thread is None:
            self._loop_thread = _LoopThread()
        return self._loop_thread.run(coroutine)

    def close(self) -> None:
        """Close the synchronous wrapper's loop and its connections."""
        if self._loop_thread is not None:
            self._loop_thread.run(self.aclose())
            self._loop_thread.stop()
            self._loop_thread = None


def die_with_parent() -> None:
    """A process initializer: the worker gets SIGKILL when the process that started it dies
    (Linux's PR_SET_PDEATHSIG), however it dies. A pool's workers otherwise outlive a gateway that
    stops before they read their exit message (uvicorn re-raises SIGTERM once the app has shut
    down, which ends the process before the pool's threads have told the workers to go) or that is
    killed: they wait on their queue for ever, with multiprocessing's resource tracker beside them.
    Linux sends the signal when the *thread* that started the worker exits: a pool's workers are
    started by the thread that submits to it, here the event loop's, which lives as long as the
    gateway (or the `Consensus` loop thread, until `close`)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # the parent died before the request took effect
        os._exit(0)


def lower_priority() -> None:
    """A process initializer: work for the records (stragglers' checks, receipts' verification)
    yields the CPU to the answers. Linux's SCHED_IDLE, as the node's provers run: it runs only on
    a core nothing else wants (nice 10 alone still took a tenth of a busy core); nice 19 where the
    kernel refuses it. Children (the verifier's ezkl process) inherit it. The worker dies with its
    parent (`die_with_parent`)."""
    die_with_parent()
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)


def _warm() -> None:
    """Runs in a checking process once: loads what `judge` needs (BLS backend included)."""
    from zkinfer.core import bls

    bls.backend()


class _TooLarge(Exception):
    pass


async def _read_capped(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class _LoopThread:
    """An event loop running in a daemon thread, for the synchronous API."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="zkinfer-consensus", daemon=True)
        self.thread.start()

    def run(self, coroutine: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
