"""The gateway's client to its nodes against hostile loopback servers: capped, never inflated, typed failures."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

import pytest

from zkinfer.network.node_http import NodeClient, NodeHTTPError, TooLarge

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _head(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    await reader.readexactly(length)
    return head


def _run(handler: Handler, call: Callable[[NodeClient, str], Awaitable[object]]) -> object:
    async def main() -> object:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = NodeClient(8, 4, timeout_s=5)
        try:
            return await call(client, f"http://127.0.0.1:{port}")
        finally:
            await client.aclose()
            server.close()

    return asyncio.run(main())


def _answer(status: int, body: bytes, extra: bytes = b"") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _head(reader))
        writer.write(b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n%s\r\n" % (status, len(body), extra) + body)
        await writer.drain()
        writer.close()

    seen: list[bytes] = []
    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def test_posts_the_body_and_reads_the_reply_with_its_headers() -> None:
    handler = _answer(200, b'{"ok": true}', b"zkinfer-batch-row: 3\r\n")
    reply = _run(handler, lambda c, url: c.request("POST", url + "/v2/x", content=b"{}", headers={"A": "b"}))
    assert reply.status == 200 and reply.body == b'{"ok": true}'  # type: ignore[attr-defined]
    assert reply.headers.get("zkinfer-batch-row") == "3"  # type: ignore[attr-defined]
    head = handler.seen[0].lower()  # type: ignore[attr-defined]
    assert head.startswith(b"post /v2/x http/1.1") and b"\r\na: b\r\n" in head
    assert b"accept-encoding: identity" in head  # never asks for a compressed reply


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    handler = _answer(200, b"x" * 2000)
    with pytest.raises(TooLarge) as refused:
        _run(handler, lambda c, url: c.request("GET", url, cap=1000))
    assert refused.value.status == 200


def test_a_chunked_reply_over_the_cap_is_refused_while_reading() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(64):  # 64 KiB, no length declared
            writer.write(b"400\r\n" + b"y" * 1024 + b"\r\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    with pytest.raises(TooLarge):
        _run(handler, lambda c, url: c.request("GET", url, cap=10_000))
    reply = _run(handler, lambda c, url: c.request("GET", url, cap=1 << 20))
    assert len(reply.body) == 64 * 1024  # type: ignore[attr-defined]


def test_a_compressed_reply_is_never_inflated() -> None:
    bomb = gzip.compress(b"0" * (4 << 20))  # 4 MiB of zeros in ~4 KB
    handler = _answer(200, bomb, b"content-encoding: gzip\r\n")
    reply = _run(handler, lambda c, url: c.request("GET", url, cap=64 << 10))
    assert reply.body == bomb  # type: ignore[attr-defined]


def test_failures_are_one_typed_error() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()
        writer.transport.abort()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    for handler in (reset, garbage):
        with pytest.raises(NodeHTTPError):
            _run(handler, lambda c, url: c.request("GET", url))

    async def refused(client: NodeClient, _: str) -> object:
        return await client.request("GET", "http://127.0.0.1:9/")  # discard port: nothing listens

    with pytest.raises(NodeHTTPError):
        _run(reset, refused)
