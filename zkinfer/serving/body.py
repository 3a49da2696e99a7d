"""Reading a request body within a server's limit, refused as early as the limit is known to be passed."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body exceeds the server's limit (known from Content-Length, or while reading it): 413."""


class UnsupportedEncoding(Exception):
    """A compressed body: servers read only identity encoding (415)."""


async def read_body(request: Request, limit: int, who: str = "node") -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` bytes; `who` names the server."""
    too_big = f"body: larger than this {who}'s limit of {limit} bytes; send a smaller request"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(too_big)
    encoding = request.headers.get("content-encoding", "identity")
    if encoding.lower() != "identity":
        raise UnsupportedEncoding(f"header Content-Encoding: {encoding!r} is not supported; send the body uncompressed")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(too_big)
        chunks.append(chunk)
    return b"".join(chunks)
