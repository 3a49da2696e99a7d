"""The Open Inference Protocol (KServe v2) bodies, with Triton's binary tensor data extension.

`tritonclient.http` sends tensors as raw bytes after the JSON header by default (the header's
length in `Inference-Header-Content-Length`, each input's size in `parameters.binary_data_size`),
so the node reads both forms, and answers in binary when the request asks for it.
Every problem with a request becomes an `InputError` naming the field (HTTP 422).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zkinfer import inputs, strict_json
from zkinfer.errors import InputError
from zkinfer.inputs import Sample
from zkinfer.onnx_model import TensorSpec

HEADER_LENGTH = "Inference-Header-Content-Length"
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
    parameters: Parameters
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
class ParsedInfer:
    request: InferRequest
    sample: Sample  # one array per model input, in the model's input order
    outputs: list[tuple[int, bool]]  # (output index, as binary?) for each output to return
    receipt_public: bool = False  # `parameters.receipt_public`: every API key may read the receipt


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
        raise InputError(f"{field}: {why}; send an Open Inference Protocol request {{\"inputs\": [{{\"name\", \"shape\", \"datatype\", \"data\"}}]}}") from exc
    try:
        return InferRequest.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{field_name(e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise InputError(problems) from exc


def _values(j: int, item: RequestInput, spec: TensorSpec, binary: memoryview, offset: int) -> tuple[Any, int]:
    """Input j's values (from JSON `data` or the binary section) and the new binary offset."""
    if item.datatype not in DTYPES:
        raise InputError(f"inputs[{j}].datatype: {item.datatype!r} is not accepted for input {spec.name!r}; send FP32 or FP64")
    if item.shape != list(spec.shape):
        raise InputError(f"inputs[{j}].shape: input {spec.name!r} needs shape {list(spec.shape)}, got {item.shape}")
    size = (item.parameters or {}).get("binary_data_size")
    if size is None:
        if item.data is None:
            raise InputError(f"inputs[{j}].data: missing; give input {spec.name!r} as a flat list of {spec.size} numbers (or binary tensor data)")
        return item.data, offset
    dtype = DTYPES[item.datatype]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(binary) or size % dtype.itemsize:
        raise InputError(f"inputs[{j}].parameters.binary_data_size: {size!r} does not fit the {len(binary) - offset} binary byte(s) left as {item.datatype}")
    return np.frombuffer(binary[offset : offset + size], dtype=dtype), offset + size


def parse_infer(body: bytes, header_length: str | None, specs: tuple[TensorSpec, ...], output_specs: tuple[TensorSpec, ...]) -> ParsedInfer:
    """Check an infer request against the model: input names, datatype, shape, finite values; output names."""
    header, binary = _split(body, header_length)
    request = _request(header)
    by_name = {s.name: s for s in specs}
    names = [item.name for item in request.inputs]
    for j, name in enumerate(names):
        if name not in by_name:
            raise InputError(f"inputs[{j}].name: the model has no input {name!r}; its inputs are {sorted(by_name)}")
        if names.index(name) != j:
            raise InputError(f"inputs[{j}].name: input {name!r} is given twice")
    missing = [name for name in by_name if name not in names]
    if missing:
        raise InputError(f"inputs: missing input(s) {missing}; the model needs {list(by_name)}")
    values, offset, view = [], 0, memoryview(binary)
    for j, item in enumerate(request.inputs):
        value, offset = _values(j, item, by_name[item.name], view, offset)
        values.append(value)
    if offset != len(binary):
        raise InputError(f"body: {len(binary) - offset} binary byte(s) after the JSON header belong to no input's binary_data_size")
    arrays = inputs.from_values(values, tuple(by_name[n] for n in names), "inputs")
    in_request_order = dict(zip(names, arrays, strict=True))
    public = (request.parameters or {}).get("receipt_public", False)
    if not isinstance(public, bool):
        raise InputError(f"parameters.receipt_public: {public!r} is not true or false")
    return ParsedInfer(request=request, sample=[in_request_order[s.name] for s in specs], outputs=_wanted_outputs(request, output_specs), receipt_public=public)


def _wanted_outputs(request: InferRequest, specs: tuple[TensorSpec, ...]) -> list[tuple[int, bool]]:
    """(output index, as binary?) for each output to return: the requested ones, else all."""
    default_binary = bool((request.parameters or {}).get("binary_data_output", False))
    if request.outputs is None:
        return [(i, default_binary) for i in range(len(specs))]
    index = {s.name: i for i, s in enumerate(specs)}
    chosen = []
    for k, out in enumerate(request.outputs):
        if out.name not in index:
            raise InputError(f"outputs[{k}].name: the model has no output {out.name!r}; its outputs are {list(index)}")
        chosen.append((index[out.name], bool((out.parameters or {}).get("binary_data", default_binary))))
    return chosen


def encode_infer(response: InferResponse, arrays: list[np.ndarray], binary: list[bool]) -> tuple[bytes, dict[str, str]]:
    """The response body and headers: plain JSON, or JSON + raw FP32 bytes where binary was asked for."""
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
