"""Fast float inference with onnxruntime: CUDA when this machine has it, else the CPU.

The provider actually used (not merely requested) is reported, so a receipt says where the fast
answer was computed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from zkinfer.errors import InputError, ModelError

PREFERENCE = ("CUDAExecutionProvider", "CPUExecutionProvider")
_DTYPES: dict[str, type] = {
    "tensor(double)": np.float64, "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
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
        options.log_severity_level = 4  # quiet: onnxruntime warns noisily when CUDA is absent, and its errors reach the user in ours
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=choose_providers(prefer_gpu=prefer_gpu))
        except Exception as exc:  # onnxruntime raises its own unrelated exception classes
            raise ModelError(f"{model_path}: onnxruntime could not load the model: {exc}") from exc
        self.provider: str = self._session.get_providers()[0]
        self._input_names = [i.name for i in self._session.get_inputs()]
        # samples are floats; an integer or boolean input (indices, masks) is fed as the type it declares
        self._input_dtypes = [_DTYPES.get(i.type, np.float32) for i in self._session.get_inputs()]

    def run(self, sample: list[np.ndarray]) -> list[np.ndarray]:
        feed: dict[str, np.ndarray] = {name: x.astype(dtype) for name, dtype, x in zip(self._input_names, self._input_dtypes, sample, strict=True)}
        try:
            results = self._session.run(None, feed)
        except Exception as exc:  # shapes were checked already: what is left depends on the values (an index out of range)
            raise InputError(f"input {self._input_names}: onnxruntime could not run the model on these values: {exc}") from exc
        return [np.asarray(y, dtype=np.float64) for y in results]
