"""The codec of the HTTP layer: Open Inference Protocol (KServe v2) bodies ⇄ the service's typed tensors.

`tritonclient.http` sends tensors as raw bytes after the JSON header by default (the header's
length in `Inference-Header-Content-Length`, each input's size in `parameters.binary_data_size`),
so the node reads both forms, and answers in binary when the request asks for it. Decoding needs
no model: checking tensors against one (names, shapes, values) is the service's job. Every problem
with a request's form becomes an `InputError` naming the field (HTTP 422).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zkinfer.core import inputs, statement, strict_json
from zkinfer.core.errors import InputError
from zkinfer.core.onnx_model import TensorSpec
from zkinfer.node.service import Accepted, InferOptions, Tensor
from zkinfer.node.store import JobState, JobView

HEADER_LENGTH = "Inference-Header-Content-Length"
MODEL_VERSION = "1"
DTYPES: dict[str, np.dtype[Any]] = {"FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}
Parameters = dict[str, bool | int | float | str]


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
    parameters: dict[str, Any]  # Parameters, and the signed statement and promise (JSON objects)
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


def tensor_metadata(specs: tuple[TensorSpec, ...]) -> list[TensorMetadata]:
    return [TensorMetadata(name=s.name, datatype="FP32", shape=list(s.shape)) for s in specs]


def field_name(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "body"


@dataclass(frozen=True)
class DecodedInfer:
    """An infer request as the service takes it (tensors, options), and how the client wants its answer."""

    id: str | None  # echoed in the response
    inputs: list[Tensor]  # in request order
    options: InferOptions
    binary_outputs: list[bool] | None  # per requested output (as in `options.outputs`), or None: all outputs
    binary_default: bool  # `parameters.binary_data_output`: for all outputs when none are named


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        n = int(header_length)
    except ValueError:
        n = -1
    if not 0 <= n <= len(body):
        raise InputError(f"header {HEADER_LENGTH}: {header_length!r} is not a length within the {len(body)}-byte body")
    return body[:n], body[n:]


def _request(header: bytes) -> InferRequest:
    """The JSON header, read strictly: a duplicate key or a number beyond float32 is refused, naming its field."""
    try:
        document = strict_json.loads(header)
    except strict_json.StrictJSONError as exc:
        where, _, why = str(exc).partition(": ") if str(exc).startswith("$") else ("$", "", str(exc))
        field = where.removeprefix("$").lstrip(".") or "body"
        raise InputError(
            f'{field}: {why}; send an Open Inference Protocol request {{"inputs": [{{"name", "shape", "datatype", "data"}}]}}'
        ) from exc
    try:
        return InferRequest.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{field_name(e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise InputError(problems) from exc


def _tensor(j: int, item: RequestInput, binary: memoryview, offset: int) -> tuple[Tensor, int]:
    """Input j as a typed tensor (from JSON `data` or the binary section) and the new binary offset."""
    if item.datatype not in DTYPES:
        raise InputError(
            f"inputs[{j}].datatype: {item.datatype!r} is not accepted for input {item.name!r}; send FP32 or FP64"
        )
    size = (item.parameters or {}).get("binary_data_size")
    if size is None:
        if item.data is None:
            count = math.prod(item.shape)
            raise InputError(
                f"inputs[{j}].data: missing; give input {item.name!r} as a flat list of {count} numbers (or binary tensor data)"
            )
        array = inputs._as_float_array(item.data, f"inputs[{j}]")  # the numbers check of the CLI's input files
        return Tensor(item.name, tuple(item.shape), item.datatype, array), offset
    dtype = DTYPES[item.datatype]
    if (
        not isinstance(size, int)
        or isinstance(size, bool)
        or size < 0
        or offset + size > len(binary)
        or size % dtype.itemsize
    ):
        raise InputError(
            f"inputs[{j}].parameters.binary_data_size: {size!r} does not fit the {len(binary) - offset} binary byte(s) left as {item.datatype}"
        )
    return Tensor(
        item.name, tuple(item.shape), item.datatype, np.frombuffer(binary[offset : offset + size], dtype=dtype)
    ), offset + size


def decode_infer(body: bytes, header_length: str | None) -> DecodedInfer:
    """An infer request's body (JSON, or JSON + Triton binary tensor data) as typed tensors and options."""
    header, binary = _split(body, header_length)
    request = _request(header)
    tensors, offset, view = [], 0, memoryview(binary)
    for j, item in enumerate(request.inputs):
        tensor, offset = _tensor(j, item, view, offset)
        tensors.append(tensor)
    if offset != len(binary):
        raise InputError(
            f"body: {len(binary) - offset} binary byte(s) after the JSON header belong to no input's binary_data_size"
        )
    if request.id is not None and not statement.REQUEST_ID.fullmatch(request.id):
        raise InputError(
            f"id: {request.id[:40]!r} cannot be a statement's request id; send 1-128 characters of A-Z a-z 0-9 . _ : - (or no id: the receipt id is used)"
        )
    parameters = request.parameters or {}
    public = parameters.get("receipt_public", False)
    if not isinstance(public, bool):
        raise InputError(f"parameters.receipt_public: {public!r} is not true or false")
    default_binary = bool(parameters.get("binary_data_output", False))
    names = None if request.outputs is None else tuple(out.name for out in request.outputs)
    binary_outputs = (
        None
        if request.outputs is None
        else [bool((out.parameters or {}).get("binary_data", default_binary)) for out in request.outputs]
    )
    return DecodedInfer(
        id=request.id,
        inputs=tensors,
        options=InferOptions(outputs=names, receipt_public=public, request_id=request.id),
        binary_outputs=binary_outputs,
        binary_default=default_binary,
    )


def infer_response(decoded: DecodedInfer, accepted: Accepted, job: JobView | None) -> tuple[bytes, dict[str, str]]:
    """The response body and headers: the fast answer now, the receipt id, the signed statement and promise
    (and the receipt, if waited for) in `parameters`."""
    parameters: dict[str, Any] = {
        "receipt_id": accepted.job_id,
        "receipt_url": f"/v1/receipts/{accepted.job_id}",
        "receipt_status": (job.state if job else JobState.HELD if accepted.held else JobState.ACCEPTED).value,
        "fast_provider": accepted.fast_provider,
    }
    if accepted.signed is not None:
        parameters["zkinfer_statement"] = accepted.signed.statement.to_json()
        if accepted.signed.promise is not None:
            parameters["zkinfer_promise"] = accepted.signed.promise.to_json()
    if accepted.claim is not None:
        parameters["zkinfer_claim"] = {
            **accepted.claim.to_json(),
            "claim_url": f"/v1/claims/{accepted.claim.request_id}",
        }
    if job is not None and job.receipt is not None:
        parameters["receipt"] = job.receipt
        parameters["receipt_batch_row"] = job.batch_row or 0
    if job is not None and job.error is not None:
        parameters["receipt_error"] = job.error
    outputs = [ResponseOutput(name=t.name, shape=list(t.shape), datatype=t.datatype) for t in accepted.outputs]
    response = InferResponse(
        model_name=accepted.model, model_version=MODEL_VERSION, id=decoded.id, parameters=parameters, outputs=outputs
    )
    binary = decoded.binary_outputs if decoded.binary_outputs is not None else [decoded.binary_default] * len(outputs)
    return _encode(response, [t.array for t in accepted.outputs], binary)


def _encode(response: InferResponse, arrays: list[np.ndarray], binary: list[bool]) -> tuple[bytes, dict[str, str]]:
    """Plain JSON, or JSON + raw FP32 bytes where binary was asked for."""
    chunks: list[bytes] = []
    for out, array, as_binary in zip(response.outputs, arrays, binary, strict=True):
        flat = np.ascontiguousarray(array, dtype="<f4").ravel()
        if as_binary:
            chunks.append(flat.tobytes())
            out.parameters = {**(out.parameters or {}), "binary_data_size": len(chunks[-1])}
        else:
            out.data = flat.tolist()
    header = response.model_dump_json(exclude_none=True).encode()
    if not chunks:
        return header, {"content-type": "application/json"}
    return header + b"".join(chunks), {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(header))}
