"""The model itself: load a Hugging Face causal-LM directory, turn prompts into token ids, generate
token by token with the seeded sampler (KV cache), and recompute a whole sequence in one pass.

Both paths return the *last hidden state* (the final layer's output after its norm: what the
language-model head reads) at every position that produced a completion token, which the
commitments encode. torch and transformers are imported here only (the `llm` extra).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from zkinfer.llm import modeldir, sampling


@dataclass(frozen=True)
class Step:
    token: int
    hidden: np.ndarray  # [hidden size] float32: the state that produced `token`
    seconds: float  # the forward pass (and draw) that gave this token


@dataclass(frozen=True)
class Recomputed:
    logits: np.ndarray  # [completion tokens, vocab] float32: the distribution each completion token was drawn from
    hidden: np.ndarray  # [completion tokens, hidden size] float32


class Engine:
    """One loaded model. Not thread-safe: the service runs one generation at a time."""

    def __init__(self, directory: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.directory = directory
        self.files = modeldir.file_digests(directory)  # raises ModelDirError for a directory that is not a model
        self.digest = modeldir.model_digest(self.files)
        self.name = directory.resolve().name
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(directory, local_files_only=True)
            self.model: Any = AutoModelForCausalLM.from_pretrained(
                directory, local_files_only=True, dtype=torch.float32
            )
        except (OSError, ValueError, KeyError) as exc:
            raise modeldir.ModelDirError(f"{directory}: cannot load it as a causal language model ({exc})") from exc
        cast(Any, self.model).eval()  # transformers leaves it untyped
        config = self.model.config
        self.context = int(
            getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or 2048
        )
        eos = self.tokenizer.eos_token_id
        self.eos = {int(eos)} if eos is not None else set()
        bos = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else eos
        self.bos = int(bos) if bos is not None else 0  # what an empty text prompt becomes
        self.vocab_size = int(self.model.config.vocab_size)
        self._torch = torch
        self._cache_argument = (
            "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        )

    # prompts

    def chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
        return [int(i) for i in ids]

    def text_ids(self, prompt: str) -> list[int]:
        return [int(i) for i in self.tokenizer.encode(prompt, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    # the two passes

    def generate(self, prompt: list[int], params: sampling.Params, request_id: str, max_tokens: int) -> Iterator[Step]:
        """Tokens one by one, each drawn with u = uniform(seed, request id, position); the caller stops
        early by closing the iterator."""
        torch = self._torch
        with torch.inference_mode():
            started = time.perf_counter()
            out = self.model(input_ids=torch.tensor([prompt]), use_cache=True, output_hidden_states=True)
            for position in range(max_tokens):
                logits = out.logits[0, -1].float().numpy()
                hidden = out.hidden_states[-1][0, -1].float().numpy().copy()
                token = sampling.draw(logits, params, sampling.uniform(params.seed, request_id, position))
                now = time.perf_counter()
                yield Step(token=token, hidden=hidden, seconds=now - started)
                if position + 1 == max_tokens or token in self.eos:
                    return
                started = time.perf_counter()
                out = self.model(
                    input_ids=torch.tensor([[token]]), use_cache=True, output_hidden_states=True, **self._cache_of(out)
                )

    def _cache_of(self, out: Any) -> dict[str, Any]:
        """The KV cache to pass on: transformers 5.x calls it `cache`, earlier versions `past_key_values`."""
        if self._cache_argument == "cache":
            return {"cache": out.cache}
        return {"past_key_values": out.past_key_values}

    def recompute(self, prompt: list[int], completion: list[int]) -> Recomputed:
        """One prefill pass over prompt + completion: the logits and hidden state at each position that
        produced a completion token."""
        torch = self._torch
        ids = prompt + completion
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([ids[:-1]]), use_cache=False, output_hidden_states=True)
        start = len(prompt) - 1
        return Recomputed(
            logits=out.logits[0, start:].float().numpy(), hidden=out.hidden_states[-1][0, start:].float().numpy()
        )
