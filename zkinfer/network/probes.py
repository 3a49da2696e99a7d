"""Reading the nodes over HTTP beyond the fan-out: the first good answer, their identities."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from zkinfer.core.formats import strict_json
from zkinfer.core.support.text import visible
from zkinfer.network.node_http import NodeClient, NodeHTTPError, TooLarge
from zkinfer.network.nodeset import PinnedNode

FAILURES = (TimeoutError, NodeHTTPError, OSError, TooLarge, strict_json.StrictJSONError)


async def first_answer(
    client: NodeClient,
    nodes: Sequence[PinnedNode],
    path: str,
    timeout_s: float,
    headers: Callable[[PinnedNode], dict[str, str]],
) -> tuple[int, Any]:
    """GET `path` from every node; the first 200 JSON answer, or the most common failure."""

    async def get(node: PinnedNode) -> tuple[int, Any]:
        try:
            async with asyncio.timeout(timeout_s):
                reply = await client.request("GET", node.url + path, headers=headers(node))
            return reply.status, strict_json.loads(reply.body)
        except FAILURES as exc:
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


async def identities(client: NodeClient, nodes: Sequence[PinnedNode], timeout_s: float) -> dict[str, str]:
    """Each node's `/v1/identity` checked against its pinned key: "ok" or what is wrong."""

    async def probe(node: PinnedNode) -> str:
        try:
            async with asyncio.timeout(max(timeout_s, 2.0)):
                reply = await client.request("GET", node.url + "/v1/identity")
            if reply.status != 200:
                return f"/v1/identity answered HTTP {reply.status}"
            document = strict_json.loads(reply.body)
            key = document.get("public_key") if isinstance(document, dict) else None
            if key != node.public_hex:
                return f"/v1/identity names key {visible(str(key), 24)}, not the pinned one"
            return "ok"
        except FAILURES as exc:
            return visible(f"unreachable: {type(exc).__name__}: {exc}", 200)

    results = await asyncio.gather(*(probe(n) for n in nodes))
    return {n.name: r for n, r in zip(nodes, results, strict=True)}
