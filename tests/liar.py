"""A lying node for the byzantine tests: a real process that speaks the node's OIP v2 paths.

It runs a REAL `Prover` on a real circuit and signs with its own BLS key, so what it sends is
exactly what a dishonest operator could send: well-formed, validly signed, and false. Run as

    python -m tests.liar --circuit DIR --key KEYFILE --port P --behaviour B [--peer-url URL]

Behaviours (what a gateway and its watcher must catch, and must not blame on anyone else):
- `honest`: the node's protocol faithfully (checks this harness itself).
- `wrong-output`: signs a perturbed output and answers it; never proves (no valid proof exists).
- `answer-a-prove-b`: signs and answers a perturbed output A, then serves a real receipt of the
  true output B for the same input, signed by itself.
- `replay-signature`: forwards the request to `--peer-url` (an honest node) and relays the peer's
  answer, signed statement and promise included, as its own.
- `replay-receipt`: signs the honest statement with its own key, proves nothing, and serves the
  peer's receipt (obtained by forwarding the request) under its own receipt id.
- `equivocate`: signs the true output for odd-numbered requests it sees and a perturbed one for
  even-numbered ones (same input); proves the true output each time.
- `slow`: sleeps `--delay-s` before answering honestly.
"""

# No `from __future__ import annotations`: FastAPI must resolve the route signatures' types.
import argparse
import asyncio
import itertools
import json
import os
import secrets
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.cli import REPO
from zkinfer.core.crypto import identity
from zkinfer.core.formats import inputs, statement
from zkinfer.core.formats.inputs import Sample
from zkinfer.core.support.errors import ZkinferError
from zkinfer.network.checking import die_with_parent
from zkinfer.node import protocol
from zkinfer.prover.prove import Prover
from zkinfer.serving import oip

BEHAVIOURS = ("honest", "wrong-output", "answer-a-prove-b", "replay-signature", "replay-receipt", "equivocate", "slow")
PROVES_TRUTH = frozenset(
    {"honest", "answer-a-prove-b", "equivocate", "slow"}
)  # serve a real receipt of the true output, signed by themselves
FORWARDS = frozenset({"replay-signature", "replay-receipt"})
BATCH_ROW_HEADER = "Zkinfer-Batch-Row"
SCHEME = "bls12-381-g2-pop"

_worker_prover: Prover | None = None


def _init_worker(circuit: str, key_file: str) -> None:
    """A proving process (ezkl holds the GIL for a whole proof; the HTTP side must keep answering);
    it dies with the liar (a stopped liar left it running, with multiprocessing's resource tracker)."""
    global _worker_prover
    die_with_parent()
    _worker_prover = Prover(Path(circuit), signer=identity.load_key(Path(key_file)))


def _prove(sample: Sample) -> str:
    assert _worker_prover is not None
    return _worker_prover.prove(sample).model_dump_json()


def perturbed(said: statement.Statement, offset: int) -> statement.Statement:
    """The same claim (circuit, input, weights) with another output: a lie only a proof can expose."""
    first, *rest = said.output
    return replace(said, output=((first[0] + offset, *first[1:]), *rest))


@dataclass
class Settings:
    circuit: Path
    key: identity.NodeKey
    key_file: Path
    behaviour: str
    model: str
    peer_url: str | None
    peer_api_key: str
    prove_within_s: int
    delay_s: float
    offset: int


def create_app(settings: Settings) -> FastAPI:
    prover = Prover(settings.circuit, signer=settings.key)
    specs_in, specs_out = prover.circuit.input_specs, prover.circuit.output_specs
    pool = None
    if settings.behaviour in PROVES_TRUTH:
        pool = ProcessPoolExecutor(
            1,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(str(settings.circuit), str(settings.key_file)),
        )
        pool.submit(int)  # the prover process starts loading now, while the liar already answers
    receipts: dict[str, asyncio.Future[str] | None] = {}  # our receipt id → its proof (None: never proven)
    relayed: dict[str, str] = {}  # our (or the peer's) receipt id → the peer's receipt id
    seen = itertools.count(1)
    peer = httpx.AsyncClient(
        base_url=settings.peer_url or "http://127.0.0.1:1",
        headers={"Authorization": f"Bearer {settings.peer_api_key}"},
        timeout=60,
    )
    app = FastAPI(title="zkinfer liar", docs_url=None, redoc_url=None)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "zkinfer", "version": "liar", "extensions": ["zkinfer_receipts"]}

    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> Any:
        if name != settings.model:
            return error(404, f"model {name!r} is not served here")
        tensors = {"inputs": protocol.tensor_metadata(specs_in), "outputs": protocol.tensor_metadata(specs_out)}
        return {
            "name": name,
            "versions": ["1"],
            "platform": "onnxruntime+ezkl",
            **{part: [t.model_dump() for t in ts] for part, ts in tensors.items()},
        }

    @app.get("/v1/identity")
    async def identity_route() -> dict[str, str]:
        return {
            "scheme": SCHEME,
            "public_key": settings.key.public_hex,
            "proof_of_possession": identity.proof_of_possession(settings.key).hex(),
        }

    async def forward(body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await peer.post(f"/v2/models/{settings.model}/infer", content=body, headers=headers)

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        if name != settings.model:
            return error(404, f"model {name!r} is not served here")
        body = await request.body()
        forward_headers = {
            k: v for k, v in request.headers.items() if k.lower() in ("content-type", oip.HEADER_LENGTH.lower())
        }
        try:
            decoded = protocol.decode_infer(body, request.headers.get(oip.HEADER_LENGTH))
            by_name = {t.name: t for t in decoded.inputs}
            sample = [inputs.check_tensor(by_name[s.name].array, s, f"inputs[{s.name}]") for s in specs_in]
        except (ZkinferError, KeyError) as exc:
            return error(422, f"bad request: {exc}")
        n = next(seen)
        if settings.behaviour == "slow":
            await asyncio.sleep(settings.delay_s)
        if settings.behaviour == "replay-signature":  # the peer's whole answer, its signature and promise included
            answer = await forward(body, forward_headers)
            if answer.status_code == 200:
                peer_id = str(answer.json()["parameters"]["receipt_id"])
                relayed[peer_id] = peer_id  # the watcher asks this node for the id the peer's promise names
            return Response(
                answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type")
            )
        job_id = secrets.token_urlsafe(16)
        request_id = decoded.id if decoded.id is not None else job_id
        try:
            honest = await asyncio.to_thread(prover.statement, sample, request_id)
        except ZkinferError as exc:
            return error(422, f"bad request: {exc}")
        fast = prover.fast(sample)
        lie = settings.behaviour in ("wrong-output", "answer-a-prove-b") or (
            settings.behaviour == "equivocate" and n % 2 == 0
        )
        said = perturbed(honest, settings.offset) if lie else honest
        if settings.behaviour == "replay-receipt":
            answer = await forward(body, forward_headers)
            if answer.status_code != 200:
                return Response(
                    answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type")
                )
            relayed[job_id] = str(answer.json()["parameters"]["receipt_id"])
        elif pool is not None:
            receipts[job_id] = asyncio.wrap_future(pool.submit(_prove, sample))
        else:
            receipts[job_id] = None  # promised, never proven
        signed = statement.sign(said, settings.key.secret, settings.key.public_key)
        promised = statement.promise(signed, job_id, int(time.time()) + settings.prove_within_s, settings.key.secret)
        values = (
            [np.asarray(v, dtype=np.float64) for v in said.dequantized()]
            if lie
            else [np.asarray(o, dtype=np.float64).ravel() for o in fast.outputs]
        )
        outputs = [
            {"name": s.name, "shape": list(s.shape), "datatype": "FP32", "data": [float(x) for x in v.ravel()]}
            for s, v in zip(specs_out, values, strict=True)
        ]
        parameters = {
            "receipt_id": job_id,
            "receipt_url": f"/v1/receipts/{job_id}",
            "receipt_status": "accepted",
            "fast_provider": fast.provider,
            "zkinfer_statement": signed.to_json(),
            "zkinfer_promise": promised.to_json(),
        }
        document = {
            "model_name": settings.model,
            "model_version": "1",
            "id": decoded.id,
            "parameters": parameters,
            "outputs": outputs,
        }
        if decoded.id is None:
            del document["id"]
        return Response(json.dumps(document), media_type="application/json")

    @app.get("/v1/receipts/{receipt_id}")
    async def receipt(receipt_id: str) -> Response:
        if receipt_id in relayed:  # the peer's receipt, served as ours
            answer = await peer.get(f"/v1/receipts/{relayed[receipt_id]}")
            headers = {BATCH_ROW_HEADER: answer.headers[BATCH_ROW_HEADER]} if BATCH_ROW_HEADER in answer.headers else {}
            return Response(
                answer.content,
                status_code=answer.status_code,
                media_type=answer.headers.get("content-type"),
                headers=headers,
            )
        if receipt_id not in receipts:
            return error(404, f"receipt id {receipt_id!r}: no such job on this node")
        proof = receipts[receipt_id]
        if proof is not None and proof.done() and proof.exception() is None:
            return Response(proof.result(), media_type="application/json", headers={BATCH_ROW_HEADER: "0"})
        if proof is not None and proof.done():
            return error(500, f"proving failed: {proof.exception()}")
        return JSONResponse(
            {"id": receipt_id, "model": settings.model, "status": "proving"},
            status_code=202,
            headers={"Retry-After": "1"},
        )

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.liar", description=__doc__.splitlines()[0])
    parser.add_argument("--circuit", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--behaviour", choices=BEHAVIOURS, required=True)
    parser.add_argument("--peer-url")
    parser.add_argument("--peer-api-key", default="test-key-0123456789")
    parser.add_argument("--model", default="circuit")
    parser.add_argument("--prove-within", type=int, default=5, help="seconds promised for a proof")
    parser.add_argument("--delay-s", type=float, default=3.0, help="how long `slow` sleeps before answering")
    parser.add_argument(
        "--offset", type=int, default=8192, help="added to the first output value of a lie (quantized units)"
    )
    args = parser.parse_args(argv)
    if args.behaviour in FORWARDS and not args.peer_url:
        parser.error(f"--behaviour {args.behaviour} needs --peer-url")
    import uvicorn

    from zkinfer.core.support import logs

    logs.configure()
    settings = Settings(
        args.circuit,
        identity.load_key(args.key),
        args.key,
        args.behaviour,
        args.model,
        args.peer_url,
        args.peer_api_key,
        args.prove_within,
        args.delay_s,
        args.offset,
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


# --- the test side: start and stop a liar --------------------------------------------------


@dataclass
class RunningLiar:
    process: subprocess.Popen[bytes]
    url: str
    key: identity.NodeKey
    behaviour: str
    log: Path

    @property
    def public_key(self) -> str:
        return self.key.public_hex

    def stop(self) -> None:
        from tests.node_harness import stop_process

        stop_process(self.process)


def start_liar(circuit: Path, folder: Path, behaviour: str, *options: str) -> RunningLiar:
    """Start `python -m tests.liar` with a new key in `folder` on a free loopback port; wait until it answers."""
    from tests.node_harness import free_port, wait_until_up

    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "liar.key"
    if not key_file.exists():
        identity.save_key(identity.new_key(), key_file)
    port = free_port()
    log = folder / f"liar-{port}.log"
    command = [
        sys.executable,
        "-m",
        "tests.liar",
        "--circuit",
        str(circuit),
        "--key",
        str(key_file),
        "--port",
        str(port),
        "--behaviour",
        behaviour,
        *options,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    liar = RunningLiar(process, f"http://127.0.0.1:{port}", identity.load_key(key_file), behaviour, log)
    wait_until_up(process, f"{liar.url}/v2/health/ready", log, "the liar", 120)
    return liar


if __name__ == "__main__":
    main()
