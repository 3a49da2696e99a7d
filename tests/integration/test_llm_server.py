"""The LLM node through the official `openai` client, unchanged, against a real server on loopback:
models, completions, chat, streaming, receipts beside the answer and by id, keys, limits, metrics."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.llm_harness import API_KEY, MAX_TOKENS_CAP, MODEL, MODEL_DIR, OTHER_KEY, RunningLlmNode, start_llm_node
from zkinfer.llm import modeldir
from zkinfer.llm.receipt import check_signature, parse

openai = pytest.importorskip("openai")
pytest.importorskip("transformers")

CHAT = [{"role": "user", "content": "json.dumps"}]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLlmNode]:
    running = start_llm_node(tmp_path_factory.mktemp("llm") / "state")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def client(node: RunningLlmNode) -> Any:
    return openai.OpenAI(base_url=node.base_url, api_key=API_KEY, max_retries=0, timeout=60)


def receipt_of(answer: Any) -> dict[str, Any]:
    receipt = answer.model_extra["zkinfer_receipt"]
    assert isinstance(receipt, dict)
    return receipt


def test_models_lists_the_served_model_with_its_digest(client: Any) -> None:
    models = client.models.list().data
    assert [m.id for m in models] == [MODEL]
    assert models[0].model_extra["zkinfer_model_digest"] == modeldir.digest(MODEL_DIR)


def test_chat_completion_carries_a_signed_receipt_retrievable_by_id(client: Any, node: RunningLlmNode) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=CHAT, max_tokens=40, temperature=0.7, top_p=0.9, seed=11
    )
    answer = raw.parse()
    text = answer.choices[0].message.content
    assert answer.choices[0].finish_reason in ("stop", "length") and text
    receipt = parse(receipt_of(answer))
    check_signature(receipt)
    assert receipt.model.digest == modeldir.digest(MODEL_DIR)
    assert receipt.prompt.kind == "chat" and receipt.sampling.seed == 11 and receipt.sampling.top_p == 0.9
    assert answer.usage.completion_tokens == len(receipt.completion.token_ids) <= 40
    assert answer.usage.prompt_tokens == len(receipt.prompt.token_ids)
    assert raw.headers["zkinfer-receipt-id"] == receipt.request_id and answer.id == f"chatcmpl-{receipt.request_id}"
    stored = httpx.get(f"{node.url}/v1/receipts/{receipt.request_id}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert stored.status_code == 200 and parse(stored.json()) == receipt
    other_tenant = httpx.get(
        f"{node.url}/v1/receipts/{receipt.request_id}", headers={"Authorization": f"Bearer {OTHER_KEY}"}
    )
    assert other_tenant.status_code == 404


def test_the_same_seed_and_request_id_give_the_same_answer(client: Any) -> None:
    """The draws come from (seed, request id, position) only: a verifier (here, a second tenant) redoes them."""
    other = openai.OpenAI(base_url=client.base_url, api_key=OTHER_KEY, max_retries=0)
    answers = [
        c.completions.create(
            model=MODEL,
            prompt="Return the",
            max_tokens=24,
            temperature=1.0,
            seed=5,
            extra_headers={"Zkinfer-Request-Id": "same-id-1"},
        )
        for c in (client, other)
    ]
    assert answers[0].choices[0].text == answers[1].choices[0].text
    assert receipt_of(answers[0])["completion"] == receipt_of(answers[1])["completion"]
    changed = client.completions.create(
        model=MODEL,
        prompt="Return the",
        max_tokens=24,
        temperature=1.0,
        seed=6,
        extra_headers={"Zkinfer-Request-Id": "same-id-2"},
    )
    assert receipt_of(changed)["completion"]["token_ids"] != receipt_of(answers[0])["completion"]["token_ids"]
    with pytest.raises(openai.ConflictError, match="already answered"):
        client.completions.create(
            model=MODEL, prompt="Return the", max_tokens=4, extra_headers={"Zkinfer-Request-Id": "same-id-1"}
        )


def test_chat_stream_delivers_the_text_then_the_receipt(client: Any) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=CHAT, max_tokens=48, temperature=0.0, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    receipt = parse(receipt_of(last))
    check_signature(receipt)
    assert finish == [receipt.completion.finish_reason]
    assert last.usage.completion_tokens == len(receipt.completion.token_ids)
    whole = client.chat.completions.create(
        model=MODEL, messages=CHAT, max_tokens=48, temperature=0.0
    )  # greedy: the same tokens
    assert whole.choices[0].message.content == text
    assert receipt_of(whole)["completion"]["token_ids"] == receipt.completion.token_ids


def test_completion_stream_and_stop_strings(client: Any) -> None:
    full = client.completions.create(model=MODEL, prompt="Return the", max_tokens=40, temperature=0.0).choices[0].text
    assert len(full) > 10
    stop = full[6:9]
    stream = client.completions.create(
        model=MODEL, prompt="Return the", max_tokens=40, temperature=0.0, stop=[stop], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == full[: full.index(stop)]
    receipt = receipt_of(chunks[-1])
    assert receipt["completion"]["finish_reason"] == "stop" and receipt["sampling"]["stop"] == [stop]


def test_unauthenticated_and_unknown_model_are_refused(node: RunningLlmNode, client: Any) -> None:
    stranger = openai.OpenAI(base_url=node.base_url, api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=4)
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4", messages=CHAT, max_tokens=4)


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"max_tokens": MAX_TOKENS_CAP + 1}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "os.path " * 150}]}, "messages"),
        ({"n": 2}, "n"),
        ({"temperature": 3.0}, "temperature"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ],
)
def test_limits_and_unsupported_options_are_4xx_naming_the_field(
    client: Any, options: dict[str, Any], param: str
) -> None:
    body = {"model": MODEL, "messages": CHAT, "max_tokens": 4, **options}
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.chat.completions.create(**body)
    error = refused.value.body
    assert error["param"] == param and param in error["message"]


def test_text_prompt_over_the_limit_names_prompt(client: Any) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.completions.create(model=MODEL, prompt="Return the " * 200, max_tokens=4)
    assert refused.value.body["param"] == "prompt"


def test_metrics_count_requests_and_tokens(node: RunningLlmNode, client: Any) -> None:
    client.completions.create(model=MODEL, prompt="Return", max_tokens=3, temperature=0.0)
    assert httpx.get(f"{node.url}/metrics").status_code == 401
    text = httpx.get(f"{node.url}/metrics", headers={"Authorization": f"Bearer {API_KEY}"}).text
    assert 'zkinfer_llm_requests_total{code="200",route="/v1/completions"}' in text
    assert "zkinfer_llm_completion_tokens_total" in text and "zkinfer_llm_first_token_seconds_bucket" in text


def test_receipts_are_stored_in_the_state_directory(node: RunningLlmNode, client: Any) -> None:
    """One file per answer, written atomically: a restarted node still serves them by id."""
    answer = client.completions.create(model=MODEL, prompt="Return", max_tokens=3, temperature=0.0)
    request_id = receipt_of(answer)["request_id"]
    files = list((node.state_dir / "llm-receipts").glob("*.json"))
    assert any(parse(json.loads(f.read_text())).request_id == request_id for f in files)
    assert not list((node.state_dir / "llm-receipts").glob(".*.tmp"))


def test_concurrent_requests_queue_and_all_get_receipts(client: Any) -> None:
    """One generation at a time; the others wait their turn (up to --max-queue) and each gets its own answer."""
    from concurrent.futures import ThreadPoolExecutor

    def ask(seed: int) -> dict[str, Any]:
        stream = client.completions.create(
            model=MODEL, prompt="Return the", max_tokens=16, temperature=1.0, seed=seed, stream=True
        )
        return receipt_of(list(stream)[-1])

    with ThreadPoolExecutor(4) as pool:
        receipts = list(pool.map(ask, range(4)))
    assert len({r["request_id"] for r in receipts}) == 4
    assert [r["sampling"]["seed"] for r in receipts] == [0, 1, 2, 3]


def test_a_full_queue_is_429_with_retry_after(tmp_path: Path) -> None:
    import asyncio

    from tests.llm_harness import in_process_service
    from zkinfer.llm_node.service import QueueFull
    from zkinfer.serving.openai import CompletionRequest

    service = in_process_service(MODEL_DIR, tmp_path)
    service.config = dataclasses.replace(service.config, max_queue=0)
    owner = service.owner(f"Bearer {API_KEY}")

    async def two_at_once() -> None:
        first = service.stream(
            service.prepare(CompletionRequest(model=MODEL, prompt="Return", max_tokens=8), owner, None)
        )
        await first.__anext__()  # generating
        with pytest.raises(QueueFull) as refused:
            service.check_room()
        assert refused.value.retry_after_s >= 1
        async for _ in first:
            pass

    asyncio.run(two_at_once())


def test_a_client_gone_mid_stream_frees_the_model(node: RunningLlmNode, client: Any) -> None:
    body = {
        "model": MODEL,
        "prompt": "Return the",
        "max_tokens": MAX_TOKENS_CAP,
        "temperature": 1.0,
        "seed": 1,
        "stream": True,
    }
    with httpx.stream(
        "POST", f"{node.url}/v1/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    ) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        first = next(response.iter_lines())
        assert first.startswith("data: {")
    after = client.completions.create(
        model=MODEL, prompt="Return", max_tokens=4, temperature=0.0
    )  # not stuck behind the abandoned stream
    assert after.choices[0].finish_reason in ("stop", "length")
