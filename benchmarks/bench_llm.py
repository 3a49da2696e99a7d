"""Detection and cost of verified LLM serving (issue 20, item 6), with the bundled model and the real verifier.

Every answer is made in process by the LLM node's own service (`zkinfer.llm_node.service.LlmService`: the
engine generates, the service commits, signs and stores the receipt, as `zkinfer serve --llm` does,
without HTTP) and checked by `zkinfer.llm.verify.verify_document` with the honest model directory
(`models/llm/tiny-stdlib`), as an auditor does. Three groups, one table each:

1. Detection, per attack, over N answers (default 200; `--quick` 10). Each attacker is a node with its
   own BLS key that re-signs what it states, so the signature always holds; "detected" means the
   verdict is not verified, and the table names the checks that failed.
   - model swap: the node serves `tiny-stdlib-alt` and states tiny-stdlib's digest and files;
   - int8: dynamic int8 quantisation (`torch.ao.quantization.quantize_dynamic`, qint8 weights per
     tensor, activations quantised at run time) of every linear layer: GPT-2's `Conv1D` layers
     (x @ W + b) are first rewritten as the equal `nn.Linear` (weight Wᵀ), so all of attention and
     MLP is quantised, plus the LM head; the receipt states the honest model;
   - fp16, bf16: the weights cast, the model computed in that precision, the honest model stated;
   - system prompt: the node answers with a system turn the user did not send (chat) or a prefix
     before the user's text (completions), and states the user's prompt;
   - temperature: the node samples at another temperature (greedy requests at 1.0; otherwise +0.5,
     or -0.5 from 1.0 and above) and states the asked one;
   - seed: the node draws with seed+1 and states the seed asked (sampled requests only: a greedy
     answer does not depend on its seed);
   - truncated context: the node drops the first half of the prompt's tokens and states the whole prompt;
   - edited token: an honest answer with one token (random position) replaced by another token.
2. False accusations over M honest answers (default 1,000; `--quick` 20): generated on 1 or 2 torch
   threads, alone (batch 1) or in a padded batch of 4 with three other requests (attention-masked:
   right-padded without the KV cache, left-padded with position ids with it), KV cache on or off
   (8 configurations, M/8 answers each), each verified by a verifier on another configuration:
   the other thread count, one prefill pass, batch 1, no KV cache. Goal 0.
   Both tables show the `activations` check's measure: per chunk, the committed top-128 values whose
   bf16 bits differ from the recomputed ones beyond float noise (`commitments.Tolerance`: at most 1).
3. Overhead, on the node's default configuration (1 thread, batch 1, KV cache): commitment time as
   a share of generation time (the receipt's own `timings`), verification time against generation
   time for 256-token answers (the whole `verify_document` call, and its re-execution alone), and
   commitment bytes per 32 tokens.

Prompts are drawn deterministically (`--seed`) from the training corpus' topics: qualified names
and docstrings of public functions and classes of a fixed list of standard-library modules, read
with `ast` as `models/llm/train.py` reads them. Requests mix single-turn chat (a name), two-turn
chat (a name and the start of its docstring, then another name) and text completion (the first
words of a docstring); temperatures 0, 0.7 and 1.0; top_p 1, 0.95 and 0.9.

Run from the repository root: `python -m benchmarks.bench_llm [--quick]` (needs the `llm` extra;
CPU only; `--answers N --honest M --long K` override the counts).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import concurrent.futures
import copy
import os
import random
import re
import statistics
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = REPO / "models" / "llm" / "tiny-stdlib"
ALT_MODEL_DIR = REPO / "models" / "llm" / "tiny-stdlib-alt"
API_KEY = "bench-llm-key-0123456789"
# standard-library sources whose public names and docstrings are the prompts' topics (all in the training corpus)
TOPIC_MODULES = (
    "json/__init__.py",
    "json/decoder.py",
    "posixpath.py",
    "collections/__init__.py",
    "pathlib.py",
    "re/__init__.py",
    "shutil.py",
    "textwrap.py",
    "argparse.py",
    "logging/__init__.py",
    "subprocess.py",
    "functools.py",
    "string.py",
    "csv.py",
    "datetime.py",
    "heapq.py",
    "bisect.py",
    "random.py",
    "statistics.py",
    "fractions.py",
    "tempfile.py",
    "tarfile.py",
    "glob.py",
    "fnmatch.py",
    "urllib/parse.py",
    "http/client.py",
    "email/utils.py",
    "inspect.py",
    "typing.py",
    "dataclasses.py",
    "enum.py",
    "contextlib.py",
    "queue.py",
    "threading.py",
    "difflib.py",
    "base64.py",
    "uuid.py",
    "ipaddress.py",
    "calendar.py",
    "copy.py",
    "pprint.py",
    "shlex.py",
    "configparser.py",
    "gzip.py",
    "zipfile.py",
    "os.py",
    "socket.py",
    "asyncio/tasks.py",
    "unittest/case.py",
    "decimal.py",
)
MIN_DOC_CHARS = 20  # as models/llm/train.py
SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "Answer in one sentence.",
    "Always recommend the requests package.",
    "Reply as a pirate would.",
)
PREFIXES = ("Note: ", "In short, ", "Deprecated. ", "# ")
TEMPERATURES = (0.0, 0.7, 1.0)
TOP_PS = (1.0, 0.95, 0.9)
ATTACK_MAX_TOKENS = (32, 64, 96)
HONEST_MAX_TOKENS = (24, 48, 96)
LONG_TOKENS = 256
CONFIGS = tuple((threads, batch, kv) for threads in (1, 2) for batch in (1, 4) for kv in (True, False))
GOAL_OVERHEAD = 0.05
GOAL_SPEEDUP = 10.0
GOAL_BYTES = 300


# prompts


def topics() -> list[tuple[str, str]]:
    """(qualified name, docstring) of every public function and class (with a docstring of ≥ 20 characters) in
    TOPIC_MODULES, sorted."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found: set[tuple[str, str]] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and not child.name.startswith(
                "_"
            ):
                name = f"{prefix}.{child.name}"
                doc = ast.get_docstring(child, clean=True)
                if doc and len(doc) >= MIN_DOC_CHARS:
                    found.add((name, doc))
                if isinstance(child, ast.ClassDef):
                    visit(child, name)

    for relative in TOPIC_MODULES:
        path = root / relative
        if path.exists():  # another Python version lays the standard library out otherwise
            visit(
                ast.parse(path.read_bytes(), filename=str(path)),
                relative.removesuffix(".py").removesuffix("/__init__").replace("/", "."),
            )
    return sorted(found)


def request(
    rng: random.Random, pool: list[tuple[str, str]], max_tokens: tuple[int, ...], sampled_only: bool = False
) -> dict[str, Any]:
    """One OpenAI request body drawn from the topics."""
    name, doc = rng.choice(pool)
    kind = rng.random()
    body: dict[str, Any]
    if kind < 0.6:
        body = {"messages": [{"role": "user", "content": name}]}
    elif kind < 0.8:
        other, _ = rng.choice(pool)
        earlier = doc.split("\n\n")[0][:300]
        body = {
            "messages": [
                {"role": "user", "content": name},
                {"role": "assistant", "content": earlier},
                {"role": "user", "content": other},
            ]
        }
    else:
        words = doc.split()
        body = {"prompt": " ".join(words[: rng.randint(2, min(8, len(words)))])}
    temperatures = TEMPERATURES[1:] if sampled_only else TEMPERATURES
    body.update(
        temperature=rng.choice(temperatures),
        top_p=rng.choice(TOP_PS),
        seed=rng.randrange(1 << 31),
        max_tokens=rng.choice(max_tokens),
    )
    return body


# the node, in process


def make_service(engine: Any, state_dir: Path, key: Any = None) -> Any:
    """The service `zkinfer serve --llm` runs, around `engine`, signing with `key` (a new node key by default)."""
    from zkinfer.core.crypto import identity
    from zkinfer.llm_node.config import LlmConfig
    from zkinfer.llm_node.metrics import LlmMetrics
    from zkinfer.llm_node.service import LlmService
    from zkinfer.llm_node.store import ReceiptStore
    from zkinfer.serving.auth import ApiKeys

    config = LlmConfig(model_dir=engine.directory, state_dir=state_dir, max_tokens_cap=LONG_TOKENS)
    return LlmService(
        config, engine, key or identity.new_key(), ApiKeys([API_KEY]), ReceiptStore(config.receipts_dir), LlmMetrics()
    )


def prepare(service: Any, body: dict[str, Any], request_id: str | None = None) -> Any:
    from zkinfer.serving.openai import ChatRequest, CompletionRequest

    kind = ChatRequest if "messages" in body else CompletionRequest
    return service.prepare(
        kind.model_validate({"model": service.model_name, **body}), service.owner(f"Bearer {API_KEY}"), request_id
    )


def answer(service: Any, body: dict[str, Any], request_id: str) -> Any:
    """The service's `Answer` (text, signed receipt) to one request body."""
    coroutine = service.answer(prepare(service, body, request_id))
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # inside a running event loop: a notebook's kernel
        return pool.submit(asyncio.run, coroutine).result()


def resign(receipt: Any, key: Any, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The receipt with `edit` applied to its JSON, signed again by `key`: a statement the cheating node signs."""
    from zkinfer.llm.receipt import parse, sign

    document = receipt.model_dump(mode="json")
    edit(document)
    document["signature"] = None
    return dict(sign(parse(document), key).model_dump(mode="json"))


def with_model(engine: Any, model: Any) -> Any:
    """The engine, computing with another model object, still stating its own digest."""
    other = copy.copy(engine)
    other.model = model
    return other


def int8_model(model: Any) -> Any:
    """Dynamic int8 quantisation of every linear layer, GPT-2's Conv1D rewritten as the equal nn.Linear first."""
    import warnings

    import torch
    from transformers.pytorch_utils import Conv1D

    model = copy.deepcopy(model)

    def rewrite(module: Any) -> None:
        for name, child in module.named_children():
            if isinstance(child, Conv1D):
                linear = torch.nn.Linear(child.weight.shape[0], child.weight.shape[1])
                linear.weight.data = child.weight.data.t().contiguous()
                linear.bias.data = child.bias.data.clone()
                setattr(module, name, linear)
            else:
                rewrite(child)

    rewrite(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def configured_engine(base: Any, batch: int, kv_cache: bool, companions: list[list[int]]) -> Any:
    """The honest engine generating in another configuration (an `Engine`, so the service uses it unchanged)."""
    from zkinfer.llm import sampling
    from zkinfer.llm.engine import Engine, Step

    class Configured(Engine):
        """Batch 1 or 4 (this request right- or left-padded with three others, attention-masked), KV cache on or off."""

        def __init__(self) -> None:  # shares the loaded model: no super().__init__
            self.__dict__.update(base.__dict__)
            self.batch, self.kv_cache, self.companions = batch, kv_cache, companions
            self.threads_seen: set[int] = set()

        def generate(
            self, prompt: list[int], params: sampling.Params, request_id: str, max_tokens: int
        ) -> Iterator[Step]:
            self.threads_seen.add(self._torch.get_num_threads())
            if self.batch == 1 and self.kv_cache:
                yield from super().generate(prompt, params, request_id, max_tokens)
                return
            rows = [list(prompt)] + [list(c) for c in self.companions[: self.batch - 1]]
            others = [sampling.Params(temperature=1.0, seed=i) for i in range(len(rows))]
            step = self._padded_with_cache(rows) if self.kv_cache else self._padded(rows)
            for position in range(max_tokens):
                started = time.perf_counter()
                logits, hidden = next(step)
                token = sampling.draw(logits[0], params, sampling.uniform(params.seed, request_id, position))
                yield Step(token=token, hidden=hidden[0].copy(), seconds=time.perf_counter() - started)
                if position + 1 == max_tokens or token in self.eos:
                    return
                chosen = [token] + [
                    sampling.draw(logits[i], others[i], sampling.uniform(i, "companion", position))
                    for i in range(1, len(rows))
                ]
                step.send(chosen)

        def _padded(self, rows: list[list[int]]) -> Generator[Any, Any, None]:
            """No KV cache: every step one pass over the right-padded batch; each row's last real position."""
            torch = self._torch
            while True:
                width = max(map(len, rows))
                ids = torch.zeros((len(rows), width), dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for i, row in enumerate(rows):
                    ids[i, : len(row)] = torch.tensor(row)
                    mask[i, : len(row)] = 1
                with torch.inference_mode():
                    out = self.model(input_ids=ids, attention_mask=mask, use_cache=False, output_hidden_states=True)
                last = torch.tensor([len(row) - 1 for row in rows])
                index = torch.arange(len(rows))
                chosen = yield (
                    out.logits[index, last].float().numpy(),
                    out.hidden_states[-1][index, last].float().numpy(),
                )
                yield None  # for send()
                for row, token in zip(rows, chosen, strict=True):
                    row.append(int(token))

        def _padded_with_cache(self, rows: list[list[int]]) -> Generator[Any, Any, None]:
            """KV cache: a left-padded prefill (position ids from the mask), then one token a row a step."""
            torch = self._torch
            width = max(map(len, rows))
            ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, row in enumerate(rows):
                ids[i, width - len(row) :] = torch.tensor(row)
                mask[i, width - len(row) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():  # per pass: a generator suspended inside the mode would leak it to its caller
                out = self.model(
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=positions,
                    use_cache=True,
                    output_hidden_states=True,
                )
            while True:
                chosen = yield out.logits[:, -1].float().numpy(), out.hidden_states[-1][:, -1].float().numpy()
                yield None  # for send()
                mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=torch.long)], dim=1)
                positions = positions[:, -1:] + 1
                with torch.inference_mode():
                    out = self.model(
                        input_ids=torch.tensor(chosen).view(-1, 1),
                        attention_mask=mask,
                        position_ids=positions,
                        use_cache=True,
                        output_hidden_states=True,
                        **self._cache_of(out),
                    )

    return Configured()


# verifying


@dataclass
class Tally:
    """Verdicts of one table row."""

    answers: int = 0
    not_verified: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    tokens: list[int] = field(default_factory=list)
    verify_ms: list[float] = field(default_factory=list)
    exponents: list[int] = field(default_factory=list)  # per answer: the worst chunk's exponent mismatches
    mantissas: list[float] = field(
        default_factory=list
    )  # per answer: the worst chunk's mean mantissa error (where exponents agree)
    unexplained: list[int] = field(default_factory=list)  # per answer: top-k values beyond float noise (a chunk's)
    flips: int = 0  # rounding flips within float noise, over the answers that verified
    near_ties: int = 0
    missed_greedy: int = 0
    missed_sampled: int = 0
    same_as_honest: int | None = None
    threads_seen: set[int] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)

    @property
    def worst_exponents(self) -> int:
        return max(self.exponents, default=0)

    def spread(self, values: list[int] | list[float]) -> str:
        return f"{statistics.median(values):.3g} / {max(values):.3g}" if values else "-"

    def add(self, verdict: Any, document: dict[str, Any], seconds: float) -> None:
        from zkinfer.verify.verdict import Status

        self.answers += 1
        self.tokens.append(len(document["completion"]["token_ids"]))
        self.verify_ms.append(seconds * 1000)
        failed = [str(c.name) for c in verdict.checks if c.status == Status.FAIL]
        self.not_verified += not verdict.verified
        if verdict.verified:
            greedy = document["sampling"]["temperature"] == 0
            self.missed_greedy += greedy
            self.missed_sampled += not greedy
        self.failed.update(failed)
        for check in verdict.checks:
            if str(check.name) == "activations" and (
                m := re.search(r"at most (\d+) exponent mismatches|, (\d+) of \d+ exponents differ", check.detail)
            ):
                self.exponents.append(int(m.group(1) or m.group(2)))
            if str(check.name) == "activations" and (
                m := re.search(r"mantissa error mean (?:at most )?([0-9.e+]+)", check.detail)
            ):
                self.mantissas.append(float(m.group(1)))
            if str(check.name) == "activations" and (
                m := re.search(
                    r"at most (\d+) values a chunk differ|chunk \d+, (\d+) of \d+ values differ", check.detail
                )
            ):
                self.unexplained.append(int(m.group(1) or m.group(2)))
            if str(check.name) == "activations" and (
                m := re.search(r"(\d+) rounding flips within noise", check.detail)
            ):
                self.flips += int(m.group(1))
            if str(check.name) == "tokens" and (m := re.search(r"(\d+) accepted as near-ties", check.detail)):
                self.near_ties += int(m.group(1))

    def low_spread(self, values: list[int]) -> str:
        return f"{statistics.median(values):.3g} / {min(values)} / {max(values)}" if values else "-"

    def caught_by(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.failed.most_common()) or "-"


def verify(document: dict[str, Any], verifier: Any) -> tuple[Any, float]:
    from zkinfer.llm.verify import verify_document

    started = time.perf_counter()
    verdict = verify_document(document, MODEL_DIR, engine=verifier)
    return verdict, time.perf_counter() - started


# the three groups


def detection(
    n: int, seed: int, pool: list[tuple[str, str]], honest: Any, verifier: Any, tmp: Path
) -> dict[str, Tally]:
    import torch

    from zkinfer.llm.engine import Engine
    from zkinfer.llm.receipt import prompt_digest

    torch.set_num_threads(1)
    alt = Engine(ALT_MODEL_DIR)
    alt.digest, alt.files, alt.name = honest.digest, honest.files, honest.name  # states the honest model
    models = {
        "model swap (tiny-stdlib-alt)": alt,
        "int8 dynamic quantisation": with_model(honest, int8_model(honest.model)),
        "fp16 weights": with_model(honest, copy.deepcopy(honest.model).to(torch.float16)),
        "bf16 weights": with_model(honest, copy.deepcopy(honest.model).to(torch.bfloat16)),
    }
    cheat = make_service(honest, tmp / "cheat")  # honest weights; lies about the request
    key = cheat.key
    tallies: dict[str, Tally] = {}

    def run(attack: str, make: Callable[[int, random.Random], dict[str, Any]]) -> None:
        rng = random.Random(f"{seed}/{attack}")
        tally = tallies.setdefault(attack, Tally())
        for i in range(n):
            document = make(i, rng)
            if "same_as_honest" in document:
                tally.same_as_honest = (tally.same_as_honest or 0) + document.pop("same_as_honest")
            verdict, seconds = verify(document, verifier)
            tally.add(verdict, document, seconds)
            if verdict.verified and len(tally.examples) < 3:
                tally.examples.append(
                    f"{attack}: request {document['request_id']} ({len(document['completion']['token_ids'])} tokens) "
                    "verified"
                )

    reference = make_service(honest, tmp / "reference")  # what the honest model answers to the same request

    def served_by(service: Any, tag: str) -> Callable[[int, random.Random], dict[str, Any]]:
        def make(i: int, rng: random.Random) -> dict[str, Any]:
            body = request(rng, pool, ATTACK_MAX_TOKENS)
            document = dict(answer(service, body, f"{tag}-{i}").receipt.model_dump(mode="json"))
            same = (
                answer(reference, body, f"{tag}-{i}").receipt.completion.token_ids
                == document["completion"]["token_ids"]
            )
            return document | {"same_as_honest": same}

        return make

    for number, (attack, engine) in enumerate(models.items()):
        run(attack, served_by(make_service(engine, tmp / f"model-{number}"), f"model-{number}"))

    def stated_prompt(original: list[int], kind: str) -> Callable[[dict[str, Any]], None]:
        return lambda d: d.update(prompt={"kind": kind, "token_ids": original, "digest": prompt_digest(original)})

    def system_prompt(i: int, rng: random.Random) -> dict[str, Any]:
        body = request(rng, pool, ATTACK_MAX_TOKENS)
        original = prepare(cheat, body).prompt
        system = {"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}
        changed = (
            {**body, "messages": [system, *body["messages"]]}
            if "messages" in body
            else {**body, "prompt": rng.choice(PREFIXES) + body["prompt"]}
        )
        receipt = answer(cheat, changed, f"sys-{i}").receipt
        return resign(receipt, key, stated_prompt(original, "chat" if "messages" in body else "text"))

    def temperature(i: int, rng: random.Random) -> dict[str, Any]:
        body = request(rng, pool, ATTACK_MAX_TOKENS)
        asked = body["temperature"]
        used = 1.0 if asked == 0 else (asked + 0.5 if asked < 1 else asked - 0.5)
        receipt = answer(cheat, {**body, "temperature": used}, f"temp-{i}").receipt
        return resign(receipt, key, lambda d: d["sampling"].update(temperature=asked))

    def changed_seed(i: int, rng: random.Random) -> dict[str, Any]:
        body = request(rng, pool, ATTACK_MAX_TOKENS, sampled_only=True)
        receipt = answer(cheat, {**body, "seed": body["seed"] + 1}, f"seed-{i}").receipt
        return resign(receipt, key, lambda d: d["sampling"].update(seed=body["seed"]))

    def truncated(i: int, rng: random.Random) -> dict[str, Any]:
        body = request(rng, pool, ATTACK_MAX_TOKENS)
        original = prepare(cheat, body).prompt
        kept = original[max(1, len(original) // 2) :]
        receipt = answer(
            cheat, {k: v for k, v in body.items() if k != "messages"} | {"prompt": kept}, f"trunc-{i}"
        ).receipt
        return resign(receipt, key, stated_prompt(original, "chat" if "messages" in body else "text"))

    def edited(i: int, rng: random.Random) -> dict[str, Any]:
        receipt = answer(cheat, request(rng, pool, ATTACK_MAX_TOKENS), f"edit-{i}").receipt
        position = rng.randrange(len(receipt.completion.token_ids))
        old = receipt.completion.token_ids[position]
        new = rng.choice([t for t in range(honest.vocab_size) if t != old and t not in honest.eos])

        def edit(document: dict[str, Any]) -> None:
            document["completion"]["token_ids"][position] = new

        return resign(receipt, key, edit)

    run("system prompt / prefix", system_prompt)
    run("temperature", temperature)
    run("seed (sampled requests)", changed_seed)
    run("truncated context (first half)", truncated)
    run("edited token (one)", edited)
    return tallies


def false_accusations(
    m: int, seed: int, pool: list[tuple[str, str]], honest: Any, verifier: Any, tmp: Path, keep: Path
) -> tuple[dict[tuple[int, int, bool], Tally], list[Any]]:
    """Honest answers in each configuration, verified on another; also the receipts of the default configuration
    (overhead)."""
    import torch

    key_service = make_service(honest, tmp / "honest-key")
    tallies: dict[tuple[int, int, bool], Tally] = {}
    default_receipts = []
    per_config = [m // len(CONFIGS) + (i < m % len(CONFIGS)) for i in range(len(CONFIGS))]
    for (threads, batch, kv), count in zip(CONFIGS, per_config, strict=True):
        rng = random.Random(f"{seed}/honest/{threads}/{batch}/{kv}")
        engine = configured_engine(honest, batch, kv, [])
        service = make_service(engine, tmp / f"honest-{threads}-{batch}-{kv}", key_service.key)
        tally = tallies.setdefault((threads, batch, kv), Tally())
        for i in range(count):
            engine.companions = [
                prepare(key_service, request(rng, pool, HONEST_MAX_TOKENS)).prompt[:128] for _ in range(batch - 1)
            ]  # the other requests of its batch
            torch.set_num_threads(threads)
            receipt = answer(
                service, request(rng, pool, HONEST_MAX_TOKENS), f"honest-{threads}-{batch}-{int(kv)}-{i}"
            ).receipt
            if (threads, batch, kv) == (1, 1, True):
                default_receipts.append(receipt)
            document = receipt.model_dump(mode="json")
            torch.set_num_threads(
                3 - threads
            )  # the verifier: the other thread count, one prefill pass, batch 1, no KV cache
            verdict, seconds = verify(document, verifier)
            tally.add(verdict, document, seconds)
            if not verdict.verified:
                path = keep / f"false-accusation-{threads}-{batch}-{int(kv)}-{i}.json"
                path.write_text(receipt.model_dump_json(indent=2))
                tally.examples.append(f"{path}: {verdict.summary}")
        tally.threads_seen = engine.threads_seen
    torch.set_num_threads(1)
    return tallies, default_receipts


@dataclass
class Long:
    """Answers of exactly 256 tokens of one sampling mode."""

    generate_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    commit_ms: list[float] = field(default_factory=list)
    verify_ms: list[float] = field(default_factory=list)
    prefill_ms: list[float] = field(default_factory=list)
    checks_ms: list[float] = field(default_factory=list)
    tried: int = 0


SAMPLING_MODES: dict[str, Callable[[random.Random], dict[str, float]]] = {
    "greedy (temperature 0)": lambda rng: {"temperature": 0.0, "top_p": 1.0},
    "sampled (temperature 0.7/1.0, top_p 1)": lambda rng: {"temperature": rng.choice((0.7, 1.0)), "top_p": 1.0},
    "nucleus (temperature 0.7/1.0, top_p 0.9/0.95)": lambda rng: {
        "temperature": rng.choice((0.7, 1.0)),
        "top_p": rng.choice((0.9, 0.95)),
    },
}


def long_answers(
    k: int, seed: int, pool: list[tuple[str, str]], honest: Any, verifier: Any, tmp: Path
) -> dict[str, Long]:
    """k answers of exactly 256 tokens per sampling mode on the node's default configuration (requests that end earlier
    are drawn again), each verified."""
    import torch

    torch.set_num_threads(1)
    service = make_service(honest, tmp / "long")
    results: dict[str, Long] = {}
    for mode, parameters in SAMPLING_MODES.items():
        rng = random.Random(f"{seed}/long/{mode}")
        result = results.setdefault(mode, Long())
        while len(result.generate_ms) < k and result.tried < 50 * k:
            result.tried += 1
            started = time.perf_counter()
            receipt = answer(
                service, request(rng, pool, (LONG_TOKENS,)) | parameters(rng), f"long-{len(results)}-{result.tried}"
            ).receipt
            answer_ms = (time.perf_counter() - started) * 1000
            if len(receipt.completion.token_ids) != LONG_TOKENS:
                continue
            verdict, seconds = verify(receipt.model_dump(mode="json"), verifier)
            if not verdict.verified:
                raise SystemExit(f"an honest 256-token answer did not verify: {verdict.summary}")
            result.generate_ms.append(receipt.timings.generate_ms)
            result.commit_ms.append(receipt.timings.commit_ms)
            result.answer_ms.append(answer_ms)
            result.verify_ms.append(seconds * 1000)
            result.prefill_ms.append(verdict.timings_ms["prefill_ms"])
            result.checks_ms.append(verdict.timings_ms["checks_ms"])
    return results


# printing


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10 answers per attack, 20 honest answers, 2 long answers per sampling mode (CI)",
    )
    parser.add_argument("--answers", type=int, help="answers per attack (default 200; --quick 10)")
    parser.add_argument(
        "--honest", type=int, help="honest answers across the 8 configurations (default 1000; --quick 20)"
    )
    parser.add_argument(
        "--long", type=int, help="256-token answers per sampling mode for the overhead (default 20; --quick 2)"
    )
    parser.add_argument("--seed", type=int, default=2026, help="draws the prompts and parameters")
    options = parser.parse_args()
    n = options.answers or (10 if options.quick else 200)
    m = options.honest or (20 if options.quick else 1000)
    k = options.long or (2 if options.quick else 20)

    import torch
    import transformers

    from zkinfer.llm import commitments
    from zkinfer.llm.engine import Engine

    started = time.perf_counter()
    pool = topics()
    torch.set_num_threads(1)
    honest = Engine(MODEL_DIR)
    verifier = Engine(MODEL_DIR)  # the auditor's own load of the model
    print(
        f"bench_llm: {n} answers per attack, {m} honest answers, {k} answers of {LONG_TOKENS} tokens per sampling "
        f"mode; {len(pool)} topics; seed {options.seed}; "
        f"model {MODEL_DIR.name} {honest.digest}; torch {torch.__version__}, transformers {transformers.__version__}, "
        f"Python {sys.version.split()[0]}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp_name:
        tmp = Path(tmp_name)
        keep = Path(tempfile.mkdtemp(prefix="bench-llm-failures-"))

        t0 = time.perf_counter()
        attacks = detection(n, options.seed, pool, honest, verifier, tmp)
        detection_s = time.perf_counter() - t0
        print(
            f"\nDetection: each attack over {n} answers, re-signed by the attacking node's own key; verifier: 1 "
            f"thread, `verify_document` with {MODEL_DIR.name} ({detection_s:.0f} s)\n"
        )
        print(
            "| attack | answers | detected | rate | caught by (failed checks) | undetected: greedy / sampled | tokens "
            "identical to the honest model's | tokens accepted as near-ties | mean tokens | "
            "values beyond float noise, worst (or first failing) chunk: median / min / max (tolerance "
            f"{commitments.TOLERANCE.max_unexplained}) | exponent mismatches: median / max | mantissa error mean: "
            "median / max | median verify ms |"
        )
        print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for attack, tally in attacks.items():
            same = "n/a" if tally.same_as_honest is None else f"{tally.same_as_honest}"
            print(
                f"| {attack} | {tally.answers} | {tally.not_verified} | {pct(tally.not_verified, tally.answers)} | "
                f"{tally.caught_by()} | {tally.missed_greedy} / {tally.missed_sampled} | {same} | {tally.near_ties} | "
                f"{statistics.mean(tally.tokens):.1f} | {tally.low_spread(tally.unexplained)} | "
                f"{tally.spread(tally.exponents)} | {tally.spread(tally.mantissas)} | "
                f"{statistics.median(tally.verify_ms):.1f} |"
            )
        missed = [e for tally in attacks.values() for e in tally.examples]
        for line in missed:
            print(f"  missed: {line}")

        t0 = time.perf_counter()
        honest_tallies, default_receipts = false_accusations(m, options.seed, pool, honest, verifier, tmp, keep)
        honest_s = time.perf_counter() - t0
        print(
            f"\nFalse accusations: {m} honest answers, each verified on another configuration (the other thread count, "
            f"one prefill pass, batch 1, no KV cache) ({honest_s:.0f} s)\n"
        )
        print(
            "| generated on | answers | false accusations | failed checks | mean tokens | "
            "values beyond float noise, worst chunk: "
            f"median / max (tolerance {commitments.TOLERANCE.max_unexplained}) | rounding flips within noise | "
            "exponent mismatches, worst chunk: median / max | mantissa error mean, worst chunk: median / max | "
            "tokens accepted as near-ties | verifier threads |"
        )
        print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for (threads, batch, kv), tally in honest_tallies.items():
            seen = ",".join(map(str, sorted(tally.threads_seen)))
            print(
                f"| {threads} thread{'s' if threads > 1 else ''} (seen {seen}), batch "
                f"{batch}{' (padded)' if batch > 1 else ''}, KV cache {'on' if kv else 'off'} | "
                f"{tally.answers} | {tally.not_verified} | {tally.caught_by()} | {statistics.mean(tally.tokens):.1f} | "
                f"{tally.spread(tally.unexplained)} | {tally.flips} | {tally.spread(tally.exponents)} | "
                f"{tally.spread(tally.mantissas)} | {tally.near_ties} | {3 - threads} |"
            )
        accused = sum(t.not_verified for t in honest_tallies.values())
        total = sum(t.answers for t in honest_tallies.values())
        pooled = Tally()
        for tally in honest_tallies.values():
            pooled.exponents += tally.exponents
            pooled.mantissas += tally.mantissas
            pooled.unexplained += tally.unexplained
        print(
            f"| all | {total} | {accused} | | | {pooled.spread(pooled.unexplained)} | "
            f"{sum(t.flips for t in honest_tallies.values())} | {pooled.spread(pooled.exponents)} | "
            f"{pooled.spread(pooled.mantissas)} | {sum(t.near_ties for t in honest_tallies.values())} | |"
        )
        for tally in honest_tallies.values():
            for line in tally.examples:
                print(f"  false accusation: {line}")

        t0 = time.perf_counter()
        long = long_answers(k, options.seed, pool, honest, verifier, tmp)
        long_s = time.perf_counter() - t0
    default_generate = sum(r.timings.generate_ms for r in default_receipts)
    default_commit = sum(r.timings.commit_ms for r in default_receipts)
    default_tokens = sum(len(r.completion.token_ids) for r in default_receipts)
    default_bytes = sum(len(v) for r in default_receipts for v in r.commitments.values)
    default_share = default_commit / default_generate if default_generate else float("nan")
    everything = Long()
    for result in long.values():
        for name in ("generate_ms", "answer_ms", "commit_ms", "verify_ms", "prefill_ms", "checks_ms"):
            getattr(everything, name).extend(getattr(result, name))
        everything.tried += result.tried

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def ratio(a: list[float], b: list[float]) -> float:
        return sum(a) / sum(b) if a and b else float("nan")

    print(
        f"\nOverhead: answers of exactly {LONG_TOKENS} tokens, {k} per sampling mode, on the node's default "
        f"configuration (1 thread, batch 1, KV cache), verified on 1 thread; medians ({long_s:.0f} s)\n"
    )
    print(
        "| sampling | answers (requests drawn) | generate ms | commit ms | commit / generate | whole answer ms | "
        "verify ms | of which prefill ms | of which checks ms | generation / verification |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, result in [*long.items(), ("all", everything)]:
        print(
            f"| {mode} | {len(result.generate_ms)} ({result.tried}) | {median(result.generate_ms):.1f} | "
            f"{median(result.commit_ms):.2f} | {100 * ratio(result.commit_ms, result.generate_ms):.2f} % | "
            f"{median(result.answer_ms):.1f} | {median(result.verify_ms):.1f} | "
            f"{median(result.prefill_ms):.1f} | {median(result.checks_ms):.1f} | "
            f"{median(result.generate_ms) / median(result.verify_ms):.1f}x |"
        )
    commit_share = ratio(everything.commit_ms, everything.generate_ms)
    speedups = {mode: median(result.generate_ms) / median(result.verify_ms) for mode, result in long.items()}
    speedup = median(everything.generate_ms) / median(everything.verify_ms)
    per_chunk = 2 + 2 * commitments.TOPK
    mean_tokens = default_tokens / max(1, len(default_receipts))
    print("\n| measure | value | goal |")
    print("|---|---:|---|")
    print(
        f"| commitment time / generation time, {LONG_TOKENS}-token answers | {100 * commit_share:.2f} % | ≤ "
        f"{100 * GOAL_OVERHEAD:.0f} % |"
    )
    goal_share = f"≤ {100 * GOAL_OVERHEAD:.0f} %"
    print(
        f"| commitment time / generation time, the {len(default_receipts)} honest answers of the default configuration "
        f"(mean {mean_tokens:.0f} tokens) | {100 * default_share:.2f} % | {goal_share} |"
    )
    print(
        f"| generation / verification, {LONG_TOKENS}-token answers (medians, all modes) | {speedup:.1f}x | ≥ "
        f"{GOAL_SPEEDUP:.0f}x |"
    )
    print(
        f"| commitment bytes per 32 tokens (one commitment per full chunk; {4 * -(-per_chunk // 3)} characters of "
        f"base64 in the JSON) | {per_chunk} B | ≤ {GOAL_BYTES} B |"
    )
    print(
        "| commitment bytes per 32 generated tokens, default-configuration answers (a last, shorter chunk costs a "
        f"whole commitment) | {32 * default_bytes / max(1, default_tokens):.0f} B | |"
    )

    detected_all = all(t.not_verified == t.answers for t in attacks.values())
    weakest = min(attacks.items(), key=lambda item: item[1].not_verified / item[1].answers)
    goals = [
        (
            "every attack detected 100 %",
            detected_all,
            f"lowest: {weakest[0]} {pct(weakest[1].not_verified, weakest[1].answers)}",
        ),
        ("0 false accusations", accused == 0, f"{accused} of {total}"),
        (
            f"commitments ≤ {100 * GOAL_OVERHEAD:.0f} % of generation",
            commit_share <= GOAL_OVERHEAD and default_share <= GOAL_OVERHEAD,
            f"{100 * commit_share:.2f} % / {100 * default_share:.2f} %",
        ),
        (
            f"verification ≥ {GOAL_SPEEDUP:.0f}x faster (256 tokens)",
            speedup >= GOAL_SPEEDUP and min(speedups.values()) >= GOAL_SPEEDUP,
            f"{speedup:.1f}x over all; "
            + ", ".join(f"{mode.split()[0]} {value:.1f}x" for mode, value in speedups.items()),
        ),
        (f"≤ {GOAL_BYTES} B per 32 tokens", per_chunk <= GOAL_BYTES, f"{per_chunk} B"),
    ]
    met = sum(ok for _, ok, _ in goals)
    summary = "; ".join(f"{name}: {'met' if ok else 'NOT MET'} ({value})" for name, ok, value in goals)
    print(f"\nGoals {met}/{len(goals)} met: {summary}. Total {time.perf_counter() - started:.0f} s.")
    if accused:
        print(f"Falsely accused receipts kept in {keep}")
    else:
        keep.rmdir()


if __name__ == "__main__":
    main()
