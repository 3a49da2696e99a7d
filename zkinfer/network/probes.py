"""Reading the nodes over HTTP beyond the fan-out: a capped answer, the first good answer, their identities."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from zkinfer.core.formats import strict_json
from zkinfer.core.support.text import visible
from zkinfer.network.nodeset import PinnedNode

MAX_ANSWER_BYTES = 8 << 20  # a node's answer beyond this is garbage (the tiny models answer in ~2 KB)


class TooLarge(Exception):
    """A node's answer over MAX_ANSWER_BYTES."""


async def read_capped(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def first_answer(
    client: httpx.AsyncClient,
    nodes: Sequence[PinnedNode],
    path: str,
    timeout_s: float,
    headers: Callable[[PinnedNode], dict[str, str]],
) -> tuple[int, Any]:
    """GET `path` from every node; the first 200 JSON answer, or the most common failure."""

    async def get(node: PinnedNode) -> tuple[int, Any]:
        try:
            async with asyncio.timeout(timeout_s):
                async with client.stream("GET", node.url + path, headers=headers(node)) as response:
                    body = await read_capped(response)
            return response.status_code, strict_json.loads(body)
        except (TimeoutError, httpx.HTTPError, OSError, TooLarge, strict_json.StrictJSONError) as exc:
            return 503, {"error": visible(f"node {node.name}: {type(exc).__name__}: {exc}", 200)}

    tasks = [asyncio.create_task(get(n)) for n in nodes]
    failures: list[tuple[int, Any]] = []
    for next_done in asyncio.as_completed(tasks):
        status, document = await next_done
        if status == 200:
            for task in tasks:
                task.cancel()
            return status, document
        failures.append((status, document))
    status = Counter(s for s, _ in failures).most_common(1)[0][0]
    return status, next(d for s, d in failures if s == status)


async def identities(client: httpx.AsyncClient, nodes: Sequence[PinnedNode], timeout_s: float) -> dict[str, str]:
    """Each node's `/v1/identity` checked against its pinned key: "ok" or what is wrong."""

    async def probe(node: PinnedNode) -> str:
        try:
            async with asyncio.timeout(max(timeout_s, 2.0)):
                async with client.stream("GET", node.url + "/v1/identity") as response:
                    body = await read_capped(response)
            if response.status_code != 200:
                return f"/v1/identity answered HTTP {response.status_code}"
            document = strict_json.loads(body)
            key = document.get("public_key") if isinstance(document, dict) else None
            if key != node.public_hex:
                return f"/v1/identity names key {visible(str(key), 24)}, not the pinned one"
            return "ok"
        except (TimeoutError, httpx.HTTPError, OSError, TooLarge, strict_json.StrictJSONError) as exc:
            return visible(f"unreachable: {type(exc).__name__}: {exc}", 200)

    results = await asyncio.gather(*(probe(n) for n in nodes))
    return {n.name: r for n, r in zip(nodes, results, strict=True)}
