"""Verification of LLM receipts by re-execution with the real bundled model: honest answers pass on
another thread count and without the KV cache; a swapped model, edited tokens, a changed seed or
prompt, or a forged signature fail the check that names it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.llm_harness import ALT_MODEL_DIR, MODEL_DIR, answer, in_process_service
from zkinfer.core.crypto import identity
from zkinfer.llm import modeldir
from zkinfer.llm.receipt import LlmReceipt, parse, prompt_digest, sign
from zkinfer.llm.verify import LlmCheckName, verify_document, verify_file
from zkinfer.verify import documents
from zkinfer.verify.verdict import Document, Status, Verdict

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

SAMPLED = {
    "messages": [{"role": "user", "content": "json.dumps"}],
    "temperature": 0.9,
    "top_p": 0.95,
    "seed": 21,
    "max_tokens": 80,
}
GREEDY = {"prompt": "Return the", "temperature": 0.0, "max_tokens": 70}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return in_process_service(MODEL_DIR, tmp_path_factory.mktemp("llm-verify"))


@pytest.fixture(scope="module")
def engine(service: Any) -> Any:
    return service.engine  # loaded once: verify_document(engine=...) skips reloading the model


@pytest.fixture(scope="module")
def sampled(service: Any) -> LlmReceipt:
    return answer(service, SAMPLED).receipt


@pytest.fixture(scope="module")
def greedy(service: Any) -> LlmReceipt:
    return answer(service, GREEDY).receipt


@pytest.fixture(scope="module")
def alt_service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return in_process_service(ALT_MODEL_DIR, tmp_path_factory.mktemp("llm-alt"))


def statuses(verdict: Verdict) -> dict[str, Status]:
    return {str(c.name): c.status for c in verdict.checks}


def resigned(receipt: LlmReceipt, key: identity.NodeKey, edit: Any) -> dict[str, Any]:
    """The receipt with `edit` applied to its JSON, signed again by `key`: a lie the node signs."""
    document = receipt.model_dump(mode="json")
    edit(document)
    document["signature"] = None
    return sign(parse(document), key).model_dump(mode="json")


@pytest.fixture
def threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("which", ["sampled", "greedy"])
def test_an_honest_answer_verifies_by_re_execution(which: str, request: pytest.FixtureRequest, engine: Any) -> None:
    receipt: LlmReceipt = request.getfixturevalue(which)
    assert len(receipt.completion.token_ids) > 1
    verdict = verify_document(receipt.model_dump(mode="json"), MODEL_DIR, engine=engine)
    assert verdict.verified and verdict.reexecuted, verdict.summary
    assert set(statuses(verdict).values()) == {Status.PASS}
    assert [c.name for c in verdict.checks] == list(LlmCheckName)
    assert verdict.pinned == [f"model {modeldir.digest(MODEL_DIR)}"]
    assert isinstance(verdict, Verdict)


def test_honest_answers_verify_on_another_thread_count(
    sampled: LlmReceipt, greedy: LlmReceipt, engine: Any, threads: None
) -> None:
    """The node generated with one thread and a KV cache; the verifier prefills without one, on two threads."""
    torch.set_num_threads(2)
    for receipt in (sampled, greedy):
        assert verify_document(receipt.model_dump(mode="json"), MODEL_DIR, engine=engine).verified


def test_without_the_model_only_form_and_signature(sampled: LlmReceipt, tmp_path: Path) -> None:
    path = tmp_path / "llm-receipt.json"
    path.write_text(sampled.model_dump_json(indent=2))
    assert documents.read(path).kind is Document.LLM_RECEIPT  # dispatched by its schema field
    verdict = verify_file(path)
    assert verdict.verified and not verdict.reexecuted and not verdict.identity_pinned
    assert verdict.summary.startswith("FORM AND SIGNATURE ONLY")
    assert statuses(verdict) == {
        "well-formed": Status.PASS,
        "sampling": Status.PASS,
        "identity": Status.UNPINNED,
        "tokens": Status.SKIP,
        "activations": Status.SKIP,
        "signature": Status.PASS,
    }
    pinned = verify_file(
        path,
        expect_model=sampled.model.digest,
        expect_signer=sampled.signature.public_key if sampled.signature else None,
    )
    assert pinned.verified and statuses(pinned)["identity"] == Status.PASS
    assert not verify_file(path, expect_model="sha256:" + "0" * 64).verified


def test_a_swapped_model_is_caught(alt_service: Any, service: Any, engine: Any) -> None:
    """The node serves the second checkpoint: stating its digest fails identity; stating the pinned model's digest fails
    tokens and activations."""
    honest_alt = answer(alt_service, SAMPLED).receipt
    stated = verify_document(honest_alt.model_dump(mode="json"), MODEL_DIR, engine=engine)
    assert statuses(stated)["identity"] == Status.FAIL and "model.safetensors" in stated.check("identity").detail
    lie = resigned(
        honest_alt,
        alt_service.key,
        lambda d: d["model"].update(digest=service.engine.digest, files=service.engine.files),
    )
    verdict = verify_document(lie, MODEL_DIR, engine=engine)
    assert statuses(verdict)["identity"] == Status.PASS  # the digest it states is the right one...
    assert (
        statuses(verdict)["tokens"] == Status.FAIL and statuses(verdict)["activations"] == Status.FAIL
    )  # ...but not what it ran
    assert statuses(verdict)["signature"] == Status.PASS and not verdict.verified


def test_edited_tokens_are_caught(sampled: LlmReceipt, service: Any, engine: Any) -> None:
    def edit(document: dict[str, Any]) -> None:
        tokens = document["completion"]["token_ids"]
        tokens[len(tokens) // 2] = (tokens[len(tokens) // 2] + 1) % engine.vocab_size

    verdict = verify_document(resigned(sampled, service.key, edit), MODEL_DIR, engine=engine)
    assert statuses(verdict)["tokens"] == Status.FAIL and not verdict.verified
    edited = len(sampled.completion.token_ids) // 2
    assert (
        f"(positions {edited}" in verdict.check("tokens").detail
    )  # the first wrong token is the edited one (later draws saw it as context)


def test_a_changed_seed_is_caught(sampled: LlmReceipt, service: Any, engine: Any) -> None:
    verdict = verify_document(
        resigned(sampled, service.key, lambda d: d["sampling"].update(seed=22)), MODEL_DIR, engine=engine
    )
    assert statuses(verdict)["tokens"] == Status.FAIL
    assert statuses(verdict)["activations"] == Status.PASS  # the same tokens ran: only the draws are wrong


def test_a_changed_prompt_is_caught(greedy: LlmReceipt, service: Any, engine: Any) -> None:
    """A node that answered another prompt (e.g. with a hidden system prompt) and states the user's."""
    other = answer(service, {**GREEDY, "prompt": "Return a"}).receipt

    def edit(document: dict[str, Any]) -> None:
        document["prompt"] = {
            **document["prompt"],
            "token_ids": greedy.prompt.token_ids,
            "digest": prompt_digest(greedy.prompt.token_ids),
        }

    verdict = verify_document(resigned(other, service.key, edit), MODEL_DIR, engine=engine)
    assert statuses(verdict)["activations"] == Status.FAIL and not verdict.verified


def test_a_tampered_receipt_fails_its_signature(sampled: LlmReceipt, engine: Any) -> None:
    document = sampled.model_dump(mode="json")
    document["completion"]["finish_reason"] = "length" if document["completion"]["finish_reason"] == "stop" else "stop"
    verdict = verify_document(document, MODEL_DIR, engine=engine)
    assert statuses(verdict)["signature"] == Status.FAIL and statuses(verdict)["sampling"] == Status.FAIL
    other_signer = identity.new_key().public_hex
    assert (
        statuses(verify_document(sampled.model_dump(mode="json"), expect_signer=other_signer))["signature"]
        == Status.FAIL
    )


def test_malformed_receipts_fail_well_formed() -> None:
    verdict = verify_document({"schema_version": "zkinfer.llm-receipt/1"})
    assert statuses(verdict)["well-formed"] == Status.FAIL and not verdict.verified
    assert all(status == Status.SKIP for name, status in statuses(verdict).items() if name != "well-formed")


def test_commitments_are_258_bytes_per_32_tokens(sampled: LlmReceipt) -> None:
    n = len(sampled.completion.token_ids)
    assert len(sampled.commitments.values) == -(-n // 32)
    assert {len(v) for v in sampled.commitments.values} == {258}


def test_zkinfer_verify_exits_0_1_2_on_llm_receipts(sampled: LlmReceipt, tmp_path: Path) -> None:
    """`zkinfer verify` dispatches on the LLM receipt's schema: verified, not verified, unreadable."""
    from tests.cli import zkinfer

    good, bad, broken = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "broken.json"
    good.write_text(sampled.model_dump_json())
    document = sampled.model_dump(mode="json")
    document["sampling"]["seed"] += 1
    bad.write_text(json.dumps(document))
    broken.write_text('{"schema_version": "zkinfer.llm-receipt/1",')
    verified = zkinfer("verify", good, "--model", MODEL_DIR)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "VERIFIED" in verified.stdout and re.search(r"^PASS +tokens ", verified.stdout, re.M), verified.stdout
    assert zkinfer("verify", bad).returncode == 1
    assert zkinfer("verify", broken).returncode == 2
    form_only = zkinfer("verify", good, "--json")
    assert form_only.returncode == 0 and "FORM AND SIGNATURE ONLY" in json.loads(form_only.stdout)["summary"]


def test_honest_activations_hold_in_a_padded_batch_of_four(sampled: LlmReceipt, engine: Any) -> None:
    """An honest node that batched this request with three others (right-padded, attention-masked) commits within
    tolerance."""
    from zkinfer.llm import commitments

    ids = sampled.prompt.token_ids + sampled.completion.token_ids
    others = [list(range(5, 5 + n)) for n in (7, 150, 60)]
    rows = [ids[:-1], *others]
    width = max(map(len, rows))
    batch = torch.zeros((4, width), dtype=torch.long)
    mask = torch.zeros((4, width), dtype=torch.long)
    for i, row in enumerate(rows):
        batch[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    with torch.inference_mode():
        hidden = engine.model(
            input_ids=batch, attention_mask=mask, output_hidden_states=True, use_cache=False
        ).hidden_states[-1]
    mine = hidden[0, len(sampled.prompt.token_ids) - 1 : len(ids) - 1].float().numpy()
    for index, value in enumerate(sampled.commitments.values):
        assert commitments.check(value, mine[index * 32 : (index + 1) * 32]).within()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_node_computing_in_lower_precision_is_caught_by_its_activations(
    dtype: str, tmp_path: Path, engine: Any
) -> None:
    """The node loads the honest model (so it states its digest) but computes in fp16 or bf16: even where
    every token equals the honest model's, the commitments hold top-k values that float noise cannot
    explain; TOPLOC's published bounds alone would let them pass."""
    import copy

    from zkinfer.llm.commitments import Tolerance

    cheap = in_process_service(MODEL_DIR, tmp_path / "cheap")
    cheap.engine.model = copy.deepcopy(cheap.engine.model).to(getattr(torch, dtype))
    for body in (GREEDY, SAMPLED, {**GREEDY, "prompt": "Split the", "max_tokens": 12}):
        document = answer(cheap, body).receipt.model_dump(mode="json")
        verdict = verify_document(document, MODEL_DIR, engine=engine)
        assert not verdict.verified and statuses(verdict)["activations"] == Status.FAIL, verdict.summary
        assert re.search(
            r"\d+ of 128 values differ beyond float noise \(tolerance 1\)", verdict.check("activations").detail
        )
        toploc_only = verify_document(document, MODEL_DIR, engine=engine, tolerance=Tolerance(max_unexplained=128))
        assert statuses(toploc_only)["activations"] == Status.PASS
