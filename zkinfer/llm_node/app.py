"""The LLM node's routes: OpenAI's `/v1/models`, `/v1/completions`, `/v1/chat/completions` (streamed
by server-sent events when asked), `/v1/receipts/{id}`, `/v1/identity`, health and `/metrics`;
`POST /v1/attestations` re-executes another node's receipt for a gateway's audit (`attestation`).

A route authenticates (the node's API keys, `Authorization: Bearer KEY`, as the proving node),
reads the body within the limit, checks it (`protocol`, `service.prepare`) and answers; every error
becomes its status in the serving layer's one table (`zkinfer.serving.statuses`), in OpenAI's error
body. Each answer carries its signed receipt beside `choices` (streams: in the last event before
`[DONE]`) and its id in the `Zkinfer-Receipt-Id` header.
No `from __future__ import annotations`: FastAPI must resolve the route signatures' types.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from zkinfer.core.crypto import identity
from zkinfer.llm_node.service import (
    Answer,
    LlmService,
    Prepared,
    QueueFull,
    RequestIdTaken,
    UnknownModel,
    UnknownReceipt,
)
from zkinfer.serving import openai as protocol
from zkinfer.serving import statuses
from zkinfer.serving.app import CountRequests, new_app
from zkinfer.serving.auth import Unauthenticated
from zkinfer.serving.body import read_body
from zkinfer.serving.openai import ChatRequest, CompletionRequest, RequestError

log = logging.getLogger("zkinfer.llm")


STATUS = statuses.table((UnknownModel, 404), (UnknownReceipt, 404), (RequestIdTaken, 409), (QueueFull, 429))
KIND = {  # OpenAI's error type for each status
    401: "authentication_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
}


def _render(code: int, message: str, headers: dict[str, str] | None, exc: Exception | None) -> Response:
    """The serving layer's statuses in OpenAI's error body (the framework's own errors: invalid_request_error)."""
    kind = KIND.get(code, "invalid_request_error") if exc is not None else "invalid_request_error"
    body = protocol.error_body(message, kind, getattr(exc, "param", None))
    return JSONResponse(body, status_code=code, headers=headers)


def _validation_error(exc: ValidationError | RequestValidationError) -> RequestError:
    """The first problem, naming its field (OpenAI's `param`)."""
    first = exc.errors()[0]
    parts = [str(part) for part in first["loc"] if part != "body" and not str(part).startswith("function-")]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not parts:  # a whole-request check: its message starts with the field
        return RequestError(message, message.split(":")[0])
    return RequestError(f"{'.'.join(parts)}: {message}", parts[0])


async def _body(request: Request, limit: int) -> Any:
    data = await read_body(request, limit)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"body: not JSON ({exc})") from exc


def _sse(body: dict[str, Any] | str) -> bytes:
    return f"data: {body if isinstance(body, str) else json.dumps(body, separators=(',', ':'))}\n\n".encode()


def create_app(service: LlmService) -> FastAPI:
    app = new_app("zkinfer LLM node", openapi=False)
    metrics = service.metrics
    app.add_middleware(CountRequests, requests=metrics.requests)
    statuses.install(app, STATUS, log, "node", render=_render, invalid=_validation_error)

    async def authorized(request: Request) -> str:
        owner = service.owner(request.headers.get("authorization"))
        if owner is None:
            raise Unauthenticated()
        return owner

    Auth = Annotated[str, Depends(authorized)]

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v1/identity")
    async def node_identity() -> dict[str, str]:
        return {
            "scheme": identity.SCHEME,
            "public_key": service.key.public_hex,
            "proof_of_possession": identity.proof_of_possession(service.key).hex(),
        }

    @app.get("/v1/models")
    async def models(_: Auth) -> dict[str, Any]:
        entry = {
            "id": service.model_name,
            "object": "model",
            "created": 0,
            "owned_by": "zkinfer",
            "zkinfer_model_digest": service.engine.digest,
        }
        return {"object": "list", "data": [entry]}

    @app.get("/v1/models/{name}")
    async def model(name: str, _: Auth) -> dict[str, Any]:
        if name != service.model_name:
            raise UnknownModel(f"model {name!r} is not served here")
        return {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "zkinfer",
            "zkinfer_model_digest": service.engine.digest,
        }

    async def prepared(request: Request, owner: str, kind: type[ChatRequest] | type[CompletionRequest]) -> Prepared:
        document = await _body(request, service.config.max_body_bytes)
        try:
            parsed = kind.model_validate(document)
        except ValidationError as exc:
            raise _validation_error(exc) from exc
        return service.prepare(parsed, owner, request.headers.get(protocol.REQUEST_ID_HEADER))

    @app.post("/v1/completions")
    async def completions(request: Request, owner: Auth) -> Response:
        return await answer(await prepared(request, owner, CompletionRequest))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request, owner: Auth) -> Response:
        return await answer(await prepared(request, owner, ChatRequest))

    async def answer(p: Prepared) -> Response:
        headers = {protocol.RECEIPT_HEADER: p.request_id}
        if p.stream:
            service.check_room()
            return StreamingResponse(
                events(p), media_type="text/event-stream", headers={**headers, "Cache-Control": "no-cache"}
            )
        done = await service.answer(p)
        usage = protocol.usage(done.prompt_tokens, done.completion_tokens)
        body = protocol.completion_body(
            p.chat,
            p.request_id,
            service.model_name,
            done.text,
            done.finish_reason,
            usage,
            done.receipt.model_dump(mode="json"),
        )
        return JSONResponse(body, headers=headers)

    async def events(p: Prepared) -> AsyncIterator[bytes]:
        name = service.model_name
        first = True
        if p.chat:  # OpenAI's first chat chunk: the role, no text yet
            yield _sse(protocol.chunk_body(True, p.request_id, name, "", None, first=True))
            first = False
        async for item in service.stream(p):
            if isinstance(item, Answer):
                yield _sse(protocol.chunk_body(p.chat, p.request_id, name, None if p.chat else "", item.finish_reason))
                usage = protocol.usage(item.prompt_tokens, item.completion_tokens) if p.include_usage else None
                yield _sse(
                    protocol.final_chunk(p.chat, p.request_id, name, item.receipt.model_dump(mode="json"), usage)
                )
            else:
                yield _sse(protocol.chunk_body(p.chat, p.request_id, name, item, None, first=first))
                first = False
        yield _sse("[DONE]")

    @app.post("/v1/attestations")
    async def attest(request: Request, _: Auth) -> JSONResponse:
        """Re-execute another node's signed LLM receipt (the body) with this node's model; the signed attestation."""
        from zkinfer.llm import attestation
        from zkinfer.llm.receipt import parse

        receipt = parse(await _body(request, service.config.max_body_bytes), "body")
        service.check_room()
        async with service._lock:  # the model is one set of weights: after the generation running now
            signed = await asyncio.to_thread(attestation.reexecute, receipt, service.engine, service.key)
        return JSONResponse(signed.model_dump(mode="json"))

    @app.get("/v1/receipts/{request_id}")
    async def receipt(request_id: str, owner: Auth) -> Response:
        return Response(service.receipt(owner, request_id), media_type="application/json")

    def render_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    if service.config.metrics == "public":
        app.get("/metrics")(render_metrics)
    elif service.config.metrics == "key":

        @app.get("/metrics")
        async def metrics_with_key(_: Auth) -> Response:
            return render_metrics()

    return app
