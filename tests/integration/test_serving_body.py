"""`serving.body.read_body` over a real loopback server: a body within the limit is read whole, one
over it is a 413 whether it says its length or streams, and a compressed one is a 415."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request

from tests.serving_harness import serving
from zkinfer.serving import statuses
from zkinfer.serving.body import read_body

LIMIT = 64


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    app = FastAPI()
    statuses.install(app, statuses.table(), logging.getLogger("test.serving"), "test")

    @app.post("/node")
    async def node(request: Request) -> dict[str, int]:
        return {"read": len(await read_body(request, LIMIT))}

    @app.post("/gateway")
    async def gateway(request: Request) -> dict[str, int]:
        return {"read": len(await read_body(request, LIMIT, "gateway"))}

    with serving(app) as base:
        yield base


def test_a_body_within_the_limit_is_read_whole(url: str) -> None:
    for size in (0, 1, LIMIT):
        response = httpx.post(f"{url}/node", content=b"x" * size)
        assert response.status_code == 200 and response.json() == {"read": size}


def test_a_declared_length_over_the_limit_is_a_413_naming_the_limit(url: str) -> None:
    response = httpx.post(f"{url}/node", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"] == f"body: larger than this node's limit of {LIMIT} bytes; send a smaller request"
    gateway = httpx.post(f"{url}/gateway", content=b"x" * (LIMIT + 1))
    assert gateway.status_code == 413 and f"this gateway's limit of {LIMIT} bytes" in gateway.json()["error"]


def test_a_streamed_body_is_refused_once_it_passes_the_limit(url: str) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for _ in range(10):
            yield b"y" * 16

    response = httpx.post(f"{url}/node", content=chunks())
    assert response.status_code == 413 and "limit of 64 bytes" in response.json()["error"]
    small = httpx.post(f"{url}/node", content=iter([b"y" * 16, b"y" * 16]))
    assert small.status_code == 200 and small.json() == {"read": 32}


def test_a_compressed_body_is_a_415(url: str) -> None:
    response = httpx.post(f"{url}/node", content=gzip.compress(b"{}"), headers={"Content-Encoding": "gzip"})
    assert response.status_code == 415
    assert response.json()["error"].startswith("header Content-Encoding: 'gzip' is not supported")
    plain = httpx.post(f"{url}/node", content=b"{}", headers={"Content-Encoding": "identity"})
    assert plain.status_code == 200
