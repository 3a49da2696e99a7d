"""The trace claim (`zkinfer.llm-trace-claim/1`): the few bytes of an LLM answer a contract can check a signature over.

A receipt is signed over canonical JSON, which a contract cannot afford to parse. So a node also signs,
with the same BLS key, a fixed 154-byte message derived from the receipt alone (anyone rebuilds it):

    "zkinfer.llm-trace-claim/1\\0"  (26 bytes: the domain; no other signed zkinfer message starts so)
    model        32  the receipt's model digest (its sha256 bytes)
    tokens       32  keccak256 of prompt ‖ completion token ids, each a 4-byte big-endian word
    request      32  sha256 of the request id (the sampler's draws are keyed by it)
    prompt        4  the number of prompt tokens          (big-endian, as every field)
    completion    4  the number of completion tokens
    temperature   8  IEEE-754 binary64 bits
    top_p         8  IEEE-754 binary64 bits
    seed          8

The dispute contract opens a dispute only over a claim this node's registered key signed, learns the
token at any position from the token list whose hash the claim holds, and the disputed positions from
the two counts: the trace covers positions 0 … prompt + completion − 2 (every position that produced a
completion token, and every one before it).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Final

import numpy as np
from eth_hash.auto import keccak

SCHEMA: Final = "zkinfer.llm-trace-claim/1"
DOMAIN: Final = SCHEMA.encode() + b"\x00"
_BODY = struct.Struct(">32s32s32sIIddQ")
SIZE: Final = len(DOMAIN) + _BODY.size


def tokens_bytes(token_ids: list[int]) -> bytes:
    """Token ids as the contract reads them: 4-byte big-endian words."""
    return np.asarray(token_ids, dtype=">u4").tobytes()


@dataclass(frozen=True)
class TraceClaim:
    model: bytes
    tokens: bytes
    request: bytes
    prompt_tokens: int
    completion_tokens: int
    temperature: float
    top_p: float
    seed: int

    @classmethod
    def of(
        cls,
        model_digest: str,
        prompt: list[int],
        completion: list[int],
        request_id: str,
        temperature: float,
        top_p: float,
        seed: int,
    ) -> TraceClaim:
        return cls(
            bytes.fromhex(model_digest.removeprefix("sha256:")),
            keccak(tokens_bytes([*prompt, *completion])),
            hashlib.sha256(request_id.encode()).digest(),
            len(prompt),
            len(completion),
            temperature,
            top_p,
            seed,
        )

    @property
    def positions(self) -> int:
        """The trace's positions: each that produced a completion token, and every one before it."""
        return self.prompt_tokens + self.completion_tokens - 1

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def message(self) -> bytes:
        """The signed bytes: the domain, then the fields."""
        return DOMAIN + _BODY.pack(
            self.model,
            self.tokens,
            self.request,
            self.prompt_tokens,
            self.completion_tokens,
            self.temperature,
            self.top_p,
            self.seed,
        )


def parse(message: bytes) -> TraceClaim:
    """The claim in signed bytes; ValueError for another length or domain."""
    if len(message) != SIZE or not message.startswith(DOMAIN):
        raise ValueError(f"a trace claim is {SIZE} bytes starting with {DOMAIN!r}")
    return TraceClaim(*_BODY.unpack(message[len(DOMAIN) :]))
