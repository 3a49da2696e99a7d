"""A real `zkinfer serve` subprocess on a free loopback port, as the node tests drive it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.cli import REPO
from tests.waiting import WaitTimeout, wait_until
from zkinfer.core.crypto import identity

MODEL = "circuit"  # the tiny circuit's manifest name
PROOF_TIMEOUT_S = 600.0
API_KEY = "test-key-0123456789"
OTHER_KEY = "other-key-9876543210"  # a second tenant of the same node


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningNode:
    process: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    log: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEY}"}

    @property
    def public_key(self) -> str:
        return identity.load_key(self.state_dir / "node.key").public_hex

    def infer(
        self,
        values: list[float],
        model: str = MODEL,
        wait: bool = False,
        key: str = API_KEY,
        parameters: dict[str, Any] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "inputs": [{"name": "input", "shape": [1, len(values)], "datatype": "FP32", "data": values}]
        }
        if parameters is not None:
            body["parameters"] = parameters
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.post(
            f"{self.url}/v2/models/{model}/infer",
            params={"wait": "true"} if wait else None,
            json=body,
            headers=headers,
            timeout=PROOF_TIMEOUT_S,
        )

    def receipt(self, receipt_id: str, timeout_s: float = PROOF_TIMEOUT_S, key: str = API_KEY) -> httpx.Response:
        """Poll until the job has left the queue (200 or a failure), as a client would."""

        def settled() -> httpx.Response | None:
            response = httpx.get(
                f"{self.url}/v1/receipts/{receipt_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            if response.status_code == 202:
                assert response.json()["status"] in ("accepted", "proving")
                return None
            return response

        found: httpx.Response = wait_until(
            settled, what=f"receipt {receipt_id} proven or failed", timeout_s=timeout_s, interval_s=0.1
        )
        return found

    def stop(self) -> None:
        stop_process(self.process)


def not_pending(response: httpx.Response) -> httpx.Response | None:
    """The response once the receipt or claim has left the queue (proven or failed); None while it is still 202."""
    return None if response.status_code == 202 else response


def start_node(circuits: Path, state_dir: Path, *options: str, statement_workers: int | None = 1) -> RunningNode:
    """Start `zkinfer serve` on a free loopback port and wait until its workers are ready.

    One statement worker unless told (None: the node's default, one per core): each is a process that
    loads the circuits, and the suite starts dozens of nodes on CI's two cores."""
    state_dir.mkdir(parents=True, exist_ok=True)
    keys = state_dir.parent / f"{state_dir.name}-api-keys"
    keys.write_text(f"# test keys\n{API_KEY}\n{OTHER_KEY}\n")
    port = free_port()
    log = state_dir.parent / f"{state_dir.name}-{port}.log"
    command = [
        sys.executable,
        "-m",
        "zkinfer",
        "serve",
        "--circuits",
        str(circuits),
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--api-keys",
        str(keys),
        *([] if statement_workers is None else ["--statement-workers", str(statement_workers)]),
        *options,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    node = RunningNode(process=process, url=f"http://127.0.0.1:{port}", state_dir=state_dir, log=log)
    wait_until_up(process, f"{node.url}/v2/health/ready", log, "the node", 300)
    return node


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean stop), then SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path, what: str, timeout_s: float) -> None:
    """Poll `url` until it answers 200; stop the process and fail with its log if it exits or takes too long."""

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(url, timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, what=f"{what} answering {url}", timeout_s=timeout_s, detail=log.read_text)
    except WaitTimeout:
        stop_process(process)
        raise


SAMPLE = [0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]


def raw_exchange(url: str, head: bytes, *, chunk: int = 1 << 20, timeout_s: float = 30) -> tuple[int, bytes]:
    """Send raw request bytes to the server at `url` (`chunk` bytes at a time, stopping early if the
    server answers or hangs up) and read its answer: (status, whole answer); (0, b"") when the
    server closed without a status line."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        try:
            for start in range(0, len(head), chunk):
                sock.sendall(head[start : start + chunk])
                if chunk < len(head):
                    time.sleep(0.01)  # a slow client: the server sees each piece on its own
        except OSError:  # the server answered and closed before all was sent
            pass
        answer = b""
        try:
            while piece := sock.recv(65536):
                answer += piece
                if (
                    b"\r\n\r\n" in answer
                    and b"content-length: 0" not in answer.lower()
                    and answer.split(b"\r\n\r\n", 1)[1]
                ):
                    break
        except OSError:
            pass
    return (int(answer.split(b" ", 2)[1]), answer) if answer.startswith(b"HTTP/1.1 ") else (0, answer)


def request_head(path: str, headers: list[tuple[str, str]], end: bool = True) -> bytes:
    """A GET request's head with these headers after Host (without its final blank line unless `end`)."""
    lines = [f"GET {path} HTTP/1.1", "Host: test", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + ("\r\n\r\n" if end else "\r\n")).encode()


def header_limit_statuses(url: str) -> dict[str, int]:
    """What a server answers to heads around the 16 KiB / 100 headers limits (a GET of /v2/health/live)."""
    path = "/v2/health/live"
    cases = {
        "one 200 KB header": request_head(path, [("X-Big", "a" * 200_000)]),
        "101 headers": request_head(path, [(f"X-H{i}", "1") for i in range(100)]),
        "100 headers": request_head(path, [(f"X-H{i}", "1") for i in range(99)]),
        "15 KiB of headers": request_head(path, [("X-Fill", "a" * 15 * 1024)]),
        "an unfinished 64 KiB head, sent slowly": request_head(path, [("X-Big", "a" * 64 * 1024)], end=False),
    }
    return {
        name: raw_exchange(url, head, chunk=4096 if "slowly" in name else 1 << 20)[0] for name, head in cases.items()
    }


HEADER_LIMITS_EXPECTED = {
    "one 200 KB header": 431,
    "101 headers": 431,
    "100 headers": 200,
    "15 KiB of headers": 200,
    "an unfinished 64 KiB head, sent slowly": 431,
}


def copy_circuits(tiny_circuit: Path, folder: Path) -> Path:
    """A --circuits folder serving the tiny circuit (as MODEL)."""
    shutil.copytree(tiny_circuit, folder / "tiny")
    return folder
