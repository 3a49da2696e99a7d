"""Fast float inference with onnxruntime: CUDA when this machine has it, else the CPU.

The provider actually used (not merely requested) is reported, so a receipt says where the fast
answer was computed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from zkinfer.errors import ModelError

PREFERENCE = ("CUDAExecutionProvider", "CPUExecutionProvider")


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
        options.log_severity_level = 3  # onnxruntime warns noisily when CUDA is absent; keep errors only
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=choose_providers(prefer_gpu=prefer_gpu))
        except Exception as exc:  # onnxruntime raises its own unrelated exception classes
            raise ModelError(f"{model_path}: onnxruntime could not load the model: {exc}") from exc
        self.provider: str = self._session.get_providers()[0]
        self._input_names = [i.name for i in self._session.get_inputs()]

    def run(self, sample: list[np.ndarray]) -> list[np.ndarray]:
        feed = {name: x.astype(np.float32) for name, x in zip(self._input_names, sample, strict=True)}
        return [np.asarray(y, dtype=np.float64) for y in self._session.run(None, feed)]
