"""The LLM node's service: a request (typed, checked against the limits) → tokens → a signed receipt.

It knows nothing of HTTP. One generation runs at a time (the model is one set of weights on a few
cores); others wait, up to `max_queue`, and beyond that are refused with a retry hint. Each answer's
receipt is built and signed before the answer's last byte leaves, and stored under the caller's key.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from zkinfer.core.crypto import identity
from zkinfer.core.support.errors import InfrastructureError, UsageError
from zkinfer.llm import commitments, sampling
from zkinfer.llm.engine import Engine
from zkinfer.llm.receipt import (
    SCHEMA_VERSION,
    CommitmentSection,
    CompletionSection,
    LlmReceipt,
    ModelSection,
    PromptSection,
    SamplingSection,
    Timings,
    prompt_digest,
    sign,
)
from zkinfer.llm.text import Detokenizer
from zkinfer.llm_node.config import LlmConfig
from zkinfer.llm_node.metrics import LlmMetrics
from zkinfer.llm_node.store import ReceiptStore
from zkinfer.serving.auth import ApiKeys
from zkinfer.serving.openai import ChatRequest, CompletionRequest, RequestError

log = logging.getLogger("zkinfer.llm")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class UnknownModel(UsageError):
    """The request names a model this node does not serve (404)."""


class UnknownReceipt(UsageError):
    """No receipt with this id for this key (404)."""


class RequestIdTaken(UsageError):
    """This key already has an answer under this request id (409)."""


class QueueFull(InfrastructureError):
    """Too many requests are waiting for the model (429 with Retry-After)."""


class Cancelled(Exception):
    """The client went away: generation stopped, nothing is stored."""


@dataclass(frozen=True)
class Prepared:
    """A checked request: everything generation needs, nothing of HTTP."""

    chat: bool
    owner: str
    request_id: str
    prompt: list[int]
    params: sampling.Params
    max_tokens: int
    stop: list[str]
    stream: bool
    include_usage: bool
    accepted_at: float


@dataclass(frozen=True)
class Answer:
    text: str
    finish_reason: str
    receipt: LlmReceipt
    prompt_tokens: int
    completion_tokens: int


class LlmService:
    def __init__(
        self,
        config: LlmConfig,
        engine: Engine,
        key: identity.NodeKey,
        api_keys: ApiKeys,
        store: ReceiptStore,
        metrics: LlmMetrics,
    ) -> None:
        self.config = config
        self.engine = engine
        self.key = key
        self.api_keys = api_keys
        self.store = store
        self.metrics = metrics
        self.max_prompt_tokens = min(config.max_prompt_tokens or engine.context - 1, engine.context - 1)
        self._lock = asyncio.Lock()
        self._waiting = 0  # requests admitted and not finished (the one generating included)
        self.state_lock: object = None  # the state directory's lock file, held while the service lives (`server.load`)

    @property
    def model_name(self) -> str:
        return self.engine.name

    def owner(self, authorization: str | None) -> str | None:
        return self.api_keys.owner(authorization)

    # checking a request

    def prepare(self, request: ChatRequest | CompletionRequest, owner: str, request_id: str | None) -> Prepared:
        if request.model != self.model_name:
            raise UnknownModel(
                f"model {request.model!r} is not served here; this node serves {self.model_name!r} (GET /v1/models)"
            )
        chat = isinstance(request, ChatRequest)
        request_id = self._request_id(owner, request_id)
        prompt, field = self._prompt(request)
        if len(prompt) > self.max_prompt_tokens:
            raise RequestError(
                f"{field}: {len(prompt)} tokens, more than this node's limit of {self.max_prompt_tokens} prompt "
                "tokens; shorten it",
                field,
            )
        asked = request.requested_max_tokens() if isinstance(request, ChatRequest) else request.max_tokens
        cap = self.config.max_tokens_cap
        if asked is not None and asked > cap:
            raise RequestError(
                f"max_tokens: {asked} is above this node's cap of {cap} tokens; ask for at most {cap}", "max_tokens"
            )
        room = self.engine.context - len(prompt)
        if asked is None:
            max_tokens = min(cap, room) if chat else min(self.config.default_max_tokens, room)
        elif asked > room:
            raise RequestError(
                f"max_tokens: {asked} tokens after a {len(prompt)}-token prompt exceed the model's context of "
                f"{self.engine.context}; ask for at most {room}",
                "max_tokens",
            )
        else:
            max_tokens = asked
        seed = request.seed if request.seed is not None else secrets.randbelow(sampling.MAX_SEED + 1)
        try:
            params = sampling.Params(temperature=request.temperature, top_p=request.top_p, seed=seed)
        except ValueError as exc:
            raise RequestError(str(exc), str(exc).split(":")[0]) from exc
        return Prepared(
            chat=chat,
            owner=owner,
            request_id=request_id,
            prompt=prompt,
            params=params,
            max_tokens=max_tokens,
            stop=request.stop_list(),
            stream=request.stream,
            include_usage=request.include_usage(),
            accepted_at=time.perf_counter(),
        )

    def _request_id(self, owner: str, given: str | None) -> str:
        if given is None:
            return secrets.token_hex(12)
        if not REQUEST_ID.fullmatch(given):
            raise RequestError(
                "header Zkinfer-Request-Id: give 1 to 128 characters of A-Z a-z 0-9 . _ : -", "Zkinfer-Request-Id"
            )
        if self.store.exists(owner, given):
            raise RequestIdTaken(
                f"header Zkinfer-Request-Id: {given!r} was already answered for this key; its receipt is at "
                f"/v1/receipts/{given}"
            )
        return given

    def _prompt(self, request: ChatRequest | CompletionRequest) -> tuple[list[int], str]:
        if isinstance(request, ChatRequest):
            return self.engine.chat_ids([{"role": m.role, "content": m.text()} for m in request.messages]), "messages"
        if isinstance(request.prompt, list):
            vocab = self.engine.vocab_size
            bad = next((t for t in request.prompt if not 0 <= t < vocab), None)
            if bad is not None:
                raise RequestError(
                    f"prompt: token id {bad} is outside the model's vocabulary (0 to {vocab - 1})", "prompt"
                )
            ids = list(request.prompt)
        else:
            ids = self.engine.text_ids(request.prompt)
        return (ids or [self.engine.bos]), "prompt"

    # answering

    def check_room(self) -> None:
        """Refuse now (429) when the queue is full, before a stream's headers go out."""
        if self._waiting > self.config.max_queue:
            self.metrics.rejected.labels("queue_full").inc()
            raise QueueFull(
                f"{self._waiting} requests are waiting for the model (this node queues {self.config.max_queue}); retry "
                "shortly",
                retry_after_s=1,
            )

    async def answer(self, prepared: Prepared) -> Answer:
        answers = [item async for item in self.stream(prepared) if isinstance(item, Answer)]
        return answers[0]

    async def stream(self, prepared: Prepared) -> AsyncIterator[str | Answer]:
        """The completion's text in pieces as it is generated, then the `Answer` (text, receipt) last."""
        self.check_room()
        self._enter()
        try:
            await self._lock.acquire()
        except BaseException:
            self._leave()
            raise
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        cancelled = threading.Event()

        def on_piece(piece: str) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        future = asyncio.ensure_future(asyncio.to_thread(self._generate, prepared, on_piece, cancelled))

        def finished(done: asyncio.Future[Answer]) -> None:
            self._lock.release()
            self._leave()
            pieces.put_nowait(None)
            error = None if done.cancelled() else done.exception()  # retrieved here: a client gone away is no error
            if error is not None and not isinstance(error, Cancelled) and cancelled.is_set():
                log.error("generation of %s failed after its client went away", prepared.request_id, exc_info=error)

        future.add_done_callback(finished)
        try:
            while (piece := await pieces.get()) is not None:
                yield piece
            yield await future
        finally:
            cancelled.set()  # a client gone mid-stream: the generation stops at its next token

    def _enter(self) -> None:
        self._waiting += 1
        self.metrics.queue_depth.set(self._waiting)

    def _leave(self) -> None:
        self._waiting -= 1
        self.metrics.queue_depth.set(self._waiting)

    def _generate(self, p: Prepared, on_piece: Callable[[str], None], cancelled: threading.Event) -> Answer:
        """In a worker thread: generate, commit, sign, store."""
        detokenizer = Detokenizer(self.engine.decode, p.stop)
        tokens: list[int] = []
        hidden: list[np.ndarray] = []
        started = time.perf_counter()
        for step in self.engine.generate(p.prompt, p.params, p.request_id, p.max_tokens):
            if cancelled.is_set():
                raise Cancelled(p.request_id)
            if not tokens:
                self.metrics.first_token_seconds.observe(time.perf_counter() - p.accepted_at)
            tokens.append(step.token)
            hidden.append(step.hidden)
            piece = detokenizer.push(step.token)
            if piece:
                on_piece(piece)
            if detokenizer.stopped:
                break
        generate_ms = (time.perf_counter() - started) * 1000
        rest = detokenizer.finish()
        if rest:
            on_piece(rest)
        finish_reason = "stop" if detokenizer.stopped or tokens[-1] in self.engine.eos else "length"
        receipt = self._receipt(p, tokens, np.stack(hidden), finish_reason, generate_ms)
        self.metrics.prompt_tokens.inc(len(p.prompt))
        self.metrics.completion_tokens.inc(len(tokens))
        self.metrics.answer_seconds.observe(time.perf_counter() - p.accepted_at)
        return Answer(
            text=detokenizer.text,
            finish_reason=finish_reason,
            receipt=receipt,
            prompt_tokens=len(p.prompt),
            completion_tokens=len(tokens),
        )

    def _receipt(
        self, p: Prepared, tokens: list[int], hidden: np.ndarray, finish_reason: str, generate_ms: float
    ) -> LlmReceipt:
        started = time.perf_counter()
        values = commitments.commit_chunks(hidden)
        commit_ms = (time.perf_counter() - started) * 1000
        self.metrics.commit_seconds.inc(commit_ms / 1000)
        receipt = LlmReceipt(
            schema_version=SCHEMA_VERSION,
            issued_at=datetime.now(UTC).isoformat(timespec="seconds"),
            request_id=p.request_id,
            model=ModelSection(name=self.engine.name, digest=self.engine.digest, files=self.engine.files),
            prompt=PromptSection(kind="chat" if p.chat else "text", token_ids=p.prompt, digest=prompt_digest(p.prompt)),
            sampling=SamplingSection(
                sampler=sampling.SAMPLER,
                temperature=p.params.temperature,
                top_p=p.params.top_p,
                seed=p.params.seed,
                max_tokens=p.max_tokens,
                stop=p.stop,
            ),
            completion=CompletionSection(token_ids=tokens, finish_reason=finish_reason),  # type: ignore[arg-type]
            commitments=CommitmentSection(
                scheme="toploc-bf16",
                activations="last-hidden-state",
                chunk_tokens=commitments.CHUNK_TOKENS,
                topk=commitments.TOPK,
                values=values,
            ),
            timings=Timings(generate_ms=round(generate_ms, 3), commit_ms=round(commit_ms, 3)),
        )
        signed = sign(receipt, self.key)
        self.store.save(p.owner, signed)
        self.metrics.receipts.inc()
        return signed

    def receipt(self, owner: str, request_id: str) -> bytes:
        stored = self.store.read(owner, request_id) if REQUEST_ID.fullmatch(request_id) else None
        if stored is None:
            raise UnknownReceipt(f"receipt id {request_id!r}: no such answer for this key on this node")
        return stored
