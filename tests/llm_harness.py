"""A real LLM node (`zkinfer serve --llm`) on a free loopback port, and receipts made in process, for the LLM tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cli import REPO
from tests.node_harness import free_port, stop_process, wait_until_up

MODEL_DIR = REPO / "models" / "llm" / "tiny-stdlib"
ALT_MODEL_DIR = REPO / "models" / "llm" / "tiny-stdlib-alt"
MODEL = MODEL_DIR.name
API_KEY = "llm-test-key-0123456789"
OTHER_KEY = "llm-other-key-9876543210"
MAX_TOKENS_CAP = 128


@dataclass
class RunningLlmNode:
    process: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    log: Path

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def stop(self) -> None:
        stop_process(self.process)


def start_llm_node(state_dir: Path, model_dir: Path = MODEL_DIR, *options: str) -> RunningLlmNode:
    """Start the LLM node on a free loopback port and wait until it answers."""
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
        "--llm",
        str(model_dir),
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--api-keys",
        str(keys),
        "--max-tokens",
        str(MAX_TOKENS_CAP),
        "--max-prompt-tokens",
        "200",
        *options,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    node = RunningLlmNode(process=process, url=f"http://127.0.0.1:{port}", state_dir=state_dir, log=log)
    wait_until_up(process, f"{node.url}/health", log, "the LLM node", 120)
    return node


def in_process_service(model_dir: Path, state_dir: Path) -> Any:
    """The service `zkinfer serve --llm` runs, without HTTP: to make receipts for the verifier tests."""
    from zkinfer.core.crypto import identity
    from zkinfer.llm.engine import Engine
    from zkinfer.llm_node.config import LlmConfig
    from zkinfer.llm_node.metrics import LlmMetrics
    from zkinfer.llm_node.service import LlmService
    from zkinfer.llm_node.store import ReceiptStore
    from zkinfer.serving.auth import ApiKeys

    config = LlmConfig(model_dir=model_dir, state_dir=state_dir, max_tokens_cap=256)
    return LlmService(
        config,
        Engine(model_dir),
        identity.new_key(),
        ApiKeys([API_KEY]),
        ReceiptStore(config.receipts_dir),
        LlmMetrics(),
    )


def answer(service: Any, body: dict[str, Any], request_id: str | None = None) -> Any:
    """One answer (`service.Answer`) to an OpenAI request body (chat when it has messages)."""
    from zkinfer.serving.openai import ChatRequest, CompletionRequest

    kind = ChatRequest if "messages" in body else CompletionRequest
    owner = service.owner(f"Bearer {API_KEY}")
    prepared = service.prepare(kind.model_validate({"model": service.model_name, **body}), owner, request_id)
    return asyncio.run(service.answer(prepared))


LLM_KEY_ENV = "ZKINFER_TEST_LLM_KEY"  # the variable nodes.toml names for the LLM nodes' API key (API_KEY)


def start_lying_llm_node(state_dir: Path, serve: Path = ALT_MODEL_DIR, claim: Path = MODEL_DIR) -> RunningLlmNode:
    """`tests.llm_liar`: a real LLM node generating with `serve` while stating `claim`'s identity."""
    state_dir.mkdir(parents=True, exist_ok=True)
    keys = state_dir.parent / f"{state_dir.name}-api-keys"
    keys.write_text(f"{API_KEY}\n{OTHER_KEY}\n")
    port = free_port()
    log = state_dir.parent / f"{state_dir.name}-{port}.log"
    command = [sys.executable, "-m", "tests.llm_liar", "--serve", str(serve), "--claim", str(claim)]
    command += ["--state-dir", str(state_dir), "--api-keys", str(keys), "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    node = RunningLlmNode(process=process, url=f"http://127.0.0.1:{port}", state_dir=state_dir, log=log)
    wait_until_up(process, f"{node.url}/health", log, "the lying LLM node", 120)
    return node


def llm_nodes_toml(nodes: list[tuple[str, RunningLlmNode]], **llm: Any) -> str:
    """nodes.toml pinning LLM nodes (`kind = "llm"`, keys from each node's `/v1/identity`) and an `[llm]` table."""
    import httpx

    lines = ["[llm]", *(f"{k} = {v!r}" for k, v in llm.items())]
    for name, node in nodes:
        identity = httpx.get(f"{node.url}/v1/identity", timeout=30).json()
        lines += ["", "[[nodes]]", f'name = "{name}"', f'url = "{node.url}"', 'kind = "llm"']
        lines += [
            f'public_key = "{identity["public_key"]}"',
            f'proof_of_possession = "{identity["proof_of_possession"]}"',
        ]
        lines.append(f'api_key_env = "{LLM_KEY_ENV}"')
    return "\n".join(lines) + "\n"
