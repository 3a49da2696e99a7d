"""The gateway's side of the Open Inference Protocol: the agreed outputs as the client asked for them.

A client's request is read into the serving layer's typed `oip.InferRequest` (strict JSON, the same
checks as a node's) and travels typed through the gateway to the consensus client; the answer is an
`oip.InferResponse` with the certified statement's outputs, only those the client named, each in
JSON or in binary as it asked, under the client's own id.
"""

from __future__ import annotations

from zkinfer.core.support.errors import UsageError
from zkinfer.core.support.text import visible
from zkinfer.network.answers import OutputTensor
from zkinfer.network.outcome import Outcome
from zkinfer.serving import oip


def chosen_outputs(outcome: Outcome, request: oip.InferRequest) -> list[tuple[OutputTensor, bool]]:
    """The outputs the client named (all when none), each with whether it asked for it in binary."""
    default_binary = (request.parameters or {}).get("binary_data_output") is True
    by_name = {t.name: t for t in outcome.outputs}
    if request.outputs is None:
        return [(t, default_binary) for t in outcome.outputs]
    chosen = []
    for i, item in enumerate(request.outputs):
        if item.name not in by_name:
            raise UsageError(
                f"outputs[{i}].name: {visible(item.name, 40)!r} is not an output of model {outcome.model!r} "
                f"({', '.join(by_name)})"
            )
        chosen.append((by_name[item.name], (item.parameters or {}).get("binary_data", default_binary) is True))
    return chosen


def encode_answer(outcome: Outcome, request: oip.InferRequest, client_id: str) -> tuple[bytes, dict[str, str]]:
    """The response body and headers: the agreed outputs the client asked for, JSON or binary, under its own id."""
    chosen = chosen_outputs(outcome, request)
    response = oip.InferResponse(
        model_name=outcome.model,
        model_version=oip.MODEL_VERSION,
        id=client_id,
        parameters=outcome.response_parameters(),
        outputs=[oip.ResponseOutput(name=t.name, shape=list(t.shape), datatype=t.datatype) for t, _ in chosen],
    )
    return oip.encode(response, [t.data for t, _ in chosen], [binary for _, binary in chosen])
