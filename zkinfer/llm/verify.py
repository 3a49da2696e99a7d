"""Verify an LLM receipt: by re-execution when the auditor has the model, else its form and signature.

With the model directory, one prefill pass over prompt + completion recomputes every distribution
the node drew from and every last hidden state it committed to, and the verdict names each check:

- `well-formed`: the schema, the prompt digest, one commitment per 32 tokens of the right size.
- `sampling`: the sampler and parameters are known and in range, and the answer ended as it says
  (`length`: exactly max_tokens, no end-of-text or stop string before; `stop`: the last token is
  end-of-text or completes a stop string). Needs the tokenizer for stop strings.
- `identity`: the model digest the receipt states is the auditor's copy's (or the pinned digest).
- `tokens`: each token is the seeded sampler's draw from the recomputed distribution, with the
  margin rule of `sampling.accepts` for near-ties (float order differs across machines).
- `activations`: each TOPLOC commitment matches the recomputed hidden states within `commitments.Tolerance`
  (TOPLOC's bounds; at most 1 top-k value a chunk beyond float noise: what catches fp16, bf16, int8).
- `signature`: the node's BLS signature over the receipt (and the pinned signer, when given).

Without the model only `well-formed`, `sampling` (its form) and `signature` run, and the verdict
says that tokens and activations were not re-executed. The result is the project's `Verdict` (a
subclass whose checks carry these names, so `verify` renders it as any other).
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from zkinfer.core.crypto import identity
from zkinfer.core.support.errors import ZkinferError
from zkinfer.llm import commitments, modeldir, sampling
from zkinfer.llm.receipt import LlmReceipt, check_signature, parse
from zkinfer.llm.text import find_stop
from zkinfer.verify.verdict import Check, Status, Verdict

SOURCE = "LLM receipt"


class LlmCheckName(StrEnum):
    WELL_FORMED = "well-formed"
    SAMPLING = "sampling"
    IDENTITY = "identity"
    TOKENS = "tokens"
    ACTIVATIONS = "activations"
    SIGNATURE = "signature"


class LlmCheck(Check):
    name: LlmCheckName  # type: ignore[assignment]  # the LLM receipt's checks, not the proof receipt's


class LlmVerdict(Verdict):
    checks: list[LlmCheck]  # type: ignore[assignment]
    reexecuted: bool = False
    timings_ms: dict[str, float] = Field(default_factory=dict)


def verify_file(
    path: Path,
    model_dir: Path | None = None,
    expect_signer: str | None = None,
    expect_model: str | None = None,
    tolerance: commitments.Tolerance = commitments.TOLERANCE,
) -> LlmVerdict:
    from zkinfer.core.formats.receipt import read_document

    return verify_document(read_document(path), model_dir, expect_signer, expect_model, tolerance, source=str(path))


def verify_document(
    document: Any,
    model_dir: Path | None = None,
    expect_signer: str | None = None,
    expect_model: str | None = None,
    tolerance: commitments.Tolerance = commitments.TOLERANCE,
    source: str = SOURCE,
    engine: Any = None,
) -> LlmVerdict:
    """Every check, by name, even after one fails. `engine`: an already loaded `engine.Engine` of
    `model_dir` (tests, benchmarks)."""
    try:
        receipt = parse(document, source)
    except ZkinferError as exc:
        checks = [_check(LlmCheckName.WELL_FORMED, Status.FAIL, str(exc))]
        checks += [
            _check(name, Status.SKIP, "not checked: the receipt is not well-formed") for name in list(LlmCheckName)[1:]
        ]
        return _verdict(checks, [], [], source, reexecuted=False, timings={})
    if model_dir is None and engine is None:
        return _without_model(receipt, expect_signer, expect_model, source)
    return _with_model(receipt, model_dir, expect_signer, expect_model, tolerance, source, engine)


def _check(name: LlmCheckName, status: Status, detail: str) -> LlmCheck:
    return LlmCheck(name=name, status=status, detail=detail)


def _well_formed(receipt: LlmReceipt) -> LlmCheck:
    n = len(receipt.completion.token_ids)
    return _check(
        LlmCheckName.WELL_FORMED,
        Status.PASS,
        f"{receipt.schema_version}: {len(receipt.prompt.token_ids)} prompt and {n} completion tokens, "
        f"{len(receipt.commitments.values)} commitments",
    )


def _signature(receipt: LlmReceipt, expect_signer: str | None) -> LlmCheck:
    if receipt.signature is None:
        if expect_signer is not None:
            return _check(
                LlmCheckName.SIGNATURE, Status.FAIL, f"unsigned, but --expect-signer {expect_signer[:16]}… was pinned"
            )
        return _check(LlmCheckName.SIGNATURE, Status.UNSIGNED, "unsigned: who served this answer is not attested")
    try:
        detail = check_signature(receipt)
    except ZkinferError as exc:
        return _check(LlmCheckName.SIGNATURE, Status.FAIL, str(exc))
    if expect_signer is not None:
        try:
            pinned = identity.parse_public_key(expect_signer, "--expect-signer").hex()
        except ZkinferError as exc:
            return _check(LlmCheckName.SIGNATURE, Status.FAIL, str(exc))
        if receipt.signature.public_key.removeprefix("0x").lower() != pinned:
            return _check(
                LlmCheckName.SIGNATURE,
                Status.FAIL,
                f"signed by {receipt.signature.public_key[:16]}…, not the pinned signer {pinned[:16]}…",
            )
        detail += " (the pinned signer)"
    return _check(LlmCheckName.SIGNATURE, Status.PASS, detail)


def _identity(
    receipt: LlmReceipt, model_dir: Path | None, expect_model: str | None, files: dict[str, str] | None = None
) -> tuple[LlmCheck, list[str]]:
    """The check and what it pinned; `files`: the digests of `model_dir`'s files when already known
    (those the loaded engine hashed as it read them: what the re-execution computes with)."""
    stated = receipt.model.digest
    if model_dir is not None:
        files = modeldir.file_digests(model_dir) if files is None else files
        digest = modeldir.model_digest(files)
        if digest != stated:
            differ = sorted(
                name
                for name in set(files) | set(receipt.model.files)
                if files.get(name) != receipt.model.files.get(name)
            )
            return _check(
                LlmCheckName.IDENTITY,
                Status.FAIL,
                f"the receipt states model {stated}, your copy {model_dir} is {digest} "
                f"(files that differ: {', '.join(differ) or 'none named'})",
            ), []
        if expect_model is not None and expect_model != digest:
            return _check(
                LlmCheckName.IDENTITY, Status.FAIL, f"your copy {model_dir} is {digest}, not the pinned {expect_model}"
            ), []
        return _check(LlmCheckName.IDENTITY, Status.PASS, f"model {stated} is your copy {model_dir}"), [
            f"model {stated}"
        ]
    if expect_model is not None:
        if expect_model != stated:
            return _check(
                LlmCheckName.IDENTITY, Status.FAIL, f"the receipt states model {stated}, not the pinned {expect_model}"
            ), []
        return _check(
            LlmCheckName.IDENTITY, Status.PASS, f"the receipt states the pinned model {stated} (not re-executed)"
        ), [f"model {stated}"]
    return _check(
        LlmCheckName.IDENTITY,
        Status.UNPINNED,
        f"the receipt states model {stated}; nothing pins it (give --model DIR or --expect-model)",
    ), []


def _sampling(receipt: LlmReceipt, eos: set[int] | None, decode: Any = None, context: int | None = None) -> LlmCheck:
    """How the answer ended, against its parameters; `eos`/`decode`/`context` come from the model (None: form only)."""
    s, c = receipt.sampling, receipt.completion
    tokens = c.token_ids
    problems = []
    if context is not None and len(receipt.prompt.token_ids) + len(tokens) > context:
        problems.append(
            f"{len(receipt.prompt.token_ids)} + {len(tokens)} tokens exceed the model's context of {context}"
        )
    if eos is not None and any(t in eos for t in tokens[:-1]):
        problems.append(
            f"end-of-text at position {next(i for i, t in enumerate(tokens[:-1]) if t in eos)}, yet generation went on"
        )
    if decode is not None and s.stop:
        early = find_stop(decode(tokens[:-1]), s.stop)
        if early is not None and len(tokens) > 1:
            problems.append("a stop string completes before the last token, yet generation went on")
    if c.finish_reason == "length" and len(tokens) != s.max_tokens:
        problems.append(f"finish_reason length after {len(tokens)} tokens, but max_tokens is {s.max_tokens}")
    if (
        c.finish_reason == "stop"
        and eos is not None
        and tokens[-1] not in eos
        and not (decode is not None and find_stop(decode(tokens), s.stop) is not None)
    ):
        problems.append("finish_reason stop, but the last token is neither end-of-text nor the end of a stop string")
    if problems:
        return _check(LlmCheckName.SAMPLING, Status.FAIL, "; ".join(problems))
    where = (
        "checked against the model's tokenizer"
        if eos is not None
        else "form only (no model: end-of-text and stop strings not checked)"
    )
    return _check(
        LlmCheckName.SAMPLING,
        Status.PASS,
        f"{s.sampler}, temperature {s.temperature}, top_p {s.top_p}, seed {s.seed}, "
        f"finish_reason {c.finish_reason}: {where}",
    )


def _without_model(receipt: LlmReceipt, expect_signer: str | None, expect_model: str | None, source: str) -> LlmVerdict:
    identity_check, pinned = _identity(receipt, None, expect_model)
    not_run = "not re-executed: no model given (--model DIR)"
    checks = [
        _well_formed(receipt),
        _sampling(receipt, None),
        identity_check,
        _check(LlmCheckName.TOKENS, Status.SKIP, not_run),
        _check(LlmCheckName.ACTIVATIONS, Status.SKIP, not_run),
        _signature(receipt, expect_signer),
    ]
    unpinned = ["tokens and activations: not re-executed (give --model DIR)"] + (
        [] if pinned else ["model: no --model DIR or --expect-model"]
    )
    return _verdict(checks, pinned, unpinned, source, reexecuted=False, timings={})


def _with_model(
    receipt: LlmReceipt,
    model_dir: Path | None,
    expect_signer: str | None,
    expect_model: str | None,
    tolerance: commitments.Tolerance,
    source: str,
    engine: Any,
) -> LlmVerdict:
    from zkinfer.llm.engine import Engine

    started = time.perf_counter()
    if engine is None:
        assert model_dir is not None
        engine = Engine(model_dir)
    loaded = time.perf_counter()
    same = model_dir is None or Path(model_dir).resolve() == Path(engine.directory).resolve()
    identity_check, pinned = _identity(
        receipt, model_dir if model_dir is not None else engine.directory, expect_model, engine.files if same else None
    )
    prompt, tokens = receipt.prompt.token_ids, receipt.completion.token_ids
    out_of_vocabulary = [t for t in prompt + tokens if t >= engine.vocab_size]
    sampling_check = _sampling(receipt, engine.eos, engine.decode, engine.context)
    if out_of_vocabulary or len(prompt) + len(tokens) > engine.context or not prompt:
        why = (
            f"token id {out_of_vocabulary[0]} is outside the vocabulary"
            if out_of_vocabulary
            else "the sequence does not fit the model's context (or the prompt is empty)"
        )
        checks = [
            _well_formed(receipt),
            sampling_check,
            identity_check,
            _check(LlmCheckName.TOKENS, Status.FAIL, why),
            _check(LlmCheckName.ACTIVATIONS, Status.SKIP, f"not recomputed: {why}"),
            _signature(receipt, expect_signer),
        ]
        return _verdict(checks, pinned, [], source, reexecuted=False, timings={})
    recomputed = engine.recompute(prompt, tokens)
    prefilled = time.perf_counter()
    checks = [
        _well_formed(receipt),
        sampling_check,
        identity_check,
        _tokens(receipt, recomputed.logits),
        _activations(receipt, recomputed.hidden, tolerance),
        _signature(receipt, expect_signer),
    ]
    timings = {
        "load_ms": round((loaded - started) * 1000, 1),
        "prefill_ms": round((prefilled - loaded) * 1000, 1),
        "checks_ms": round((time.perf_counter() - prefilled) * 1000, 1),
    }
    return _verdict(checks, pinned, [], source, reexecuted=True, timings=timings)


def _tokens(receipt: LlmReceipt, logits: np.ndarray) -> LlmCheck:
    params, request_id = receipt.sampling.params(), receipt.request_id
    us = np.array(
        [sampling.uniform(params.seed, request_id, position) for position in range(len(receipt.completion.token_ids))]
    )
    drawn = sampling.draws(logits, params, us)  # every position at once; the margin rule only where a token differs
    exact, near, wrong = 0, 0, []
    for position, token in enumerate(receipt.completion.token_ids):
        is_exact, accepted = sampling.accepts(
            logits[position], params, float(us[position]), token, int(drawn[position])
        )
        exact += is_exact
        near += accepted and not is_exact
        if not accepted:
            wrong.append(position)
    n = len(receipt.completion.token_ids)
    if wrong:
        shown = ", ".join(str(p) for p in wrong[:8]) + (" …" if len(wrong) > 8 else "")
        return _check(
            LlmCheckName.TOKENS,
            Status.FAIL,
            f"{len(wrong)} of {n} tokens are not the seeded sampler's draw from the recomputed distribution "
            f"(positions {shown})",
        )
    margin = (
        f"; {near} accepted as near-ties (margin {sampling.PROBABILITY_MARGIN:g} in probability, "
        f"{sampling.LOGIT_MARGIN:g} in logit)"
        if near
        else ""
    )
    return _check(
        LlmCheckName.TOKENS, Status.PASS, f"{exact} of {n} tokens are exactly the seeded sampler's draw{margin}"
    )


def _activations(receipt: LlmReceipt, hidden: np.ndarray, tolerance: commitments.Tolerance) -> LlmCheck:
    section = receipt.commitments
    try:
        results = commitments.check_chunks(section.values, hidden, section.chunk_tokens, tolerance.noise)
    except ValueError as exc:
        return _check(LlmCheckName.ACTIVATIONS, Status.FAIL, str(exc))
    bad = [(i, r) for i, r in enumerate(results) if not r.within(tolerance)]
    worst = max(r.exponent_mismatches for r in results)
    if bad:
        i, r = bad[0]
        return _check(
            LlmCheckName.ACTIVATIONS,
            Status.FAIL,
            (
                f"{len(bad)} of {len(results)} commitments differ from the recomputed hidden states beyond "
                f"tolerance (first: chunk {i}, {r.unexplained} of {section.topk} values differ beyond float noise "
                f"(tolerance {tolerance.max_unexplained}), {r.exponent_mismatches} of {section.topk} exponents "
                f"differ, mantissa error mean {r.mantissa_error_mean:.3g}, median {r.mantissa_error_median:.3g})"
            ),
        )
    mean_error = max(r.mantissa_error_mean for r in results)
    flips = sum(r.differing for r in results)
    return _check(
        LlmCheckName.ACTIVATIONS,
        Status.PASS,
        (
            f"{len(results)} commitments (top-{section.topk} of each {section.chunk_tokens} tokens' last hidden "
            f"states) match: at most {max(r.unexplained for r in results)} values a chunk differ beyond float noise "
            f"(tolerance {tolerance.max_unexplained}); {flips} rounding flips within noise; at most {worst} exponent "
            f"mismatches (tolerance {tolerance.max_exponent_mismatches}), mantissa error mean at most {mean_error:.3g}"
        ),
    )


def _verdict(
    checks: list[LlmCheck],
    pinned: list[str],
    unpinned: list[str],
    source: str,
    reexecuted: bool,
    timings: dict[str, float],
) -> LlmVerdict:
    failed = [c.name for c in checks if c.status == Status.FAIL]
    verified = not failed
    notes = []
    if verified and any(c.status == Status.UNSIGNED for c in checks):
        notes.append("unsigned: the answer is not attributable to a node")
    if not verified:
        summary = f"NOT VERIFIED: {', '.join(failed)} failed"
    elif reexecuted:
        summary = (
            "VERIFIED: re-executed with your copy of the model: every token is the seeded sampler's draw "
            "and every activation commitment matches"
        )
    else:
        summary = (
            "FORM AND SIGNATURE ONLY: no model given (--model DIR), so the tokens and activations were not re-executed"
        )
    if notes:
        summary += "; NOTE: " + "; ".join(notes)
    return LlmVerdict(
        verified=verified,
        identity_pinned=verified and bool(pinned) and not unpinned,
        summary=summary,
        checks=checks,
        pinned=pinned if verified else [],
        unpinned=unpinned,
        notes=notes,
        source=source,
        reexecuted=reexecuted,
        timings_ms=timings,
    )
