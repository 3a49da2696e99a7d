"""The serving layer's one error table over a real loopback server: each branch of core/errors.py and
each refusal gets its status and headers (usage 4xx, infrastructure 503 + Retry-After, a bug 500)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from tests.serving_harness import serving
from zkinfer.core.support import errors
from zkinfer.serving import statuses
from zkinfer.serving.auth import Unauthenticated
from zkinfer.serving.body import BodyTooLarge, UnsupportedEncoding


class Busy(Exception):
    """A server's own entry: a full queue, 429 with its Retry-After."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


RAISED: dict[str, Exception] = {
    "unauthenticated": Unauthenticated(),
    "not-found": statuses.NotFound("no such thing"),
    "too-large": BodyTooLarge("body: too large"),
    "encoded": UnsupportedEncoding("header Content-Encoding: 'br'"),
    "busy": Busy(4),
    "prover-lost": errors.ProverLostError("the prove worker died"),
    "chain": errors.ChainUnreachable("no Ethereum node answers", retry_after_s=17),
    "input": errors.InputError("inputs: 2 values for an input of 8"),
    "verification": errors.VerificationFailed("the proof does not hold"),
    "bug": RuntimeError("a bug"),
}


def _app(render: statuses.Render | None = None) -> FastAPI:
    app = FastAPI()
    table = statuses.table((Busy, 429))
    log = logging.getLogger("test.serving")
    if render is None:
        statuses.install(app, table, log, "test server")
    else:
        statuses.install(app, table, log, "test server", render=render)

    @app.get("/raise/{what}")
    async def fail(what: str) -> None:
        raise RAISED[what]

    @app.get("/count")
    async def count(n: int) -> dict[str, int]:
        return {"n": n}

    return app


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving(_app()) as base:
        yield base


def _get(url: str, what: str) -> httpx.Response:
    return httpx.get(f"{url}/raise/{what}")


def test_each_error_gets_its_status_and_json_error_body(url: str) -> None:
    expected = {
        "unauthenticated": 401,
        "not-found": 404,
        "too-large": 413,
        "encoded": 415,
        "busy": 429,
        "prover-lost": 503,
        "chain": 503,
        "input": 422,
        "verification": 422,
    }
    got = {what: _get(url, what) for what in expected}
    assert {what: r.status_code for what, r in got.items()} == expected
    for what, response in got.items():
        assert response.json() == {"error": str(RAISED[what])}


def test_the_headers_say_how_to_authenticate_and_when_to_retry(url: str) -> None:
    assert _get(url, "unauthenticated").headers["www-authenticate"] == "Bearer"
    assert _get(url, "busy").headers["retry-after"] == "4"
    lost = _get(url, "prover-lost")
    assert lost.headers["retry-after"] == str(errors.InfrastructureError.DEFAULT_RETRY_AFTER_S)
    assert _get(url, "chain").headers["retry-after"] == "17"
    for usage in ("input", "verification", "not-found"):
        assert "retry-after" not in _get(url, usage).headers


def test_a_bug_is_a_500_that_names_only_its_type(url: str) -> None:
    response = _get(url, "bug")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error (RuntimeError); see the test server's log"}


def test_the_frameworks_own_errors_use_the_same_body(url: str) -> None:
    unknown = httpx.get(f"{url}/nowhere")
    assert unknown.status_code == 404 and unknown.json() == {"error": "Not Found"}
    wrong_method = httpx.post(f"{url}/count")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    invalid = httpx.get(f"{url}/count", params={"n": "many"})
    assert invalid.status_code == 422 and invalid.json()["error"].startswith("query.n: ")


def test_a_server_renders_the_same_statuses_in_its_own_body() -> None:
    def render(code: int, message: str, headers: dict[str, str] | None, exc: Exception | None) -> Response:
        body: dict[str, Any] = {"error": {"message": message, "kind": type(exc).__name__ if exc else "framework"}}
        return JSONResponse(body, status_code=code, headers=headers)

    with serving(_app(render)) as base:
        chain = _get(base, "chain")
        unknown = httpx.get(f"{base}/nowhere")
    assert chain.status_code == 503 and chain.headers["retry-after"] == "17"
    assert chain.json() == {"error": {"message": "no Ethereum node answers", "kind": "ChainUnreachable"}}
    assert unknown.status_code == 404 and unknown.json()["error"]["kind"] == "framework"


def test_the_more_specific_entry_wins() -> None:
    table = statuses.table((Busy, 429))
    assert statuses.status_of(errors.ProofMemoryError("over the ceiling"), table) == 503  # before ZkinferError
    assert statuses.status_of(errors.ChainError("no contract there"), table) == 422  # usage, not infrastructure
    assert statuses.status_of(Unauthenticated(), table) == 401
