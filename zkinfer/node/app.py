"""The HTTP surface: Open Inference Protocol (KServe v2) paths, receipts, and `/metrics`.

Every error is a JSON body `{"error": "..."}` (what KServe clients such as tritonclient read) with a
4xx status naming the field at fault; a 500 only ever means a failure of the node itself, never bad input.
No `from __future__ import annotations` here: FastAPI must resolve the route signatures' local types.
"""

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zkinfer import __version__
from zkinfer.errors import ZkinferError
from zkinfer.node import protocol
from zkinfer.node.metrics import Metrics
from zkinfer.node.models import ServedModel
from zkinfer.node.service import Accepted, Node, QueueFull, UnknownModel
from zkinfer.node.store import JobState, JobView

log = logging.getLogger("zkinfer.node")

MODEL_VERSION = "1"
PLATFORM = "onnxruntime+ezkl"
EXTENSIONS = ["binary_tensor_data", "zkinfer_receipts"]
BATCH_ROW_HEADER = "Zkinfer-Batch-Row"


def error(code: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=code, headers=headers)


class CountRequests:
    """Pure ASGI middleware counting responses by route template and status (no body buffering)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, str(status)).inc()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    too_big = f"body: larger than this node's limit of {limit} bytes; send a smaller request"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, too_big)
    if request.headers.get("content-encoding", "identity").lower() != "identity":
        raise HTTPException(415, f"header Content-Encoding: {request.headers['content-encoding']!r} is not supported; send the body uncompressed")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def _peer(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "?"


def create_app(node: Node) -> FastAPI:
    """The FastAPI app over a loaded `Node`; the node's workers run for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    app = FastAPI(title="zkinfer node", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(CountRequests, metrics=node.metrics)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{protocol.field_name(e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return error(422, problems)

    @app.exception_handler(ZkinferError)
    async def bad_input(_: Request, exc: ZkinferError) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(UnknownModel)
    async def unknown_model(_: Request, exc: UnknownModel) -> JSONResponse:
        return error(404, str(exc))

    @app.exception_handler(QueueFull)
    async def queue_full(_: Request, exc: QueueFull) -> JSONResponse:
        return error(429, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(ClientDisconnect)
    async def went_away(request: Request, _: ClientDisconnect) -> Response:
        log.info("client %s went away before its request was read (%s %s)", _peer(request), request.method, request.url.path)
        return Response(status_code=499)  # never sent: there is no one to send it to

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return error(500, f"internal error ({type(exc).__name__}); see the node's log")

    async def authorized(request: Request) -> str:  # async: a sync dependency would cost a thread hop per request
        """The caller's owner id; every route but health and server metadata needs it, before anything else."""
        owner = node.api_keys.owner(request.headers.get("authorization"))
        if owner is None:
            raise HTTPException(401, "header Authorization: missing or unknown API key; send `Authorization: Bearer KEY`", headers={"WWW-Authenticate": "Bearer"})
        return owner

    async def served(name: str, version: str = MODEL_VERSION) -> ServedModel:
        if version != MODEL_VERSION:
            raise UnknownModel(f"model {name!r} has no version {version!r}; it has version {MODEL_VERSION!r}")
        return node.model(name)

    Auth = Annotated[str, Depends(authorized)]
    Model = Annotated[ServedModel, Depends(served)]

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        return JSONResponse({"ready": node.ready}, status_code=200 if node.ready else 503)

    @app.get("/v2")
    async def server_metadata() -> protocol.ServerMetadata:
        return protocol.ServerMetadata(name="zkinfer", version=__version__, extensions=EXTENSIONS)

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def model_metadata(_: Auth, model: Model) -> protocol.ModelMetadata:
        return protocol.ModelMetadata(
            name=model.name, versions=[MODEL_VERSION], platform=PLATFORM,
            inputs=protocol.tensor_metadata(model.input_specs), outputs=protocol.tensor_metadata(model.output_specs),
        )

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(_: Auth, model: Model) -> JSONResponse:
        return JSONResponse({"name": model.name, "ready": node.ready}, status_code=200 if node.ready else 503)

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer(
        request: Request,
        owner: Auth,  # before the model: without a key, nothing is revealed about which models exist
        model: Model,
        wait: Annotated[bool, Query(description="Answer only once the proof is done (or wait_timeout passed)")] = False,
    ) -> Response:
        start = time.perf_counter()
        body = await read_body(request, node.config.max_body_bytes)
        accepted = await node.infer(model, body, request.headers.get(protocol.HEADER_LENGTH), owner)
        node.metrics.answer_seconds.labels(model.name).observe(time.perf_counter() - start)
        job = await node.wait(accepted.job_id, node.config.wait_timeout_s) if wait else None
        content, headers = _infer_response(accepted, job)
        return Response(content, headers=headers)

    @app.get("/v1/receipts/{receipt_id}")
    async def receipt(receipt_id: str, owner: Auth) -> Response:
        job = await node.job_for(receipt_id, owner)
        if job is None:  # unknown, or another key's: the same answer, so ids reveal nothing
            return error(404, f"receipt id {receipt_id!r}: no such job on this node")
        if job.state is JobState.PROVEN:
            assert job.receipt is not None
            return Response(job.receipt, media_type="application/json", headers={BATCH_ROW_HEADER: str(job.batch_row)})
        if job.state is JobState.FAILED:  # 422: the job's input could not be proven; 500: the node failed
            return error(500 if job.internal_error else 422, f"proving failed: {job.error}", id=job.id, status=job.state.value)
        return JSONResponse({"id": job.id, "model": job.model, "status": job.state.value}, status_code=202, headers={"Retry-After": "1"})

    def render_metrics() -> Response:
        body, content_type = node.metrics.render()
        return Response(body, media_type=content_type)

    if node.config.metrics == "public":
        app.get("/metrics")(render_metrics)
    elif node.config.metrics == "key":

        @app.get("/metrics")
        async def metrics(_: Auth) -> Response:
            return render_metrics()

    return app


def _infer_response(accepted: Accepted, job: JobView | None) -> tuple[bytes, dict[str, str]]:
    """The KServe response: the fast answer now, the receipt id (and the receipt, if waited for) in `parameters`."""
    request, model = accepted.parsed.request, accepted.model
    parameters: protocol.Parameters = {
        "receipt_id": accepted.job_id,
        "receipt_url": f"/v1/receipts/{accepted.job_id}",
        "receipt_status": (job.state if job else JobState.ACCEPTED).value,
        "fast_provider": accepted.fast.provider,
    }
    if job is not None and job.receipt is not None:
        parameters["receipt"] = job.receipt
        parameters["receipt_batch_row"] = job.batch_row or 0
    if job is not None and job.error is not None:
        parameters["receipt_error"] = job.error
    chosen = accepted.parsed.outputs
    response = protocol.InferResponse(
        model_name=model.name,
        model_version=MODEL_VERSION,
        id=request.id,
        parameters=parameters,
        outputs=[protocol.ResponseOutput(name=model.output_specs[i].name, shape=list(model.output_specs[i].shape), datatype="FP32") for i, _ in chosen],
    )
    return protocol.encode_infer(response, [accepted.fast.outputs[i] for i, _ in chosen], [binary for _, binary in chosen])
