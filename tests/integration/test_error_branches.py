"""Errors grouped by who must act: usage (exit 2, HTTP 4xx), verification failed (exit 1), and
infrastructure that a retry or an operator fixes (exit 3, HTTP 503 with Retry-After). The exit code
comes from the type alone: only the three branch roots set one."""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import zkinfer
from tests.cli import zkinfer as run_cli
from tests.gateway_harness import NODE_KEY_ENV, pinned_toml, start_gateway
from tests.node_harness import free_port
from zkinfer.core.crypto import identity
from zkinfer.core.support import errors
from zkinfer.core.support.errors import InfrastructureError, UsageError, VerificationFailed, ZkinferError

ROOTS = {ZkinferError: 2, UsageError: 2, VerificationFailed: 1, InfrastructureError: 3}


def _every_error_class() -> list[type[ZkinferError]]:
    for module in pkgutil.walk_packages(zkinfer.__path__, "zkinfer."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)

    def walk(cls: type[ZkinferError]) -> Iterator[type[ZkinferError]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    return sorted(set(walk(ZkinferError)), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _branch(cls: type[ZkinferError]) -> type[ZkinferError]:
    found = [root for root in (UsageError, VerificationFailed, InfrastructureError) if issubclass(cls, root)]
    assert len(found) <= 1, f"{cls.__qualname__} is in two branches: {found}"
    return found[0] if found else ZkinferError  # a direct ZkinferError subclass is bad usage, as the base says


def test_every_error_class_exits_as_its_branch_says_and_only_the_roots_set_a_code() -> None:
    classes = _every_error_class()
    assert len(classes) > 30
    for cls in classes:
        assert cls.exit_code == ROOTS[_branch(cls)], (
            f"{cls.__module__}.{cls.__qualname__}: exit {cls.exit_code}, its branch says {ROOTS[_branch(cls)]}"
        )
        if cls not in ROOTS:
            assert "exit_code" not in vars(cls), (
                f"{cls.__qualname__} sets its own exit code: it must come from its branch"
            )


def test_infrastructure_is_its_own_branch_and_the_old_names_stay_in_it() -> None:
    from zkinfer.chain.challenge import EvidenceDoesNotHold
    from zkinfer.network.outcome import NoQuorum

    assert not issubclass(InfrastructureError, UsageError) and InfrastructureError.exit_code == 3
    for infrastructure in (
        errors.ExecutorError,
        errors.ProverLostError,
        errors.ProofMemoryError,
        errors.ChainUnreachable,
        NoQuorum,
    ):
        assert issubclass(infrastructure, InfrastructureError) and not issubclass(infrastructure, UsageError), (
            infrastructure
        )
    assert issubclass(
        errors.ProverLostError, errors.ExecutorError
    )  # `except ExecutorError` still catches a lost prover
    assert issubclass(EvidenceDoesNotHold, VerificationFailed) and EvidenceDoesNotHold.exit_code == 1
    for usage in (errors.ProvingError, errors.ChainError, errors.ToolchainMissing, errors.InputError):
        assert _branch(usage) is UsageError, usage


def test_retry_after_is_carried_by_the_error() -> None:
    assert errors.ProverLostError("gone").retry_after_s == InfrastructureError.DEFAULT_RETRY_AFTER_S > 0
    assert errors.ChainUnreachable("down", retry_after_s=30).retry_after_s == 30


def test_evidence_that_does_not_hold_is_a_verification_failure() -> None:
    from zkinfer.chain.challenge import evidence_action
    from zkinfer.core.formats import statement
    from zkinfer.network import evidence

    key, forger = identity.new_key(), identity.new_key()
    digest = "sha256:" + "ab" * 32
    said = [statement.Statement(digest, "req-1", digest, None, (0,), ((1, value),)) for value in (2, 3)]
    a, b = (statement.sign(s, key.secret, key.public_key) for s in said)
    document = json.loads(json.dumps(evidence.equivocation(a, b, node="m")))
    document["statements"][1] = statement.sign(
        said[1], forger.secret, key.public_key
    ).to_json()  # forged: no longer the accused's signature
    with pytest.raises(VerificationFailed, match="does not hold") as caught:
        evidence_action(document, None)
    assert caught.value.exit_code == 1


# --- HTTP: the node's table, a real gateway ------------------------------------------------------


def test_the_node_answers_infrastructure_with_503_and_retry_after_and_usage_with_422() -> None:
    """The node's own status table (`statuses.install`) on an app whose routes raise each kind."""
    from fastapi import FastAPI

    from zkinfer.node import statuses

    app = FastAPI()
    statuses.install(app)
    raised: dict[str, ZkinferError] = {
        "lost": errors.ProverLostError("circuit: the prove worker died before the proof was done"),
        "chain": errors.ChainUnreachable(
            "--rpc-url http://127.0.0.1:1: no Ethereum node answers there", retry_after_s=17
        ),
        "input": errors.InputError("inputs: 2 values for an input of 8"),
    }

    @app.get("/{what}")
    async def fail(what: str) -> None:
        raise raised[what]

    async def ask() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as client:
            return [await client.get(f"/{what}") for what in raised]

    lost, chain, bad = asyncio.run(ask())
    assert lost.status_code == 503 and lost.headers["retry-after"] == str(InfrastructureError.DEFAULT_RETRY_AFTER_S)
    assert "prove worker died" in lost.json()["error"]
    assert chain.status_code == 503 and chain.headers["retry-after"] == "17" and "Ethereum" in chain.json()["error"]
    assert bad.status_code == 422 and "retry-after" not in bad.headers


def test_the_gateway_answers_infrastructure_with_503_and_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's own app (`create_app` over a loaded gateway), one route added that raises."""
    from zkinfer.network import gateway as gateway_mod

    monkeypatch.setenv(NODE_KEY_ENV, "node-api-key")  # the pinned node's api_key_env

    nodes = tmp_path / "nodes.toml"
    nodes.write_text(pinned_toml([("alpha", f"http://127.0.0.1:{free_port()}", identity.new_key())]))
    loaded = gateway_mod.load(gateway_mod.GatewayConfig(nodes=nodes, state_dir=tmp_path / "state"))
    app = gateway_mod.create_app(loaded)
    raised: dict[str, ZkinferError] = {
        "lost": errors.ExecutorError("the Ray actor failed", retry_after_s=9),
        "usage": UsageError("id: not a string"),
    }

    @app.get("/raise/{what}")
    async def fail(what: str) -> None:
        raise raised[what]

    async def ask() -> list[httpx.Response]:
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
                return [await client.get(f"/raise/{what}") for what in raised]
        finally:
            await loaded.stop()

    lost, usage = asyncio.run(ask())
    loaded.records.close()
    assert (
        lost.status_code == 503
        and lost.headers["retry-after"] == "9"
        and lost.json() == {"error": "the Ray actor failed"}
    )
    assert usage.status_code == 422 and "retry-after" not in usage.headers


def test_the_gateway_answers_no_quorum_with_503_and_retry_after(tmp_path: Path) -> None:
    down = [
        (name, f"http://127.0.0.1:{free_port()}", identity.new_key()) for name in ("alpha", "beta", "gamma")
    ]  # nothing listens
    gateway = start_gateway(tmp_path / "gw", pinned_toml(down, timeout_ms=5_000))
    try:
        response = gateway.infer([0.0] * 8, request_id="nobody-home")
    finally:
        gateway.stop()
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert (
        "no quorum" in body["error"]
        and body["id"] == "nobody-home"
        and set(body["split"]) == {"alpha", "beta", "gamma"}
    )


# --- the CLI: exit 3 where nothing answers -------------------------------------------------------


def test_a_chain_command_whose_rpc_endpoint_does_not_answer_exits_3() -> None:
    stake = "0x" + "11" * 20
    done = run_cli("chain", "status", "--rpc-url", "http://127.0.0.1:1", "--stake", stake)
    assert done.returncode == 3, done.stderr
    assert "--rpc-url http://127.0.0.1:1" in done.stderr and "Traceback" not in done.stderr
    as_json = run_cli("chain", "status", "--rpc-url", "http://127.0.0.1:1", "--stake", stake, "--json")
    assert as_json.returncode == 3 and json.loads(as_json.stdout)["exit_code"] == 3
    bad = run_cli(
        "chain", "status", "--rpc-url", "ftp://127.0.0.1:1", "--stake", stake
    )  # the caller's mistake: still usage
    assert bad.returncode == 2, bad.stderr
