"""Fast float inference with onnxruntime: CUDA when this machine has it, else the CPU.

The provider actually used (not merely requested) is reported, so a receipt says where the fast
answer was computed. A model onnxruntime refuses to load (e.g. a third party's MatMul on int8
tensors at opset 10: INVALID_GRAPH, which ezkl proves fine) is run by onnx's reference evaluator
instead (provider "onnx-reference"); `open_session` picks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from zkinfer.core.support.errors import InputError, ModelError

PREFERENCE = ("CUDAExecutionProvider", "CPUExecutionProvider")
_DTYPES: dict[str, type] = {
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def choose_providers(available: list[str] | None = None, prefer_gpu: bool = True) -> list[str]:
    """Providers to request, best first, among those this onnxruntime build offers."""
    offered = ort.get_available_providers() if available is None else available
    wanted = PREFERENCE if prefer_gpu else PREFERENCE[1:]
    chosen = [p for p in wanted if p in offered]
    return chosen or ["CPUExecutionProvider"]


class FastSession:
    """An onnxruntime session over one model; `provider` is what onnxruntime really bound."""

    def __init__(self, model_path: Path, prefer_gpu: bool = True) -> None:
        options = ort.SessionOptions()
        options.log_severity_level = (
            4  # quiet: onnxruntime warns noisily when CUDA is absent, and its errors reach the user in ours
        )
        try:
            self._session = ort.InferenceSession(
                str(model_path), options, providers=choose_providers(prefer_gpu=prefer_gpu)
            )
        except Exception as exc:  # onnxruntime raises its own unrelated exception classes
            raise ModelError(f"{model_path}: onnxruntime could not load the model: {exc}") from exc
        self.provider: str = self._session.get_providers()[0]
        self._input_names = [i.name for i in self._session.get_inputs()]
        # samples are floats; an integer or boolean input (indices, masks) is fed as the type it declares
        self._input_dtypes = [_DTYPES.get(i.type, np.float32) for i in self._session.get_inputs()]

    def run(self, sample: list[np.ndarray]) -> list[np.ndarray]:
        feed: dict[str, np.ndarray] = {
            name: x.astype(dtype) for name, dtype, x in zip(self._input_names, self._input_dtypes, sample, strict=True)
        }
        try:
            results = self._session.run(None, feed)
        except (
            Exception
        ) as exc:  # shapes were checked already: what is left depends on the values (an index out of range)
            raise InputError(
                f"input {self._input_names}: onnxruntime could not run the model on these values: {exc}"
            ) from exc
        return [np.asarray(y, dtype=np.float64) for y in results]


REFERENCE_PROVIDER = "onnx-reference"


class ReferenceSession:
    """onnx's reference evaluator (numpy; slower, but it runs graphs onnxruntime refuses to load)."""

    provider: str = REFERENCE_PROVIDER

    def __init__(self, model_path: Path) -> None:
        import onnx
        from onnx.reference import ReferenceEvaluator

        try:
            model = onnx.load(str(model_path))
            self._evaluator = ReferenceEvaluator(model)
        except Exception as exc:  # onnx raises RuntimeError, NotImplementedError, ... for operators it lacks
            raise ModelError(f"{model_path}: onnx's reference evaluator could not load the model: {exc}") from exc
        initializers = {init.name for init in model.graph.initializer}
        inputs = [v for v in model.graph.input if v.name not in initializers]
        self._input_names = [v.name for v in inputs]
        self._input_dtypes = [onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type) for v in inputs]

    def run(self, sample: list[np.ndarray]) -> list[np.ndarray]:
        feed = {
            name: x.astype(dtype) for name, dtype, x in zip(self._input_names, self._input_dtypes, sample, strict=True)
        }
        try:
            results = self._evaluator.run(None, feed)
        except Exception as exc:
            raise InputError(
                f"input {self._input_names}: onnx's reference evaluator could not run the model on these values: {exc}"
            ) from exc
        return [np.asarray(y, dtype=np.float64) for y in results]


def open_session(model_path: Path, prefer_gpu: bool = True) -> FastSession | ReferenceSession:
    """onnxruntime, or onnx's reference evaluator for a model onnxruntime refuses to load. Raises
    onnxruntime's ModelError (naming both refusals) when neither can load it."""
    try:
        return FastSession(model_path, prefer_gpu=prefer_gpu)
    except ModelError as refused:
        try:
            return ReferenceSession(model_path)
        except ModelError as also:
            raise ModelError(f"{refused}; {also}") from refused
