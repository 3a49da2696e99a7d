"""LLM serving through the gateway, audited by sampling (issue 20, item 5), with real parts only.

Three real LLM nodes on loopback — two honest (`a`, `b`) and one lying (`liar`: generates with
tiny-stdlib-alt while its `/v1/models` and every receipt it signs state tiny-stdlib) — behind a real
`zkinfer gateway` re-executing every answer (`audit_share = 1.0`), driven by the official `openai`
client. The liar is caught and its evidence holds offline; the honest nodes are never accused, even
when the liar audits them; tampered evidence does not hold; and an honest answer generated on another
machine configuration (threads, batch, KV cache) never makes evidence that holds.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli import zkinfer
from tests.gateway_harness import GATEWAY_KEY, RunningGateway, start_gateway
from tests.llm_harness import (
    ALT_MODEL_DIR,
    API_KEY,
    LLM_KEY_ENV,
    MODEL,
    MODEL_DIR,
    RunningLlmNode,
    llm_nodes_toml,
    start_llm_node,
    start_lying_llm_node,
)
from tests.waiting import wait_until
from zkinfer.llm import modeldir
from zkinfer.network.gateway_state import REPUTATION_CACHE_S

openai = pytest.importorskip("openai")
pytest.importorskip("transformers")

NAMES = ("a", "b", "liar")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningLlmNode]]:
    folder = tmp_path_factory.mktemp("llm-network")
    started: dict[str, RunningLlmNode] = {}
    starts: dict[str, Callable[[Path], RunningLlmNode]] = {
        "a": start_llm_node,
        "b": start_llm_node,
        "liar": start_lying_llm_node,
    }
    try:
        with ThreadPoolExecutor(3) as pool:  # at once: each loads torch and the model
            futures = {name: pool.submit(start, folder / name) for name, start in starts.items()}
            errors = [future.exception() for future in futures.values()]
            started.update({name: f.result() for name, f in futures.items() if f.exception() is None})
        if any(errors):
            raise next(e for e in errors if e is not None)
        yield started
    finally:
        for node in started.values():
            node.stop()


@pytest.fixture(scope="module")
def gateway(nodes: dict[str, RunningLlmNode], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    os.environ[LLM_KEY_ENV] = API_KEY  # the gateway inherits it: nodes.toml names it as the nodes' API key
    toml = llm_nodes_toml([(name, nodes[name]) for name in NAMES], audit_share=1.0)
    running = start_gateway(tmp_path_factory.mktemp("llm-gateway"), toml)
    try:
        yield running
    finally:
        running.stop()
        os.environ.pop(LLM_KEY_ENV, None)


@pytest.fixture(scope="module")
def client(gateway: RunningGateway) -> Any:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=GATEWAY_KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def engine() -> Any:
    from zkinfer.llm.engine import Engine

    return Engine(MODEL_DIR)


def receipt_of(answer: Any) -> dict[str, Any]:
    receipt = answer.model_extra["zkinfer_receipt"]
    assert isinstance(receipt, dict)
    return receipt


def tenant(gateway: RunningGateway) -> str:
    return gateway.request_id("x").removesuffix("x")


def key_of(node: RunningLlmNode) -> str:
    return str(httpx.get(f"{node.url}/v1/identity", timeout=30).json()["public_key"])


def test_the_gateway_lists_the_model_its_llm_nodes_serve(client: Any) -> None:
    models = client.models.list().data
    assert [m.id for m in models] == [MODEL]
    assert models[0].model_extra["zkinfer_model_digest"] == modeldir.digest(MODEL_DIR)
    assert models[0].model_extra["zkinfer_nodes"] == 3  # the liar states the same digest


def test_one_node_answers_with_the_gateways_request_id_and_seed(client: Any, gateway: RunningGateway) -> None:
    raw = client.completions.with_raw_response.create(
        model=MODEL,
        prompt="Return the",
        max_tokens=12,
        temperature=0.8,
        extra_headers={"Zkinfer-Request-Id": "chosen-by-the-client"},
    )
    answer, receipt = raw.parse(), receipt_of(raw.parse())
    assert raw.headers["zkinfer-node"] in NAMES and answer.choices[0].text is not None
    assert receipt["request_id"].startswith(tenant(gateway)) and "chosen-by-the-client" not in receipt["request_id"]
    assert isinstance(receipt["sampling"]["seed"], int)  # the client sent none: the gateway chose one
    seeded = client.completions.create(model=MODEL, prompt="Return the", max_tokens=4, seed=7)
    assert receipt_of(seeded)["sampling"]["seed"] == 7


def test_streams_pass_through_with_the_receipt_last(client: Any) -> None:
    started = time.perf_counter()
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "json.dumps"}], max_tokens=16, stream=True
    )
    chunks = list(stream)
    assert time.perf_counter() - started < 60
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and "zkinfer_receipt" in (chunks[-1].model_extra or {})


def test_unknown_model_and_missing_key_are_openai_errors(gateway: RunningGateway, client: Any) -> None:
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="no-such-model", prompt="x", max_tokens=2)
    refused = httpx.post(f"{gateway.url}/v1/completions", json={"model": MODEL, "prompt": "x"}, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    url, auth = f"{gateway.url}/v1/completions", gateway.auth
    assert httpx.post(url, content=b"x" * (2 << 20), headers=auth, timeout=30).status_code == 413
    not_json = httpx.post(url, content=b"{", headers=auth, timeout=30)
    assert not_json.status_code == 400 and not_json.json()["error"]["message"].startswith("body: not JSON")


def wait_for(check: Any, timeout_s: float = 120) -> Any:
    return wait_until(check, what=getattr(check, "__name__", "the condition"), timeout_s=timeout_s, interval_s=0.3)


@pytest.fixture(scope="module")
def caught(client: Any, gateway: RunningGateway) -> tuple[list[str], list[dict[str, Any]]]:
    """Six answers through the gateway, every one re-executed: who served each, and the evidence once settled."""
    served = []
    for i in range(6):  # the nodes in good standing take turns: the liar answers within the first three
        raw = client.completions.with_raw_response.create(
            model=MODEL, prompt=f"Return the {i}", max_tokens=10, temperature=0.7
        )
        served.append(raw.headers["zkinfer-node"])
    wait_for(lambda: gateway.get("/v1/llm").json()["pending"] == 0)
    return served, list(gateway.get("/v1/evidence", GATEWAY_KEY).json()["evidence"])


def test_the_liar_is_caught_by_sampling_and_the_honest_never_accused(
    caught: tuple[list[str], list[dict[str, Any]]], gateway: RunningGateway, nodes: dict[str, RunningLlmNode]
) -> None:
    served, evidence = caught
    assert "liar" in served and {"a", "b"} & set(served)
    assert evidence and {e["accused"] for e in evidence} == {key_of(nodes["liar"]).removeprefix("0x")}
    assert all(e["kind"] == "llm-mismatch" and e["node"] == "liar" for e in evidence)

    def liar_ranks_last() -> dict[str, dict[str, Any]] | None:  # scores are cached for REPUTATION_CACHE_S
        rows = gateway.nodes()
        return rows if rows["liar"]["reputation"] < min(rows["a"]["reputation"], rows["b"]["reputation"]) else None

    rows = wait_for(liar_ranks_last, timeout_s=REPUTATION_CACHE_S + 10)
    assert rows["liar"]["evidence"] >= 1 and rows["a"]["evidence"] == rows["b"]["evidence"] == 0
    assert rows["a"]["agreed"] + rows["b"]["agreed"] >= 1 and rows["liar"]["kind"] == "llm"
    assert gateway.get("/v1/llm").json()["audits"] >= len(served)
    page = gateway.get("/ui").text
    assert 'data-node="liar"' in page and "llm-mismatch" in page


def evidence_document(caught: tuple[list[str], list[dict[str, Any]]], gateway: RunningGateway) -> dict[str, Any]:
    document = gateway.get(caught[1][0]["url"], GATEWAY_KEY).json()
    assert document["node"] == "liar" and len(document["attestations"]) == 2  # both honest nodes disagreed
    return dict(document)


def test_the_evidence_holds_offline_and_tampering_is_refused(
    caught: tuple[list[str], list[dict[str, Any]]], gateway: RunningGateway, tmp_path: Path
) -> None:
    document = evidence_document(caught, gateway)
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(document))
    holds = zkinfer("verify-evidence", path, "--model", MODEL_DIR)
    assert holds.returncode == 0, holds.stdout + holds.stderr
    assert "HOLDS" in holds.stdout and "re-execution" in holds.stdout

    tampered = copy.deepcopy(document)
    tokens = tampered["receipt"]["completion"]["token_ids"]
    tokens[0] = (tokens[0] + 1) % 1000
    path.write_text(json.dumps(tampered))
    refused = zkinfer("verify-evidence", path, "--model", MODEL_DIR, "--json")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    verdict = json.loads(refused.stdout)
    assert verdict["holds"] is False
    assert {c["name"]: c["status"] for c in verdict["checks"]}["signature"] == "fail"
    path.write_text(json.dumps(document))
    other_model = zkinfer("verify-evidence", path, "--model", ALT_MODEL_DIR)
    assert other_model.returncode == 2 and "--model" in other_model.stdout + other_model.stderr


def test_tampered_attestations_do_not_hold(
    caught: tuple[list[str], list[dict[str, Any]]], gateway: RunningGateway, engine: Any
) -> None:
    from zkinfer.verify import llm_evidence

    document = evidence_document(caught, gateway)
    assert llm_evidence.check(document, engine=engine).holds
    flipped = copy.deepcopy(document)
    flipped["attestations"][0]["verdict"] = "agree"
    verdict = llm_evidence.check(flipped, engine=engine)
    assert not verdict.holds and verdict.check("attestation").status == "fail"
    renamed = copy.deepcopy(document)
    renamed["accused"] = renamed["attestations"][0]["signature"]["public_key"].removeprefix("0x")
    assert not llm_evidence.check(renamed, engine=engine).holds  # another key did not sign the receipt


@pytest.mark.parametrize(("threads", "batch", "kv_cache"), [(2, 4, False), (1, 4, True), (2, 1, False)])
def test_honest_answers_on_other_configurations_never_make_evidence(
    engine: Any, nodes: dict[str, RunningLlmNode], tmp_path: Path, threads: int, batch: int, kv_cache: bool
) -> None:
    """Generated with another thread count, batch and KV cache; a false `disagree` attestation does
    not make it evidence that holds, and an honest node re-executing it agrees."""
    import torch

    from benchmarks.bench_llm import answer, configured_engine, make_service, prepare
    from zkinfer.core.crypto import identity
    from zkinfer.llm import attestation
    from zkinfer.llm.receipt import parse
    from zkinfer.verify import llm_evidence

    service = make_service(engine, tmp_path / "honest")
    companions = [prepare(service, {"prompt": f"def f{i}(x):", "max_tokens": 4}).prompt for i in range(3)]
    configured = make_service(configured_engine(engine, batch, kv_cache, companions), tmp_path / "configured")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        body = {"messages": [{"role": "user", "content": "os.path.join"}], "max_tokens": 40, "temperature": 0.9}
        done = answer(configured, body, f"honest-{threads}-{batch}-{int(kv_cache)}")
    finally:
        torch.set_num_threads(before)
    receipt = done.receipt.model_dump(mode="json")

    reply = httpx.post(
        f"{nodes['b'].url}/v1/attestations", json=receipt, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120
    )
    assert reply.status_code == 200 and reply.json()["verdict"] == "agree", reply.text

    honest = attestation.reexecute(parse(receipt), engine, identity.new_key())
    false = attestation.sign(honest.model_copy(update={"verdict": "disagree", "signature": None}), identity.new_key())
    document = {
        "schema": llm_evidence.SCHEMA,
        "kind": llm_evidence.KIND,
        "accused": done.receipt.signature.public_key.removeprefix("0x"),
        "node": "honest",
        "request_id": done.receipt.request_id,
        "observed_at": int(time.time()),
        "receipt": receipt,
        "attestations": [false.model_dump(mode="json")],
    }
    verdict = llm_evidence.check(document, engine=engine)
    assert not verdict.holds and verdict.check("re-execution").status == "fail"
    assert verdict.check("signature").status == verdict.check("attestation").status == "pass"


def test_an_auditor_refuses_a_receipt_of_another_model(nodes: dict[str, RunningLlmNode]) -> None:
    from tests.llm_harness import answer, in_process_service

    alt = in_process_service(ALT_MODEL_DIR, Path(nodes["a"].state_dir).parent / "alt-service")
    receipt = answer(alt, {"prompt": "Return the", "max_tokens": 4}).receipt.model_dump(mode="json")
    reply = httpx.post(
        f"{nodes['a'].url}/v1/attestations", json=receipt, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    )
    assert reply.status_code == 422 and "receipt.model.digest" in reply.json()["error"]["message"]


def test_nodes_toml_pins_llm_nodes_apart_from_the_quorum() -> None:
    from tests.gateway_harness import pinned_toml
    from zkinfer.core.crypto import identity
    from zkinfer.network import nodeset

    keys = [identity.new_key() for _ in range(3)]
    text = pinned_toml([(f"n{i}", f"http://127.0.0.1:{9000 + i}", k) for i, k in enumerate(keys)])
    text = text.replace('name = "n2"', 'name = "n2"\nkind = "llm"') + "\n[llm]\naudit_share = 0.25\n"
    parsed = nodeset.parse(text)
    assert [n.name for n in parsed.nodes] == ["n0", "n1"] and [n.name for n in parsed.llm_nodes] == ["n2"]
    assert parsed.total_weight() == 2 and parsed.quorum.threshold == 2 and parsed.llm.audit_share == 0.25
    assert nodeset.parse(nodeset.dump(parsed)) == parsed
    with pytest.raises(nodeset.NodeSetError, match=r"llm\.audit_share"):
        nodeset.parse(text.replace("audit_share = 0.25", "audit_share = 2"))
    with pytest.raises(nodeset.NodeSetError, match=r"\(n2\)\.kind"):
        nodeset.parse(text.replace('kind = "llm"', 'kind = "gpt"'))
    only_llm = text.replace('name = "n0"', 'name = "n0"\nkind = "llm"').replace(
        'name = "n1"', 'name = "n1"\nkind = "llm"'
    )
    assert nodeset.parse(only_llm).nodes == () and len(nodeset.parse(only_llm).llm_nodes) == 3
