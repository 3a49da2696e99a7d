"""The Open Inference Protocol (KServe v2) as typed models, shared by the servers and the clients.

The node decodes requests into these and answers with them; the gateway reads a client's request
into the same `InferRequest`, forwards it to the nodes, and answers with an `InferResponse`; the
consensus client builds its requests from it. `tritonclient.http` sends tensors as raw bytes after
the JSON header by default (the header's length in `Inference-Header-Content-Length`, each input's
size in `parameters.binary_data_size`), so a body is a JSON header and optional binary tensor data
(`split`), and answers are encoded the same way (`encode`). Every problem with a request's form is
an `InputError` naming the field (HTTP 422).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zkinfer.core.formats import strict_json
from zkinfer.core.support.errors import InputError

HEADER_LENGTH = "Inference-Header-Content-Length"
MODEL_VERSION = "1"
Parameters = dict[str, bool | int | float | str]
REQUEST_SHAPE = '{"inputs": [{"name", "shape", "datatype", "data"}]}'


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: Any = None


class RequestOutput(BaseModel):
    name: str
    parameters: Parameters | None = None


class InferRequest(BaseModel):
    id: str | None = None
    parameters: Parameters | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[float] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any]  # Parameters, and zkinfer's signed documents (JSON objects)
    outputs: list[ResponseOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    version: str
    extensions: list[str]


def field_name(loc: tuple[int | str, ...]) -> str:
    """A validation error's location as the field a client wrote: `inputs[0].shape`."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "body"


def split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """A body's JSON header and the binary tensor data after it (`Inference-Header-Content-Length`)."""
    if header_length is None:
        return body, b""
    n = int(header_length) if header_length.isdigit() else -1
    if not 0 <= n <= len(body):
        raise InputError(
            f"header {HEADER_LENGTH}: {header_length[:20]!r} is not a length within the {len(body)}-byte body"
        )
    return body[:n], body[n:]


def parse_request(header: bytes) -> InferRequest:
    """The JSON header, read strictly: a duplicate key or a number beyond float32 is refused, naming its field."""
    try:
        document = strict_json.loads(header)
    except strict_json.StrictJSONError as exc:
        where, _, why = str(exc).partition(": ") if str(exc).startswith("$") else ("$", "", str(exc))
        field = where.removeprefix("$").lstrip(".") or "body"
        raise InputError(f"{field}: {why}; send an Open Inference Protocol request {REQUEST_SHAPE}") from exc
    return validate_request(document)


def validate_request(document: Any) -> InferRequest:
    """A parsed JSON document as a request, or an `InputError` naming the first fields at fault."""
    try:
        return InferRequest.model_validate(document)
    except ValidationError as exc:
        raise InputError("; ".join(f"{field_name(e['loc'])}: {e['msg']}" for e in exc.errors()[:5])) from exc


def decode(body: bytes, header_length: str | None) -> tuple[InferRequest, bytes]:
    """An infer request's body as its typed header and its binary tensor data."""
    header, binary = split(body, header_length)
    return parse_request(header), binary


def encode_request(request: InferRequest, binary: bytes = b"") -> tuple[bytes, dict[str, str]]:
    """A request's body and headers (JSON, with the binary tensor data after it when there is any)."""
    head = request.model_dump_json(exclude_none=True).encode()
    headers = {"Content-Type": "application/json"}
    if binary:
        headers[HEADER_LENGTH] = str(len(head))
    return head + binary, headers


def encode(response: InferResponse, arrays: list[Any], binary: list[bool]) -> tuple[bytes, dict[str, str]]:
    """A response's body and headers: plain JSON, or JSON + raw FP32 bytes for the outputs asked in binary."""
    chunks: list[bytes] = []
    for out, array, as_binary in zip(response.outputs, arrays, binary, strict=True):
        flat = np.ascontiguousarray(array, dtype="<f4").ravel()
        if as_binary:
            chunks.append(flat.tobytes())
            out.parameters = {**(out.parameters or {}), "binary_data_size": len(chunks[-1])}
        else:
            out.data = flat.tolist()
    head = response.model_dump_json(exclude_none=True).encode()
    if not chunks:
        return head, {"content-type": "application/json"}
    return head + b"".join(chunks), {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
