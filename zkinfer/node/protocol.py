"""The node's codec: Open Inference Protocol (KServe v2) bodies ⇄ the service's typed tensors.

The protocol's typed models, and the JSON + binary tensor data framing, are the serving layer's
(`zkinfer.serving.oip`); here a request's inputs become the service's tensors (from JSON `data` or
the binary section), and its answer becomes a response, in binary where the request asks for it. Decoding needs
no model: checking tensors against one (names, shapes, values) is the service's job. Every problem
with a request's form becomes an `InputError` naming the field (HTTP 422).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zkinfer.core.formats import inputs, statement
from zkinfer.core.support.errors import InputError
from zkinfer.core.zkp.onnx_model import TensorSpec
from zkinfer.node.answer_checks import Tensor
from zkinfer.node.service import Accepted, InferOptions
from zkinfer.node.store import JobState, JobView
from zkinfer.serving import oip
from zkinfer.serving.oip import InferResponse, RequestInput, ResponseOutput, TensorMetadata

DTYPES: dict[str, np.dtype[Any]] = {"FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}


def tensor_metadata(specs: tuple[TensorSpec, ...]) -> list[TensorMetadata]:
    return [TensorMetadata(name=s.name, datatype="FP32", shape=list(s.shape)) for s in specs]


@dataclass(frozen=True)
class DecodedInfer:
    """An infer request as the service takes it (tensors, options), and how the client wants its answer."""

    id: str | None  # echoed in the response
    inputs: list[Tensor]  # in request order
    options: InferOptions
    binary_outputs: list[bool] | None  # per requested output (as in `options.outputs`), or None: all outputs
    binary_default: bool  # `parameters.binary_data_output`: for all outputs when none are named


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
                f"inputs[{j}].data: missing; give input {item.name!r} as a flat list of {count} numbers "
                "(or binary tensor data)"
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
            f"inputs[{j}].parameters.binary_data_size: {size!r} does not fit the {len(binary) - offset} "
            f"binary byte(s) left as {item.datatype}"
        )
    return Tensor(
        item.name, tuple(item.shape), item.datatype, np.frombuffer(binary[offset : offset + size], dtype=dtype)
    ), offset + size


def decode_infer(body: bytes, header_length: str | None) -> DecodedInfer:
    """An infer request's body (JSON, or JSON + Triton binary tensor data) as typed tensors and options."""
    request, binary = oip.decode(body, header_length)
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
            f"id: {request.id[:40]!r} cannot be a statement's request id; send 1-128 characters of "
            "A-Z a-z 0-9 . _ : - (or no id: the receipt id is used)"
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
        model_name=accepted.model,
        model_version=oip.MODEL_VERSION,
        id=decoded.id,
        parameters=parameters,
        outputs=outputs,
    )
    binary = decoded.binary_outputs if decoded.binary_outputs is not None else [decoded.binary_default] * len(outputs)
    return oip.encode(response, [t.array for t in accepted.outputs], binary)
