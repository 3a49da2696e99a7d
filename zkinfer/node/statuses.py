"""Every HTTP status the node answers with, in one place: which error (or job state) gets which.

The service raises typed errors and knows no statuses; the HTTP layer raises its own few refusals
(defined here) and never picks a status itself. Every error is a JSON body `{"error": "..."}`
(what KServe clients such as tritonclient read); a 503 with Retry-After is an infrastructure
failure a retry or the operator fixes (`InfrastructureError`: a lost prover, an executor or chain
that does not answer); a 500 only ever means a failure of the node itself, never bad input.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from zkinfer.core.errors import InfrastructureError, ZkinferError
from zkinfer.node import protocol
from zkinfer.node.service import QueueFull, UnknownModel, UnknownReceipt
from zkinfer.node.store import JobState, JobView

log = logging.getLogger("zkinfer.node")


class Unauthenticated(Exception):
    """No API key of this node in the request."""


class BodyTooLarge(Exception):
    """The body exceeds the node's limit (known from Content-Length, or while reading it)."""


class UnsupportedEncoding(Exception):
    """A compressed body: the node reads only identity encoding."""


# Most specific first: InfrastructureError (not the request's fault) before ZkinferError (the
# request's fault, e.g. InputError), the catch-all 422.
STATUS: list[tuple[type[Exception], int]] = [
    (Unauthenticated, 401),
    (UnknownModel, 404),
    (UnknownReceipt, 404),
    (BodyTooLarge, 413),
    (UnsupportedEncoding, 415),
    (QueueFull, 429),
    (InfrastructureError, 503),
    (ZkinferError, 422),
]
CLIENT_GONE = 499  # never sent: there is no one to send it to
INTERNAL = 500  # a failure of the node itself, never of the request


def error(code: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=code, headers=headers)


def ready(is_ready: bool) -> int:
    return 200 if is_ready else 503


def job(view: JobView) -> int:
    """A receipt lookup: 200 proven, 202 still queued, 422 its input could not be proven, 500 the node failed."""
    if view.state is JobState.PROVEN:
        return 200
    if view.state is JobState.FAILED:
        return 500 if view.internal_error else 422
    return 202


def _headers(exc: Exception) -> dict[str, str] | None:
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, QueueFull):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, InfrastructureError):
        return {"Retry-After": str(exc.retry_after_s)}
    return None


def _peer(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "?"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error raised by a route into its status."""

    async def mapped(_: Request, exc: Exception) -> JSONResponse:
        code = next(code for kind, code in STATUS if isinstance(exc, kind))
        return error(code, str(exc), _headers(exc))

    for kind, _ in STATUS:
        app.add_exception_handler(kind, mapped)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own: an unknown path, a wrong method
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{protocol.field_name(e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return error(422, problems)

    @app.exception_handler(ClientDisconnect)
    async def went_away(request: Request, _: ClientDisconnect) -> Response:
        log.info(
            "client %s went away before its request was read (%s %s)", _peer(request), request.method, request.url.path
        )
        return Response(status_code=CLIENT_GONE)

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return error(INTERNAL, f"internal error ({type(exc).__name__}); see the node's log")
