"""Every HTTP status a server answers an error with, in one table: which error gets which status.

Services raise typed errors and know no statuses; the HTTP layers raise the few refusals defined in
`auth` and `body` (and `NotFound`) and never pick a status themselves. By who must act
(core/errors.py): a usage error (or a failed verification) is the caller's, 4xx (422 unless a more
specific entry says); an `InfrastructureError` is a retry's or an operator's, 503 with Retry-After;
a 500 only ever means a failure of the server itself, never bad input. The node and the gateway
answer `{"error": "..."}` (what KServe clients such as tritonclient read); the LLM node renders the
same statuses in OpenAI's error body (`install`'s `render`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from zkinfer.core.support.errors import InfrastructureError, InputError, ZkinferError
from zkinfer.serving.auth import Unauthenticated
from zkinfer.serving.body import BodyTooLarge, UnsupportedEncoding
from zkinfer.serving.oip import field_name

Table = Sequence[tuple[type[Exception], int]]
# (error, status, headers or None, the error itself: None for the framework's own, e.g. an unknown path)
Render = Callable[[int, str, dict[str, str] | None, Exception | None], Response]
CLIENT_GONE = 499  # never sent: there is no one to send it to
INTERNAL = 500  # a failure of the server itself, never of the request


class NotFound(Exception):
    """No such thing for this caller (404): unknown and someone else's alike, so ids reveal nothing."""


REFUSALS: Table = [(Unauthenticated, 401), (NotFound, 404), (BodyTooLarge, 413), (UnsupportedEncoding, 415)]
# Last, most general: InfrastructureError (not the request's fault) before ZkinferError (the request's).
BY_WHO_ACTS: Table = [(InfrastructureError, 503), (ZkinferError, 422)]


def table(*specific: tuple[type[Exception], int]) -> list[tuple[type[Exception], int]]:
    """A server's table: the shared refusals, its own errors, then the branches of core/errors.py."""
    return [*REFUSALS, *specific, *BY_WHO_ACTS]


def status_of(exc: Exception, statuses: Table) -> int:
    return next(code for kind, code in statuses if isinstance(exc, kind))


def headers_of(exc: Exception) -> dict[str, str] | None:
    """What a client needs beside the status: which scheme to authenticate with, when to retry."""
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, InfrastructureError):
        return {"Retry-After": str(exc.retry_after_s)}
    retry_after = getattr(exc, "retry_after", None)  # a full queue: try again once it has drained a little
    if isinstance(retry_after, int):
        return {"Retry-After": str(retry_after)}
    return None


def error(code: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """The error body of the node and the gateway: `{"error": message, ...}`."""
    return JSONResponse({"error": message, **extra}, status_code=code, headers=headers)


def _render_json(code: int, message: str, headers: dict[str, str] | None, _: Exception | None) -> Response:
    return error(code, message, headers)


def _invalid(exc: RequestValidationError) -> Exception:
    return InputError("; ".join(f"{field_name(e['loc'])}: {e['msg']}" for e in exc.errors()[:5]))


def _peer(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "?"


def install(
    app: FastAPI,
    statuses: Table,
    log: logging.Logger,
    who: str,
    render: Render = _render_json,
    invalid: Callable[[RequestValidationError], Exception] = _invalid,
) -> None:
    """Register the handlers that turn every error a route raises into its status (`who` names the
    server in a 500's message); `invalid` turns FastAPI's own validation errors into a table entry."""

    async def mapped(_: Request, exc: Exception) -> Response:
        return render(status_of(exc, statuses), str(exc), headers_of(exc), exc)

    for kind, _ in statuses:
        app.add_exception_handler(kind, mapped)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own: an unknown path, a wrong method
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return render(exc.status_code, str(exc.detail), getattr(exc, "headers", None), None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return await mapped(request, invalid(exc))

    @app.exception_handler(ClientDisconnect)
    async def went_away(request: Request, _: ClientDisconnect) -> Response:
        log.info(
            "client %s went away before its request was read (%s %s)", _peer(request), request.method, request.url.path
        )
        return Response(status_code=CLIENT_GONE)

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return render(INTERNAL, f"internal error ({type(exc).__name__}); see the {who}'s log", None, exc)
