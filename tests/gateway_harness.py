"""A real `zkinfer gateway` subprocess on a free loopback port, a nodes.toml pinning test nodes, and
a fixed-answer HTTP server standing in for a broken node: what the gateway, byzantine and page tests
(and `benchmarks/bench_consensus`) drive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.cli import REPO
from tests.node_harness import API_KEY, MODEL, RunningNode, free_port, stop_process, wait_until_up
from zkinfer.core.crypto import bls, identity
from zkinfer.core.crypto.identity import NodeKey
from zkinfer.core.formats import statement
from zkinfer.network.record_types import Agreement, AnswerRecord, ReceiptState
from zkinfer.network.watcher import claim_digest

GATEWAY_KEY = "gateway-key-0123456789"
OTHER_GATEWAY_KEY = "gateway-key-of-another-tenant"  # a second tenant of the same gateway
NODE_KEY_ENV = "ZKINFER_TEST_NODE_KEY"


def pinned_toml(nodes: list[tuple[str, str, NodeKey]], **quorum: Any) -> str:
    """nodes.toml text pinning (name, url, key) nodes, as `zkinfer keys show` prints them."""
    lines = ["[quorum]", *(f"{k} = {json.dumps(v)}" for k, v in quorum.items())]
    for name, url, key in nodes:
        pop = bls.pop_prove(key.secret).hex()
        lines += [
            "",
            "[[nodes]]",
            f'name = "{name}"',
            f'url = "{url}"',
            f'public_key = "{key.public_hex}"',
            f'proof_of_possession = "{pop}"',
            f'api_key_env = "{NODE_KEY_ENV}"',
        ]
    return "\n".join(lines) + "\n"


@dataclass
class RunningGateway:
    process: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    nodes_toml: Path
    log: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {GATEWAY_KEY}"}

    def infer(
        self, values: list[float], request_id: str | None = None, model: str = MODEL, key: str = GATEWAY_KEY
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "inputs": [{"name": "input", "shape": [1, len(values)], "datatype": "FP32", "data": values}]
        }
        if request_id is not None:
            body["id"] = request_id
        return httpx.post(
            f"{self.url}/v2/models/{model}/infer", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    def request_id(self, client_id: str, key: str = GATEWAY_KEY) -> str:
        """The id the nodes sign, and the records and certificates carry, for `client_id` sent with
        `key`: the gateway namespaces request ids per tenant (`<tenant>:<client id>`)."""
        from zkinfer.serving.auth import ApiKeys
        from zkinfer.serving.tenancy import tenant_of

        owner = ApiKeys([key]).owner(f"Bearer {key}")
        assert owner is not None
        return f"{tenant_of(owner)}:{client_id}"

    def get(self, path: str, key: str | None = None) -> httpx.Response:
        """GET a gateway path, with tenant `key`'s API key (None: as a visitor, with none)."""
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {key}"} if key else None, timeout=30)

    def nodes(self) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in httpx.get(f"{self.url}/v1/nodes", timeout=30).json()["nodes"]}

    def stop(self) -> None:
        stop_process(self.process)


def start_gateway(folder: Path, toml: str, *options: str) -> RunningGateway:
    """`zkinfer gateway` as a subprocess on a free loopback port, sending the test nodes' API key."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nodes.toml").write_text(toml)
    (folder / "api-keys").write_text(f"{GATEWAY_KEY}\n{OTHER_GATEWAY_KEY}\n")
    port = free_port()
    log = folder / f"gateway-{port}.log"
    command = [
        sys.executable,
        "-m",
        "zkinfer",
        "gateway",
        "--nodes",
        str(folder / "nodes.toml"),
        "--port",
        str(port),
        "--state-dir",
        str(folder / "state"),
        "--api-keys",
        str(folder / "api-keys"),
        "--watch-interval",
        "0.2",
        *options,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, NODE_KEY_ENV: API_KEY}
        )
    gateway = RunningGateway(process, f"http://127.0.0.1:{port}", folder / "state", folder / "nodes.toml", log)
    wait_until_up(process, f"{gateway.url}/v2/health/live", log, "the gateway", 60)
    return gateway


def node_entry(name: str, node: RunningNode) -> tuple[str, str, NodeKey]:
    return name, node.url, identity.load_key(node.state_dir / "node.key")


class _Fixed(BaseHTTPRequestHandler):
    """A node that answers every request with one fixed status and body."""

    status, body = 200, b""

    def _answer(self) -> None:
        assert isinstance(self.server, FixedServer)
        self.server.paths.append(self.path)
        status, body = self.server.by_path.get(self.path, (self.status, self.body))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer()

    def log_message(self, *args: Any) -> None:
        pass


class FixedServer(ThreadingHTTPServer):
    """The fixed node's server; `paths` lists every path asked, in order; `by_path` answers some paths otherwise."""

    paths: list[str]
    by_path: dict[str, tuple[int, bytes]]


def fixed_server(status: int, body: bytes) -> FixedServer:
    handler = type("Handler", (_Fixed,), {"status": status, "body": body})
    server = FixedServer(("127.0.0.1", 0), handler)
    server.paths, server.by_path = [], {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def promised_answer(said: statement.Statement, key: NodeKey, node: str, receipt_id: str, prove_by: int) -> AnswerRecord:
    """The gateway's record of node `node`'s agreed answer `said`, signed with `key`, with its signed
    promise to prove it (receipt `receipt_id`) by `prove_by` and the receipt pending: what the
    watcher follows."""
    signed = statement.sign(said, key.secret, key.public_key)
    return AnswerRecord(
        said.request_id,
        "m",
        key.public_hex,
        node,
        time.time(),
        5.0,
        Agreement.AGREED,
        statement=signed.to_json(),
        statement_digest=said.digest(),
        claim=claim_digest(said),
        promise=statement.promise(signed, receipt_id, prove_by, key.secret).to_json(),
        receipt_id=receipt_id,
        receipt=ReceiptState.PENDING,
    )
