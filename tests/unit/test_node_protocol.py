"""The node's HTTP codec and error mapping in-process (no server): OIP v2 JSON and Triton binary
bodies become typed tensors, typed results become JSON or binary responses, and each error type
has one status. The end-to-end behaviour is in test_node*.py against a real node.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from zkinfer.core.support.errors import InputError
from zkinfer.node import protocol, statuses
from zkinfer.node.answer_checks import Tensor
from zkinfer.node.service import Accepted, QueueFull, UnknownModel, UnknownReceipt
from zkinfer.node.store import JobState, JobView
from zkinfer.serving import oip
from zkinfer.serving.auth import Unauthenticated
from zkinfer.serving.body import BodyTooLarge

VALUES = [0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]


def _binary_body(values: np.ndarray, datatype: str, **request: object) -> tuple[bytes, str]:
    data = values.tobytes()
    header = {
        "inputs": [
            {"name": "input", "shape": [1, 8], "datatype": datatype, "parameters": {"binary_data_size": len(data)}}
        ],
        **request,
    }
    text = json.dumps(header).encode()
    return text + data, str(len(text))


def test_json_and_binary_bodies_decode_to_the_same_typed_tensor() -> None:
    plain = protocol.decode_infer(
        json.dumps(
            {"id": "r1", "inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": VALUES}]}
        ).encode(),
        None,
    )
    binary = protocol.decode_infer(*_binary_body(np.asarray(VALUES, dtype="<f4"), "FP32"))
    for decoded in (plain, binary):
        (tensor,) = decoded.inputs
        assert (tensor.name, tensor.shape, tensor.datatype) == ("input", (1, 8), "FP32")
        assert np.allclose(tensor.array, VALUES)
    assert plain.id == "r1" and binary.id is None
    assert plain.options.outputs is None and not plain.options.receipt_public


def test_options_and_output_choices_are_decoded() -> None:
    body = {
        "inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": VALUES}],
        "parameters": {"receipt_public": True, "binary_data_output": True},
        "outputs": [{"name": "b"}, {"name": "a", "parameters": {"binary_data": False}}],
    }
    decoded = protocol.decode_infer(json.dumps(body).encode(), None)
    assert decoded.options.receipt_public and decoded.options.outputs == ("b", "a")
    assert decoded.binary_outputs == [True, False]


@pytest.mark.parametrize("binary", [False, True])
def test_results_encode_as_the_client_asked(binary: bool) -> None:
    request = {
        "id": "r2",
        "inputs": [{"name": "input", "shape": [1], "datatype": "FP32", "data": [1]}],
        "parameters": {"binary_data_output": binary},
    }
    decoded = protocol.decode_infer(json.dumps(request).encode(), None)
    answer = np.asarray([[1.5, -2.0, 3.25]], dtype=np.float32)
    accepted = Accepted(job_id="J", model="m", outputs=[Tensor("output", (1, 3), "FP32", answer)], fast_provider="cpu")
    body, headers = protocol.infer_response(decoded, accepted, None)
    if binary:
        length = int(headers[oip.HEADER_LENGTH])
        header, raw = json.loads(body[:length]), body[length:]
        assert headers["content-type"] == "application/octet-stream"
        assert header["outputs"][0]["parameters"]["binary_data_size"] == 12 and np.array_equal(
            np.frombuffer(raw, "<f4"), answer.ravel()
        )
    else:
        header = json.loads(body)
        assert headers["content-type"] == "application/json" and header["outputs"][0]["data"] == [1.5, -2.0, 3.25]
    assert header["id"] == "r2" and header["model_name"] == "m" and header["model_version"] == "1"
    assert header["parameters"] == {
        "receipt_id": "J",
        "receipt_url": "/v1/receipts/J",
        "receipt_status": "accepted",
        "fast_provider": "cpu",
    }


def test_the_codec_refuses_what_it_cannot_decode_naming_the_field() -> None:
    values = np.asarray(VALUES, dtype="<f4")
    body, length = _binary_body(values, "FP32")
    for raw, header_length, needle in [
        (body[:-4], length, "inputs[0].parameters.binary_data_size"),
        (body + b"\0" * 4, length, "4 binary byte(s)"),
        (body, "x", oip.HEADER_LENGTH),
        (
            json.dumps({"inputs": [{"name": "input", "shape": [1, 8], "datatype": "INT8", "data": VALUES}]}).encode(),
            None,
            "inputs[0].datatype",
        ),
    ]:
        with pytest.raises(InputError) as refused:
            protocol.decode_infer(raw, header_length)
        assert needle in str(refused.value)


def _status(exc: Exception) -> int:
    return next(code for kind, code in statuses.STATUS if isinstance(exc, kind))


def test_each_error_type_has_one_status() -> None:
    assert _status(Unauthenticated("")) == 401
    assert _status(UnknownModel("")) == _status(UnknownReceipt("")) == 404
    assert _status(BodyTooLarge("")) == 413
    assert _status(QueueFull(3, 2)) == 429
    assert _status(InputError("")) == 422


def test_a_receipt_lookups_status_follows_the_job() -> None:
    def view(state: JobState, internal: bool = False) -> JobView:
        return JobView(
            id="j",
            model="m",
            state=state,
            error=None,
            receipt=None,
            batch_row=None,
            batch_jobs=None,
            internal_error=internal,
        )

    assert [statuses.job(view(s)) for s in JobState] == [
        202,
        202,
        200,
        422,
        202,
    ]  # held (optimistic, unchallenged): not proven yet
    assert statuses.job(view(JobState.FAILED, internal=True)) == 500
