"""The gateway's routes: the node's Open Inference Protocol paths, certificates, evidence, node standing.

A route authenticates (tenancy: `zkinfer.serving.tenancy`), reads the body within the limit, decodes
it into the typed request, asks the quorum (`gateway_state.Gateway`) and encodes the answer
(`gateway_codec`); every error it meets or raises becomes its status in the serving layer's one
table (`zkinfer.serving.statuses`). No quorum is a 503 with Retry-After naming what each node said
(or the nodes' own 4xx when a quorum of them refused the request alike).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from zkinfer import __version__
from zkinfer.core.support.text import visible
from zkinfer.network import gateway_views, llm_routing, ui
from zkinfer.network.gateway_codec import encode_answer
from zkinfer.network.gateway_state import Gateway
from zkinfer.network.outcome import NoQuorum
from zkinfer.serving import oip, statuses
from zkinfer.serving.app import new_app
from zkinfer.serving.auth import Unauthenticated
from zkinfer.serving.body import read_body
from zkinfer.serving.statuses import NotFound, error
from zkinfer.serving.tenancy import namespaced, owns, tenant_of

log = logging.getLogger("zkinfer.gateway")
EXTENSIONS = ["binary_tensor_data", "zkinfer_receipts", "zkinfer_consensus"]


def create_app(gateway: Gateway) -> FastAPI:
    """The FastAPI app over a loaded gateway; the watcher and the node probes run for its lifetime."""
    app = new_app("zkinfer gateway", gateway.start, gateway.stop, openapi=False)
    statuses.install(app, statuses.table(), log, "gateway")

    def tenant(request: Request) -> str | None:
        """The caller's tenant id, None for a visitor (no key)."""
        owner = gateway.api_keys.owner(request.headers.get("authorization"))
        return None if owner is None else tenant_of(owner)

    def authorized(request: Request) -> str:
        """The caller's tenant id; a 401 without a valid key."""
        found = tenant(request)
        if found is None:
            raise Unauthenticated()
        return found

    llm_routing.mount(app, gateway.llm, tenant, gateway.config.max_body_bytes)

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        is_ready = await gateway.ready()
        return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        metadata = oip.ServerMetadata(name="zkinfer-gateway", version=__version__, extensions=EXTENSIONS)
        return metadata.model_dump()

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_metadata(request: Request, name: str, version: str = oip.MODEL_VERSION) -> JSONResponse:
        authorized(request)
        path = request.url.path.removeprefix("/v2/models/")
        status, document = await gateway.consensus.first_answer("/v2/models/" + quote(path, safe="/"))
        return JSONResponse(document, status_code=status)

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer(request: Request, name: str, version: str = oip.MODEL_VERSION) -> Response:
        caller = authorized(request)
        if version != oip.MODEL_VERSION:
            raise NotFound(f"model {name!r} has no version {version!r}; it has version {oip.MODEL_VERSION!r}")
        body = await read_body(request, gateway.config.max_body_bytes, "gateway")
        decoded, binary = oip.decode(body, request.headers.get(oip.HEADER_LENGTH))
        request_id = namespaced(caller, decoded.id)
        client_id = request_id.removeprefix(caller + ":")
        try:
            outcome = await gateway.infer(name, decoded, binary, request_id)
        except NoQuorum as exc:
            if exc.refusal is not None:
                status, message = exc.refusal
                return error(status, message, id=client_id, split=exc.split, request_id=exc.request_id)
            headers = statuses.headers_of(exc)
            return JSONResponse({"id": client_id, **exc.to_json()}, status_code=503, headers=headers)
        content, headers = encode_answer(outcome, decoded, client_id)
        return Response(content, headers=headers)

    @app.get("/v1/nodes")
    async def nodes() -> dict[str, Any]:
        q = gateway.nodeset.quorum
        quorum = {
            "threshold": q.threshold,
            "total_weight": gateway.nodeset.total_weight(),
            "agree_on": q.agree_on,
            "timeout_ms": q.timeout_ms,
            "prove_within_s": q.prove_within_s,
            "weighting": q.weighting,
        }
        return {"nodes": gateway_views.node_rows(gateway), "quorum": quorum, "watching": gateway.watcher.busy}

    @app.get("/v1/certificates/{request_id}")
    async def certificate(request: Request, request_id: str) -> JSONResponse:
        """The certificate of the caller's own request `request_id` (its id as the client sent it)."""
        found = gateway.records.certificate(f"{authorized(request)}:{request_id}")
        if found is None:
            raise NotFound(f"no certificate for request {visible(request_id, 64)!r} at this gateway")
        return JSONResponse(found.certificate)

    @app.get("/v1/evidence")
    async def evidence_list(request: Request, limit: int = 100) -> dict[str, Any]:
        """A tenant: the evidence about its own requests, with ids and links. A visitor: kind, accused and time only."""
        caller, limit = tenant(request), max(1, min(limit, 1000))
        if caller is None:
            return {"evidence": [gateway_views.public(e) for e in gateway.records.evidence_list(limit)]}
        found = gateway.records.evidence_list(limit, request_prefix=caller + ":")
        listed = [
            {**gateway_views.public(e), "id": e.id, "request_id": e.request_id, "url": f"/v1/evidence/{e.id}"}
            for e in found
        ]
        return {"evidence": listed}

    @app.get("/v1/evidence/{evidence_id}")
    async def evidence_document(request: Request, evidence_id: str) -> JSONResponse:
        found = gateway.records.evidence(evidence_id)
        if found is None or not owns(authorized(request), found.request_id):
            raise NotFound(f"no evidence {visible(evidence_id, 64)!r} about your requests at this gateway")
        return JSONResponse(found.document)

    @app.get("/ui")
    async def page() -> HTMLResponse:
        return HTMLResponse(
            gateway_views.page(gateway),
            headers={"Content-Security-Policy": ui.CSP + "; frame-ancestors 'none'", "Cache-Control": "no-store"},
        )

    return app
