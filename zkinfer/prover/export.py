"""torch → ONNX with an opset ezkl's tract front end supports, checked for parity with torch.

Opset is pinned to 18: newer opsets bring ops such as native Gelu that tract cannot load.
torch is imported lazily so an auditor's install (no torch) can still import zkinfer.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zkinfer.core import onnx_model
from zkinfer.core.errors import ExportError
from zkinfer.prover.runtime import FastSession

OPSET = 18
PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportReport:
    path: Path
    opset: int
    max_abs_difference: float
    inputs: list[str]
    outputs: list[str]


def _torch() -> Any:
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise ExportError("torch is not installed; install the export extra: pip install 'zkinfer[torch]'") from exc


def load_factory(spec: str) -> Any:
    """Build a module from 'package.module:factory' (a callable returning an nn.Module)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ExportError(f"{spec!r}: expected MODULE:FACTORY, e.g. models.digits_mlp:build")
    if os.getcwd() not in sys.path:  # console scripts do not put the working directory on sys.path
        sys.path.insert(0, os.getcwd())
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ExportError(f"{spec!r}: cannot import {attr} from {module_name}: {exc}") from exc
    return factory()


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def export(module: Any, example: list[np.ndarray], out: Path, *, input_names: list[str] | None = None, output_names: list[str] | None = None) -> ExportReport:
    """Export `module` traced on `example` (one array per input), then check it in onnxruntime."""
    torch = _torch()
    module.eval()
    tensors = tuple(torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in example)
    input_names = input_names or (["input"] if len(tensors) == 1 else [f"input_{i}" for i in range(len(tensors))])
    with torch.no_grad():
        reference = module(*tensors)
    references = _leaves(reference)  # torch.onnx flattens nested outputs (LSTM's (y, (h, c))) in this order
    output_names = output_names or (["output"] if len(references) == 1 else [f"output_{i}" for i in range(len(references))])
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.onnx.export(module, tensors, str(out), opset_version=OPSET, input_names=input_names, output_names=output_names, dynamo=False)
    except Exception as exc:  # torch raises many unrelated types from tracing
        raise ExportError(f"{out}: torch.onnx.export failed: {exc}") from exc
    onnx_model.load(out)  # onnx.checker
    got = FastSession(out, prefer_gpu=False).run([np.asarray(x, dtype=np.float32) for x in example])
    diff = max(float(np.max(np.abs(g - r.numpy()))) for g, r in zip(got, references, strict=True))
    if diff > PARITY_TOLERANCE * max(1.0, max(float(r.abs().max()) for r in references)):
        raise ExportError(f"{out}: onnxruntime output differs from torch by {diff:.3g}; the export is not faithful")
    return ExportReport(path=out, opset=OPSET, max_abs_difference=diff, inputs=input_names, outputs=output_names)
