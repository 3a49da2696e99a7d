"""network/status: a gateway's /v1/nodes over real loopback HTTP; an unreachable gateway is an
infrastructure failure (exit 3), something that is not a gateway a usage error (exit 2)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from zkinfer.core.support.errors import UsageError
from zkinfer.network.status import GatewayUnreachable, fetch_nodes

ANSWERS = {"/v1/nodes": (200, b'{"nodes": [{"name": "alpha"}], "quorum": {}}')}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = ANSWERS.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def server() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_the_nodes_document_comes_back(server: str) -> None:
    assert fetch_nodes(server + "/")["nodes"] == [{"name": "alpha"}]


def test_not_a_gateway_is_a_usage_error(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ANSWERS, "/v1/nodes", (200, b"<html>"))
    with pytest.raises(UsageError, match="is not JSON"):
        fetch_nodes(server)
    monkeypatch.setitem(ANSWERS, "/v1/nodes", (200, b'{"nodes": 3}'))
    with pytest.raises(UsageError, match="not a list of nodes"):
        fetch_nodes(server)
    monkeypatch.setitem(ANSWERS, "/v1/nodes", (500, b"{}"))
    with pytest.raises(UsageError, match="HTTP 500"):
        fetch_nodes(server)


def test_an_unreachable_gateway_exits_3() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GatewayUnreachable, match="cannot reach the gateway") as caught:
        fetch_nodes(f"http://127.0.0.1:{port}", timeout_s=2)
    assert caught.value.exit_code == 3
