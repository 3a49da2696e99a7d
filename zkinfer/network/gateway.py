"""`zkinfer gateway`: an Open Inference Protocol front over a pinned set of untrusted nodes.

The same paths as a node (`/v2/health/*`, `/v2`, `/v2/models/{name}`, `POST /v2/models/{name}/infer`,
JSON or Triton binary tensors), so a KServe or Triton client calls a gateway unchanged. An infer is
fanned out by `client.Consensus`; the answer is the certified statement's output with, in
`parameters`, `zkinfer_certificate`, `zkinfer_signers`, `zkinfer_dissent` and `request_id`. No
quorum is a 503 naming what each node said (or the nodes' own 4xx when a quorum of them refused
the request alike), never a made-up output. After answering, the stragglers' answers are judged
and every answer is recorded (`records`), and the watcher follows each node's receipt.

Tenancy: each API key's owner is a tenant, named by a short stable id (`tenant_of`). The request
id the gateway sends the nodes, which their statements sign and the records, certificates and
evidence carry, is `<tenant>:<the client's id>` (`<tenant>:zk-<random>` when the client sent
none), so one tenant's id can never name, replace or read another's answer. The answer's `id` is
the client's own; `parameters.request_id` is the namespaced id the certificate carries.

Access: inference, model metadata, `/v1/certificates/{id}` (the caller's own id, in its
namespace: another tenant's is a 404 like an unknown id) and the evidence documents need an API
key; a tenant reads only evidence about its own requests. Public, with no key: node standing only
(`/v1/nodes`: reputation, counts, latency, status; `/ui`: the node table and, for evidence, its
kind, the accused node and the time; `/v1/evidence` without a key: the same rows): no request
ids, inputs, outputs or certificates.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from zkinfer import __version__
from zkinfer.core import logs, strict_json
from zkinfer.core.errors import InfrastructureError, UsageError
from zkinfer.core.statement import REQUEST_ID
from zkinfer.core.text import visible
from zkinfer.network import llm_routing, reputation, ui
from zkinfer.network import nodeset as nodeset_mod
from zkinfer.network.client import Consensus, DissentKind, NodeAnswer, NoQuorum, Outcome, Round, new_request_id
from zkinfer.network.nodeset import NodeSet
from zkinfer.network.records import Agreement, AnswerRecord, CertificateRecord, EvidenceRecord, ReceiptState, Records
from zkinfer.network.watcher import Watcher, claim_digest

log = logging.getLogger("zkinfer.gateway")
HEADER_LENGTH = "Inference-Header-Content-Length"
READY_CACHE_S = 2.0
REPUTATION_CACHE_S = 2.0


class GatewayError(UsageError):
    """A gateway option, or the file it names, is unusable."""


def tenant_of(owner: str) -> str:
    """A tenant's short stable id, from its API key's owner id (`auth.ApiKeys.owner`): `t` and 16 hex digits."""
    return "t" + hashlib.sha256(owner.encode()).hexdigest()[:16]


def namespaced(tenant: str, client_id: str | None) -> str:
    """The request id the nodes sign for a tenant's request: `<tenant>:<client id>` (a fresh id when none)."""
    full = f"{tenant}:{client_id if client_id is not None else new_request_id()}"
    if client_id is not None and not REQUEST_ID.fullmatch(full):
        room = 128 - len(tenant) - 1
        raise UsageError(
            f"id: {visible(client_id, 40)!r} is not a request id at this gateway (1-{room} characters of A-Z a-z 0-9 . _ : -: the gateway prefixes it with your tenant's namespace)"
        )
    return full


def owns(tenant: str, request_id: str) -> bool:
    return request_id.startswith(tenant + ":")


@dataclass(frozen=True)
class GatewayConfig:
    nodes: Path
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8090
    api_keys_file: Path | None = None
    poll_s: float = 2.0  # the watcher's first wait between polls of a receipt
    max_body_bytes: int = 1 << 20
    check_processes: int = (
        0  # processes that check the nodes' answers (signatures); 0: threads of the gateway's (see client.Consensus)
    )

    @property
    def api_keys_path(self) -> Path:
        return self.api_keys_file or self.state_dir / "api-keys"


class Gateway:
    """The gateway's state: node set, consensus client, records, watcher, and what it knows of each node."""

    def __init__(self, config: GatewayConfig, pinned: NodeSet, records: Records, api_keys: Any) -> None:
        self.config, self.nodeset, self.records, self.api_keys = config, pinned, records, api_keys
        self.consensus = Consensus(pinned, reputation=self.reputations, check_processes=config.check_processes)
        self.watcher = Watcher(records, self.consensus, config.state_dir / "evidence", poll_s=config.poll_s)
        self.node_status: dict[str, str] = {n.name: "not probed yet" for n in pinned.nodes}
        self.llm = llm_routing.LlmRouter(pinned, records, config.state_dir / "evidence", self.reputations)
        self._background: set[asyncio.Task[None]] = set()
        self._reputation: tuple[float, dict[bytes, float]] = (0.0, {})
        self._ready: tuple[float, bool] = (0.0, False)
        self.lock: TextIO | None = None  # the state directory's lock, held while the gateway runs

    async def start(self) -> None:
        self.node_status, _, _ = await asyncio.gather(
            self.consensus.identities(), self.consensus.warm(), self.llm.start()
        )
        for name, status in self.node_status.items():
            if status == "ok":
                log.info("node %s: reachable, key as pinned", name)
            else:
                log.warning(
                    "node %s: %s (the gateway serves on; it counts as a dissent until it answers)", name, status
                )
        resumed = self.watcher.resume()
        if resumed:
            log.info("watching %d receipt(s) left pending by the last run", resumed)

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.watcher.stop()
        await self.consensus.aclose()
        await self.llm.stop()

    def reputations(self) -> dict[bytes, float]:
        at, scores = self._reputation
        if time.monotonic() - at > REPUTATION_CACHE_S:
            every = (*self.nodeset.nodes, *self.nodeset.llm_nodes)
            scores = {n.public_key: reputation.score(self.records.node_stats(n.public_hex)) for n in every}
            self._reputation = (time.monotonic(), scores)
        return scores

    async def ready(self) -> bool:
        """Whether nodes of at least the threshold's weight are ready (asked at most every READY_CACHE_S)."""
        at, ready = self._ready
        if time.monotonic() - at > READY_CACHE_S:
            answers = await asyncio.gather(*(self._node_ready(n.url) for n in self.nodeset.nodes))
            ready = (
                self.nodeset.weight_of(n.public_key for n, ok in zip(self.nodeset.nodes, answers, strict=True) if ok)
                >= self.nodeset.quorum.threshold
            )
            self._ready = (time.monotonic(), ready)
        return ready

    async def _node_ready(self, url: str) -> bool:
        try:
            async with asyncio.timeout(self.consensus.timeout_s):
                return (await self.consensus.client().get(url + "/v2/health/ready")).status_code == 200
        except Exception:  # any failure is "not ready"
            return False

    async def infer(self, model: str, header: dict[str, Any], binary: bytes, request_id: str) -> Outcome:
        """A quorum's answer to `request_id` (namespaced: `namespaced`), recorded at once with its
        certificate; the rest is recorded in the background."""
        try:
            outcome = await self.consensus.infer_bytes(model, header, binary, request_id)
        except NoQuorum as exc:
            self._later(self._record(exc.round, None))
            raise
        dissenters = sorted({*outcome.dissent, *outcome.pending})
        self.records.add_certificate(
            CertificateRecord(
                outcome.request_id,
                model,
                outcome.statement.digest(),
                outcome.certificate.to_json(),
                outcome.signers,
                dissenters,
                time.time(),
            )
        )
        self._later(self._record(outcome.round, outcome))
        return outcome

    def _later(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _record(self, round: Round, outcome: Outcome | None) -> None:
        """Once every node has answered or timed out: record each answer and watch its receipt."""
        answers = await round.settled()
        at = time.time()
        for a in answers:  # what start-up found is kept current: a node that came up, or went down
            if a.signed is not None:
                self.node_status[a.node.name] = "ok"
            elif a.problem is not None and a.problem.kind is DissentKind.UNREACHABLE:
                self.node_status[a.node.name] = f"unreachable: {a.problem.detail}"
        rows = [answer_record(a, outcome, round.request_id, round.model, at) for a in answers]
        stored = self.records.add_answers(rows)
        if outcome is not None:
            self.records.set_dissenters(round.request_id, [r.node for r in rows if r.verdict is not Agreement.AGREED])
        self.watcher.watch(stored)

    # --- views -----------------------------------------------------------------------------------

    def node_rows(self) -> list[dict[str, Any]]:
        scores = self.reputations()
        rows = []
        for node in (*self.nodeset.nodes, *self.nodeset.llm_nodes):
            stats = self.records.node_stats(node.public_hex)
            rows.append(
                {
                    "name": node.name,
                    "url": node.url,
                    "public_key": node.public_hex,
                    "weight": node.weight,
                    "kind": node.kind,
                    "status": self.node_status.get(node.name) or self.llm.status_of(node.name),
                    "reputation": round(scores.get(node.public_key, 0.5), 4),
                    "answers": stats.answers,
                    "agreed": stats.agreed,
                    "dissented": stats.dissented,
                    "timeouts": stats.timeouts,
                    "receipts_valid": stats.receipts_valid,
                    "receipts_invalid": stats.receipts_invalid,
                    "evidence": stats.evidence,
                    "latency_p50_ms": _ms(stats.latency_p50_ms),
                    "latency_p99_ms": _ms(stats.latency_p99_ms),
                }
            )
        return rows

    def page(self) -> str:
        """The public page: node standing, and evidence as kind, accused node and time only."""
        nodes = [
            ui.NodeRow(**{k: v for k, v in row.items() if k not in ("weight", "status", "answers", "kind")})
            for row in self.node_rows()
        ]
        evidence = [ui.EvidenceRow(e.kind, e.node, e.at) for e in self.records.evidence_list(25)]
        return ui.render(nodes, evidence, title="zkinfer gateway")


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def answer_record(answer: NodeAnswer, outcome: Outcome | None, request_id: str, model: str, at: float) -> AnswerRecord:
    """One node's answer as a record: how it ended relative to the quorum, and what to watch."""
    why = outcome.classify(answer) if outcome is not None else answer.problem
    verdict = (
        Agreement.DISSENT if why is not None else (Agreement.AGREED if outcome is not None else Agreement.NO_QUORUM)
    )
    signed, promise = answer.signed, answer.promise
    return AnswerRecord(
        request_id=request_id,
        model=model,
        node_key=answer.node.public_hex,
        node=answer.node.name,
        at=at,
        latency_ms=answer.latency_ms,
        verdict=verdict,
        dissent_kind=None if why is None else why.kind.value,
        detail="" if why is None else why.detail,
        statement=signed.to_json() if signed else None,
        statement_digest=signed.statement.digest() if signed else None,
        claim=claim_digest(signed.statement) if signed else None,
        promise=promise.to_json() if promise else None,
        receipt_id=promise.promise.receipt_id if promise else None,
        prove_by=promise.promise.prove_by if promise else None,
        receipt=ReceiptState.PENDING if signed and promise else ReceiptState.NONE,
    )


# --- the OIP v2 codec (the gateway's side) ----------------------------------------------------------


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The request's JSON header (strict: duplicate keys, NaN and huge numbers refused) and its binary tensor data."""
    if header_length is None:
        head, binary = body, b""
    else:
        n = int(header_length) if header_length.isdigit() else -1
        if not 0 <= n <= len(body):
            raise UsageError(
                f"header {HEADER_LENGTH}: {header_length[:20]!r} is not a length within the {len(body)}-byte body"
            )
        head, binary = body[:n], body[n:]
    try:
        document = strict_json.loads(head)
    except strict_json.StrictJSONError as exc:
        raise UsageError(f'body: {exc}; send an Open Inference Protocol request {{"inputs": [...]}}') from exc
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list) or not document["inputs"]:
        raise UsageError(
            'inputs: missing or empty; send an Open Inference Protocol request {"inputs": [{"name", "shape", "datatype", "data"}]}'
        )
    if "id" in document and not isinstance(document["id"], str):
        raise UsageError("id: not a string")
    return document, binary


def encode_answer(outcome: Outcome, header: dict[str, Any], client_id: str) -> tuple[bytes, dict[str, str]]:
    """The agreed outputs as the client asked for them (the outputs it named, JSON or binary), under the client's own id."""
    import json

    parameters = header.get("parameters")
    default_binary = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    requested = header.get("outputs")
    by_name = {t.name: t for t in outcome.outputs}
    chosen: list[tuple[Any, bool]] = []
    if isinstance(requested, list):
        for i, item in enumerate(requested):
            name = item.get("name") if isinstance(item, dict) else None
            if name not in by_name:
                raise UsageError(
                    f"outputs[{i}].name: {visible(str(name), 40)!r} is not an output of model {outcome.model!r} ({', '.join(by_name)})"
                )
            item_parameters = item.get("parameters") if isinstance(item.get("parameters"), dict) else {}
            chosen.append((by_name[name], item_parameters.get("binary_data", default_binary) is True))
    else:
        chosen = [(t, default_binary) for t in outcome.outputs]
    outputs, chunks = [], []
    for tensor, binary in chosen:
        entry: dict[str, Any] = {"name": tensor.name, "shape": list(tensor.shape), "datatype": tensor.datatype}
        if binary:
            chunks.append(np.asarray(tensor.data, dtype="<f4").tobytes())
            entry["parameters"] = {"binary_data_size": len(chunks[-1])}
        else:
            entry["data"] = list(tensor.data)
        outputs.append(entry)
    answer = {
        "model_name": outcome.model,
        "model_version": "1",
        "id": client_id,
        "parameters": outcome.response_parameters(),
        "outputs": outputs,
    }
    head = json.dumps(answer, separators=(",", ":")).encode()
    if not chunks:
        return head, {"content-type": "application/json"}
    return head + b"".join(chunks), {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(head))}


# --- start-up --------------------------------------------------------------------------------------


def _lock(state_dir: Path) -> TextIO:
    """Make the state directory and hold its lock for the gateway's lifetime: two gateways on one
    directory would watch the same receipts twice."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(state_dir / "gateway.lock", "w")  # noqa: SIM115 (held open on purpose)
    except OSError as exc:
        raise GatewayError(
            f"{state_dir}: cannot write the gateway's state directory ({exc.strerror}); give --state-dir a folder this user can write"
        ) from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise GatewayError(
            f"{state_dir}: another gateway is running on this state directory; stop it or give --state-dir another folder"
        ) from exc
    return handle


def load(config: GatewayConfig) -> Gateway:
    """Everything fallible before the port opens: the node set, the state directory, the records, the API keys."""
    from zkinfer.node import auth

    logs.serve_to_stderr(log)
    pinned = nodeset_mod.load(config.nodes)
    lock = _lock(config.state_dir)
    records = Records(config.state_dir / "gateway.db")
    if config.api_keys_file is None and not config.api_keys_path.exists():
        auth.create(config.api_keys_path)
        log.info("made an API key in %s (send it as `Authorization: Bearer KEY`)", config.api_keys_path)
    keys = auth.read(config.api_keys_path)
    gateway = Gateway(config, pinned, records, keys)
    gateway.lock = lock
    q = pinned.quorum
    log.info(
        "%d node(s) pinned from %s; quorum: weight %d of %d, agree on %s, %d ms per node, %s weighting",
        len(pinned.nodes),
        config.nodes,
        q.threshold,
        pinned.total_weight(),
        q.agree_on,
        q.timeout_ms,
        q.weighting,
    )
    return gateway


def run(gateway: Gateway) -> None:
    """Serve until interrupted."""
    import uvicorn

    from zkinfer.node.connections import ConnectionLimits, protocol_class

    config = gateway.config
    limits = ConnectionLimits(header_timeout_s=10.0, body_timeout_s=30.0, max_connections=4096)
    log.info(
        "listening on http://%s:%d (KServe v2 under /v2, /v1/nodes, /v1/certificates, /v1/evidence, /ui)",
        config.host,
        config.port,
    )
    uvicorn.run(
        create_app(gateway),
        host=config.host,
        port=config.port,
        http=protocol_class(limits),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


# --- the HTTP routes -------------------------------------------------------------------------------


def create_app(gateway: Gateway) -> FastAPI:
    """The FastAPI app over a loaded gateway; the watcher and the node probes run for its lifetime."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(
        title="zkinfer gateway", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.exception_handler(UsageError)
    async def usage_error(_: Request, exc: UsageError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(InfrastructureError)  # not the caller's fault: retry later
    async def infrastructure_error(_: Request, exc: InfrastructureError) -> JSONResponse:
        return _error(503, str(exc), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    def tenant(request: Request) -> str | None:
        """The caller's tenant id, None for a visitor (no key)."""
        owner = gateway.api_keys.owner(request.headers.get("authorization"))
        return None if owner is None else tenant_of(owner)

    def authorized(request: Request) -> str:
        """The caller's tenant id; a 401 without a valid key."""
        found = tenant(request)
        if found is None:
            raise _Refused(401, "header Authorization: missing or unknown API key; send `Authorization: Bearer KEY`")
        return found

    llm_routing.mount(app, gateway.llm, tenant, gateway.config.max_body_bytes)

    @app.exception_handler(_Refused)
    async def refused(_: Request, exc: _Refused) -> JSONResponse:
        return _error(exc.status, str(exc), {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        is_ready = await gateway.ready()
        return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return {
            "name": "zkinfer-gateway",
            "version": __version__,
            "extensions": ["binary_tensor_data", "zkinfer_receipts", "zkinfer_consensus"],
        }

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_metadata(request: Request, name: str, version: str = "1") -> JSONResponse:
        authorized(request)
        path = request.url.path.removeprefix("/v2/models/")
        status, document = await gateway.consensus.first_answer("/v2/models/" + quote(path, safe="/"))
        return JSONResponse(document, status_code=status)

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer(request: Request, name: str, version: str = "1") -> Response:
        caller = authorized(request)
        if version != "1":
            return _error(404, f"model {name!r} has no version {version!r}; it has version '1'")
        body = await _read_body(request, gateway.config.max_body_bytes)
        header, binary = split_body(body, request.headers.get(HEADER_LENGTH))
        request_id = namespaced(caller, header.get("id"))
        client_id = request_id.removeprefix(caller + ":")
        try:
            outcome = await gateway.infer(name, header, binary, request_id)
        except NoQuorum as exc:
            if exc.refusal is not None:
                status, message = exc.refusal
                return _error(status, message, id=client_id, split=exc.split, request_id=exc.request_id)
            return JSONResponse(
                {"id": client_id, **exc.to_json()}, status_code=503, headers={"Retry-After": str(exc.retry_after_s)}
            )
        content, headers = encode_answer(outcome, header, client_id)
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
        return {"nodes": gateway.node_rows(), "quorum": quorum, "watching": gateway.watcher.busy}

    @app.get("/v1/certificates/{request_id}")
    async def certificate(request: Request, request_id: str) -> JSONResponse:
        """The certificate of the caller's own request `request_id` (its id as the client sent it)."""
        found = gateway.records.certificate(f"{authorized(request)}:{request_id}")
        if found is None:
            return _error(404, f"no certificate for request {visible(request_id, 64)!r} at this gateway")
        return JSONResponse(found.certificate)

    @app.get("/v1/evidence")
    async def evidence_list(request: Request, limit: int = 100) -> dict[str, Any]:
        """A tenant: the evidence about its own requests, with ids and links. A visitor: kind, accused and time only."""
        caller, limit = tenant(request), max(1, min(limit, 1000))
        if caller is None:
            return {"evidence": [_public(e) for e in gateway.records.evidence_list(limit)]}
        found = gateway.records.evidence_list(limit, request_prefix=caller + ":")
        return {
            "evidence": [
                {**_public(e), "id": e.id, "request_id": e.request_id, "url": f"/v1/evidence/{e.id}"} for e in found
            ]
        }

    @app.get("/v1/evidence/{evidence_id}")
    async def evidence_document(request: Request, evidence_id: str) -> JSONResponse:
        found = gateway.records.evidence(evidence_id)
        if found is None or not owns(authorized(request), found.request_id):
            return _error(404, f"no evidence {visible(evidence_id, 64)!r} about your requests at this gateway")
        return JSONResponse(found.document)

    @app.get("/ui")
    async def page() -> HTMLResponse:
        return HTMLResponse(
            gateway.page(),
            headers={"Content-Security-Policy": ui.CSP + "; frame-ancestors 'none'", "Cache-Control": "no-store"},
        )

    return app


def _public(record: EvidenceRecord) -> dict[str, Any]:
    """What anyone may read of an evidence record: whom it accuses, of what, when."""
    return {"kind": record.kind, "accused": record.accused, "node": record.node, "observed_at": record.at}


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Refused(413, f"body: larger than this gateway's limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refused(413, f"body: larger than this gateway's limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
