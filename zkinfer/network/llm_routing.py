"""The gateway's OpenAI front: `/v1/models`, `/v1/completions`, `/v1/chat/completions` (streams too),
each request answered by ONE pinned LLM node (`kind = "llm"` in nodes.toml), then maybe audited.

Which node: among the reachable nodes serving the asked model, those in good standing (reputation
at least `[llm] audit_below`; all of them when none is), the least busy and least recently chosen
first; a node that fails before answering (unreachable, 5xx) gives way to the next. The gateway
always sends its own request id (`<tenant>:zk-<random>`, header `Zkinfer-Request-Id`) and a `seed`
(the client's, or a random one): the node's sampling draws are keyed with both, so a node cannot
grind ids or seeds for an answer it likes. The answer is the node's own (OpenAI's format, the signed
receipt in `zkinfer_receipt`, streamed through as it comes) with `Zkinfer-Node` naming who answered;
after it has gone, `llm_audit.Auditor` checks the receipt and re-executes a sample of answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from itertools import count
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from zkinfer.core.support.errors import UsageError
from zkinfer.llm import sampling
from zkinfer.network.llm_audit import Auditor, LlmNodeState, Served, gather_quietly
from zkinfer.network.nodeset import NodeSet
from zkinfer.network.records import Records
from zkinfer.serving import openai as protocol
from zkinfer.serving.body import BodyTooLarge, UnsupportedEncoding, read_body
from zkinfer.serving.tenancy import new_request_id

log = logging.getLogger("zkinfer.gateway")
REPROBE_S = 5.0
NODE_HEADER = "Zkinfer-Node"


def node_headers(nodeset: NodeSet) -> dict[str, dict[str, str]]:
    """The API key each LLM node is sent (its `api_key_env` variable), as request headers."""
    headers = {}
    for node in nodeset.llm_nodes:
        if node.api_key_env is not None:
            if node.api_key_env not in os.environ:
                raise UsageError(
                    f"{nodeset.source}: node {node.name!r}: environment variable {node.api_key_env} (its api_key_env)"
                    " is not set; export it with the node's API key"
                )
            headers[node.name] = {"Authorization": f"Bearer {os.environ[node.api_key_env]}"}
    return headers


class LlmRouter:
    """The pinned LLM nodes, what each serves, and the routes that send requests to them."""

    def __init__(
        self,
        nodeset: NodeSet,
        records: Records,
        evidence_dir: Path,
        reputations: Callable[[], Mapping[bytes, float]],
    ) -> None:
        self.nodeset, self.policy = nodeset, nodeset.llm
        self.states = {n.name: LlmNodeState(n) for n in nodeset.llm_nodes}
        self._headers = node_headers(nodeset)
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._turn = count(1)
        self.auditor = Auditor(self.policy, self.states, records, evidence_dir, reputations, self.post)

    # --- the nodes -----------------------------------------------------------------------------

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(self.policy.timeout_ms / 1000, connect=5.0)
            self._client = httpx.AsyncClient(timeout=timeout, trust_env=False, limits=httpx.Limits(max_connections=512))
        return self._client

    async def post(self, state: LlmNodeState, path: str, body: dict[str, Any], timeout_s: float) -> httpx.Response:
        headers = self._headers.get(state.node.name, {})
        return await self.client().post(state.node.url + path, json=body, headers=headers, timeout=timeout_s)

    async def start(self) -> None:
        await asyncio.gather(*(self.probe(s) for s in self.states.values()))

    async def stop(self) -> None:
        await gather_quietly(self._tasks)
        if self._client is not None:
            await self._client.aclose()

    async def probe(self, state: LlmNodeState) -> None:
        """Learn what a node serves (`/v1/models`) and that it holds its pinned key (`/v1/identity`)."""
        state.probed_at = time.monotonic()
        headers = self._headers.get(state.node.name, {})
        try:
            identity = (await self.client().get(state.node.url + "/v1/identity", timeout=10)).json()
            listed = await self.client().get(state.node.url + "/v1/models", headers=headers, timeout=10)
            if identity.get("public_key", "").removeprefix("0x").lower() != state.node.public_hex:
                state.status = "wrong key: its /v1/identity is not the pinned public key"
            elif listed.status_code != 200:
                state.status = f"/v1/models: HTTP {listed.status_code}"
            else:
                entry = listed.json()["data"][0]
                state.model, state.digest, state.status = str(entry["id"]), str(entry["zkinfer_model_digest"]), "ok"
        except (httpx.HTTPError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            state.status = f"unreachable: {type(exc).__name__}"
        level = logging.INFO if state.status == "ok" else logging.WARNING
        log.log(level, "LLM node %s: %s (%s, %s)", state.node.name, state.status, state.model, state.digest)

    def status_of(self, name: str) -> str:
        state = self.states.get(name)
        return "" if state is None else state.status

    async def candidates(self, model: str) -> list[LlmNodeState]:
        """Reachable nodes serving `model`, in the order to try them (nodes not ok are probed again first)."""
        stale = [s for s in self.states.values() if s.status != "ok" and time.monotonic() - s.probed_at > REPROBE_S]
        if stale:
            await asyncio.gather(*(self.probe(s) for s in stale))
        found = [s for s in self.states.values() if s.status == "ok" and s.model == model]
        good = [s for s in found if self.auditor.score(s.node) >= self.policy.audit_below] or found
        return sorted(good, key=lambda s: (s.inflight, s.last_chosen))

    def models(self) -> list[dict[str, Any]]:
        served: dict[tuple[str, str], int] = {}
        for s in self.states.values():
            if s.status == "ok" and s.model is not None and s.digest is not None:
                served[(s.model, s.digest)] = served.get((s.model, s.digest), 0) + 1
        return [
            {
                "id": m,
                "object": "model",
                "created": 0,
                "owned_by": "zkinfer",
                "zkinfer_model_digest": d,
                "zkinfer_nodes": n,
            }
            for (m, d), n in sorted(served.items())
        ]

    def later(self, served: Served) -> None:
        task = asyncio.create_task(self.auditor.settle(served))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- one request ---------------------------------------------------------------------------

    async def answer(self, body: dict[str, Any], path: str, tenant: str) -> Response:
        model = body.get("model")
        if not isinstance(model, str):
            return _error(400, "model: give the name of a model (GET /v1/models)", "model")
        seed = body.get("seed")
        if seed is None:
            body["seed"] = seed = secrets.randbelow(sampling.MAX_SEED + 1)
        request_id = f"{tenant}:{new_request_id()}"
        nodes = await self.candidates(model)
        if not nodes:
            if any(s.model == model for s in self.states.values()):
                return _error(503, f"model {model!r}: no node serving it is reachable; retry shortly", retry=True)
            return _error(404, f"model {model!r} is not served at this gateway (GET /v1/models)", "model")
        problems = []
        for state in nodes:
            state.last_chosen, state.inflight = next(self._turn), state.inflight + 1
            try:
                if body.get("stream") is True:
                    response = await self._stream(state, path, body, request_id, model, seed)
                else:
                    response = await self._whole(state, path, body, request_id, model, seed)
            except (httpx.HTTPError, OSError) as exc:
                problems.append(f"{state.node.name}: {type(exc).__name__}")
                self.later(Served(state, request_id, model, seed, None, None, f"no answer ({exc!r})", True))
                continue
            if response is not None:
                return response
            problems.append(f"{state.node.name}: failed")
        return _error(503, f"no LLM node answered ({'; '.join(problems)}); retry shortly", retry=True)

    def _headers_for(self, state: LlmNodeState, request_id: str) -> dict[str, str]:
        return {**self._headers.get(state.node.name, {}), protocol.REQUEST_ID_HEADER: request_id}

    def _answer_headers(self, state: LlmNodeState, request_id: str) -> dict[str, str]:
        return {NODE_HEADER: state.node.name, protocol.RECEIPT_HEADER: request_id}

    async def _whole(
        self, state: LlmNodeState, path: str, body: dict[str, Any], request_id: str, model: str, seed: int
    ) -> Response | None:
        started = time.perf_counter()
        try:
            reply = await self.client().post(
                state.node.url + path, json=body, headers=self._headers_for(state, request_id)
            )
        finally:
            state.inflight -= 1
        latency = (time.perf_counter() - started) * 1000
        if reply.status_code >= 500:
            self.later(Served(state, request_id, model, seed, None, latency, f"HTTP {reply.status_code}", True))
            return None
        if reply.status_code != 200:  # the request's own fault: the node's OpenAI error, as it is
            return Response(reply.content, status_code=reply.status_code, media_type="application/json")
        try:
            document = reply.json()
        except ValueError:
            self.later(Served(state, request_id, model, seed, None, latency, "the answer is not JSON"))
            return None
        receipt = document.get(protocol.RECEIPT_FIELD) if isinstance(document, dict) else None
        self.later(Served(state, request_id, model, seed, receipt, latency, None if receipt else "no receipt"))
        return JSONResponse(document, headers=self._answer_headers(state, request_id))

    async def _stream(
        self, state: LlmNodeState, path: str, body: dict[str, Any], request_id: str, model: str, seed: int
    ) -> Response | None:
        started = time.perf_counter()
        request = self.client().build_request(
            "POST", state.node.url + path, json=body, headers=self._headers_for(state, request_id)
        )
        try:
            reply = await self.client().send(request, stream=True)
        except BaseException:
            state.inflight -= 1
            raise
        if reply.status_code != 200:
            content = await reply.aread()
            await reply.aclose()
            state.inflight -= 1
            if reply.status_code >= 500:
                self.later(Served(state, request_id, model, seed, None, None, f"HTTP {reply.status_code}", True))
                return None
            return Response(content, status_code=reply.status_code, media_type="application/json")

        async def relay() -> AsyncIterator[bytes]:
            events, ended, gone = _Events(), False, False
            try:
                async for chunk in reply.aiter_raw():
                    events.feed(chunk)
                    yield chunk
                ended = True
            except (GeneratorExit, asyncio.CancelledError):
                gone = True  # the client went away: the node's answer is not judged
                raise
            finally:
                state.inflight -= 1
                if not gone:
                    latency = (time.perf_counter() - started) * 1000
                    problem = None if ended and events.receipt else "the stream ended without its receipt"
                    self.later(Served(state, request_id, model, seed, events.receipt, latency, problem))
                await reply.aclose()

        headers = {**self._answer_headers(state, request_id), "Cache-Control": "no-cache"}
        return StreamingResponse(relay(), media_type="text/event-stream", headers=headers)


class _Events:
    """Server-sent events as they pass through: keeps the receipt of the last event that carries one."""

    def __init__(self) -> None:
        self.buffer, self.receipt = b"", None

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\n\n")
        for event in complete:
            if protocol.RECEIPT_FIELD.encode() in event and event.startswith(b"data: "):
                try:
                    self.receipt = json.loads(event[6:]).get(protocol.RECEIPT_FIELD)
                except (ValueError, AttributeError):
                    self.receipt = None


def _error(status: int, message: str, param: str | None = None, retry: bool = False) -> JSONResponse:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        413: "invalid_request_error",
        415: "invalid_request_error",
    }
    headers = {"Retry-After": "1"} if retry else None
    return JSONResponse(
        protocol.error_body(message, kind.get(status, "service_unavailable"), param),
        status_code=status,
        headers=headers,
    )


def mount(app: FastAPI, router: LlmRouter, tenant: Callable[[Request], str | None], max_body_bytes: int) -> None:
    """The OpenAI routes on the gateway's app; `tenant` names the caller (None: no valid API key)."""

    def caller(request: Request) -> str | JSONResponse:
        found = tenant(request)
        if found is None:
            return _error(401, "header Authorization: missing or unknown API key; send `Authorization: Bearer KEY`")
        return found

    @app.get("/v1/llm")
    async def audits() -> dict[str, Any]:
        """Public: the audit policy and how many audits ran and are running (no request ids)."""
        policy = router.policy
        return {
            "nodes": len(router.states),
            "audit_share": policy.audit_share,
            "audit_below": policy.audit_below,
            "audits": router.auditor.audits,
            "pending": len(router._tasks),
        }

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        who = caller(request)
        return who if isinstance(who, Response) else JSONResponse({"object": "list", "data": router.models()})

    async def forwarded(request: Request, path: str) -> Response:
        who = caller(request)
        if isinstance(who, Response):
            return who
        try:  # refused as soon as it is too big, never read whole first
            data = await read_body(request, max_body_bytes, "gateway")
        except BodyTooLarge as exc:
            return _error(413, str(exc))
        except UnsupportedEncoding as exc:
            return _error(415, str(exc))
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(400, f"body: not JSON ({exc})")
        if not isinstance(body, dict):
            return _error(400, "body: a JSON object (an OpenAI request)")
        return await router.answer(body, path, who)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await forwarded(request, "/v1/completions")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await forwarded(request, "/v1/chat/completions")
