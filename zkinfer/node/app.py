"""The HTTP layer's routes: Open Inference Protocol (KServe v2) paths, receipts, the node's identity, and `/metrics`.

A route authenticates, decodes (`protocol`), calls the service (`service.Node`) and encodes its
answer; every error it meets or raises becomes a status in `statuses`, never here.
No `from __future__ import annotations` here: FastAPI must resolve the route signatures' local types.
"""

import time
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from zkinfer import __version__
from zkinfer.core.crypto import identity
from zkinfer.node import protocol, statuses
from zkinfer.node.models import ServedModel
from zkinfer.node.service import Node, UnknownModel
from zkinfer.node.store import JobState
from zkinfer.serving import oip
from zkinfer.serving.app import CountRequests, new_app
from zkinfer.serving.auth import Unauthenticated
from zkinfer.serving.body import read_body
from zkinfer.serving.statuses import error

MODEL_VERSION = oip.MODEL_VERSION
PLATFORM = "onnxruntime+ezkl"
EXTENSIONS = ["binary_tensor_data", "zkinfer_receipts"]
BATCH_ROW_HEADER = "Zkinfer-Batch-Row"


def create_app(node: Node) -> FastAPI:
    """The FastAPI app over a loaded `Node` (`server.load`); the node's workers run for the app's lifetime."""

    app = new_app("zkinfer node", node.start, node.stop)
    app.add_middleware(CountRequests, requests=node.metrics.requests)
    statuses.install(app)

    async def authorized(request: Request) -> str:  # async: a sync dependency would cost a thread hop per request
        """The caller's owner id; every route but health and server metadata needs it, before anything else."""
        owner = node.owner(request.headers.get("authorization"))
        if owner is None:
            raise Unauthenticated()
        return owner

    async def served(name: str, version: str = MODEL_VERSION) -> ServedModel:
        if version != MODEL_VERSION:
            raise UnknownModel(f"model {name!r} has no version {version!r}; it has version {MODEL_VERSION!r}")
        return node.model(name)

    Auth = Annotated[str, Depends(authorized)]
    Model = Annotated[ServedModel, Depends(served)]

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        return JSONResponse({"ready": node.ready}, status_code=statuses.ready(node.ready))

    @app.get("/v1/identity")
    async def node_identity() -> dict[str, str]:
        """Who signs this node's statements: what a nodes.toml pins (no key needed: it is public)."""
        return {
            "scheme": identity.SCHEME,
            "public_key": node.key.public_hex,
            "proof_of_possession": node.proof_of_possession.hex(),
        }

    @app.get("/v2")
    async def server_metadata() -> oip.ServerMetadata:
        return oip.ServerMetadata(name="zkinfer", version=__version__, extensions=EXTENSIONS)

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def model_metadata(_: Auth, model: Model) -> oip.ModelMetadata:
        return oip.ModelMetadata(
            name=model.name,
            versions=[MODEL_VERSION],
            platform=PLATFORM,
            inputs=protocol.tensor_metadata(model.input_specs),
            outputs=protocol.tensor_metadata(model.output_specs),
        )

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(_: Auth, model: Model) -> JSONResponse:
        return JSONResponse({"name": model.name, "ready": node.ready}, status_code=statuses.ready(node.ready))

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer(
        request: Request,
        owner: Auth,  # before the model: without a key, nothing is revealed about which models exist
        model: Model,  # before the body: an unknown model is a 404 whatever was sent
        wait: Annotated[bool, Query(description="Answer only once the proof is done (or wait_timeout passed)")] = False,
    ) -> Response:
        start = time.perf_counter()
        body = await read_body(request, node.config.max_body_bytes)
        decoded = protocol.decode_infer(body, request.headers.get(oip.HEADER_LENGTH))
        accepted = await node.infer(model.name, decoded.inputs, decoded.options, owner)
        node.metrics.answer_seconds.labels(model.name).observe(time.perf_counter() - start)
        job = await node.wait(accepted.job_id, node.config.wait_timeout_s) if wait else None
        content, headers = protocol.infer_response(decoded, accepted, job)
        return Response(content, headers=headers)

    @app.get("/v1/receipts/{receipt_id}")
    async def receipt(receipt_id: str, owner: Auth) -> Response:
        job = await node.job_for(receipt_id, owner)
        status = statuses.job(job)
        if job.state is JobState.PROVEN:
            assert job.receipt is not None
            return Response(
                job.receipt,
                status_code=status,
                media_type="application/json",
                headers={BATCH_ROW_HEADER: str(job.batch_row)},
            )
        if job.state is JobState.FAILED:
            return error(status, f"proving failed: {job.error}", id=job.id, status=job.state.value)
        return JSONResponse(
            {"id": job.id, "model": job.model, "status": job.state.value},
            status_code=status,
            headers={"Retry-After": "1"},
        )

    @app.get("/v1/claims/{request_id}")
    async def claim_file(request_id: str, owner: Auth) -> Response:
        """An optimistic answer's claim file (batch id + Merkle proof): 202 until its batch is posted."""
        stored = await node.claim_for(request_id, owner)
        if stored.claim_file is None:
            return JSONResponse(
                {"request_id": request_id, "status": "pending"}, status_code=202, headers={"Retry-After": "1"}
            )
        return Response(stored.claim_file, media_type="application/json")

    def render_metrics() -> Response:
        body, content_type = node.metrics.render()
        return Response(body, media_type=content_type)

    if node.config.metrics == "public":
        app.get("/metrics")(render_metrics)
    elif node.config.metrics == "key":

        @app.get("/metrics")
        async def metrics(_: Auth) -> Response:
            return render_metrics()

    return app
