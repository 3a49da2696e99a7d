"""The client side of `zkinfer network status`: a gateway's /v1/nodes answer, checked for shape."""

from __future__ import annotations

from typing import Any

from zkinfer.core.formats import strict_json
from zkinfer.core.support.errors import InfrastructureError, UsageError


class GatewayUnreachable(InfrastructureError):
    """The gateway did not answer (exit 3: start it, or fix the network)."""


def fetch_nodes(url: str, timeout_s: float = 10) -> dict[str, Any]:
    """The gateway's /v1/nodes document; UsageError (exit 2) when what answers is not a zkinfer gateway."""
    import httpx

    url = url.rstrip("/")
    try:
        response = httpx.get(f"{url}/v1/nodes", timeout=timeout_s, trust_env=False)
    except httpx.HTTPError as exc:
        raise GatewayUnreachable(
            f"--gateway {url}: cannot reach the gateway ({type(exc).__name__}: {exc}); "
            "check the URL and that `zkinfer gateway` runs"
        ) from exc
    if response.status_code != 200:
        raise UsageError(f"--gateway {url}: /v1/nodes answered HTTP {response.status_code}; is this a zkinfer gateway?")
    try:
        document = strict_json.loads(response.content)
    except strict_json.StrictJSONError as exc:
        raise UsageError(f"--gateway {url}: /v1/nodes is not JSON ({exc}); is this a zkinfer gateway?") from exc
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("nodes"), list)
        or not all(isinstance(r, dict) for r in document["nodes"])
    ):
        raise UsageError(f"--gateway {url}: /v1/nodes is not a list of nodes; is this a zkinfer gateway?")
    return dict(document)
