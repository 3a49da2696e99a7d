"""The OpenAI-compatible wire format: typed requests, their checks, and the response and stream-chunk bodies.

Requests name every field they accept; an option this node does not implement (n > 1, penalties,
logprobs, tools) is refused with a 422 naming the field rather than silently ignored. Errors use
OpenAI's body, `{"error": {"message", "type", "param", "code"}}`, which the `openai` client reads.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zkinfer.core.support.errors import UsageError

RECEIPT_FIELD = "zkinfer_receipt"  # beside `choices`: the signed LLM receipt
RECEIPT_HEADER = "Zkinfer-Receipt-Id"  # on every answer, streams too: GET /v1/receipts/{id}
REQUEST_ID_HEADER = "Zkinfer-Request-Id"  # a caller's (or gateway's) request id: the draws are keyed with it
MAX_STOP = 4


class RequestError(UsageError):
    """A request the caller must fix; `param` names the field (OpenAI's `error.param`)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=0, le=(1 << 63) - 1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    # accepted only at their defaults (what many clients send explicitly)
    n: int = 1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[str, float] | None = None
    logprobs: bool | int | None = None

    @model_validator(mode="after")
    def _supported(self) -> _Request:
        unsupported = {
            "n": self.n != 1,
            "presence_penalty": self.presence_penalty != 0,
            "frequency_penalty": self.frequency_penalty != 0,
            "logit_bias": bool(self.logit_bias),
            "logprobs": self.logprobs not in (None, False, 0),
        }
        for name, used in unsupported.items():
            if used:
                raise ValueError(f"{name}: not supported by this node (leave it out, or at its default)")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options: only with stream true")
        return self

    def stop_list(self) -> list[str]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > MAX_STOP or any(not s or len(s) > 200 for s in stops):
            raise RequestError(f"stop: give at most {MAX_STOP} strings of 1 to 200 characters", "stop")
        return stops

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class CompletionRequest(_Request):
    prompt: str | list[int]
    echo: bool = False
    best_of: int | None = None
    suffix: str | None = None

    @model_validator(mode="after")
    def _completion_supported(self) -> CompletionRequest:
        if self.echo or self.best_of not in (None, 1) or self.suffix:
            raise ValueError("echo, best_of and suffix: not supported by this node")
        return self


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(part.text for part in self.content)


class ChatRequest(_Request):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    chat: bool,
    request_id: str,
    model: str,
    text: str,
    finish_reason: str,
    usage_: dict[str, int],
    receipt: dict[str, Any],
) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason, "logprobs": None}
    if chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    return {
        "id": response_id(chat, request_id),
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage_,
        RECEIPT_FIELD: receipt,
    }


def chunk_body(
    chat: bool, request_id: str, model: str, text: str | None, finish_reason: str | None, first: bool = False
) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason, "logprobs": None}
    if chat:
        delta: dict[str, str] = {"role": "assistant"} if first else {}
        if text is not None:
            delta["content"] = text
        choice["delta"] = delta
    else:
        choice["text"] = text or ""
    return {
        "id": response_id(chat, request_id),
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }


def final_chunk(
    chat: bool, request_id: str, model: str, receipt: dict[str, Any], usage_: dict[str, int] | None
) -> dict[str, Any]:
    """The last event before `[DONE]`: no choices, the receipt (and the usage when stream_options asked for it)."""
    body: dict[str, Any] = {
        "id": response_id(chat, request_id),
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [],
        RECEIPT_FIELD: receipt,
    }
    if usage_ is not None:
        body["usage"] = usage_
    return body


def response_id(chat: bool, request_id: str) -> str:
    return ("chatcmpl-" if chat else "cmpl-") + request_id
