"""torch → ONNX with an opset ezkl's tract front end supports, checked for parity with torch.

Opset is pinned to 18: newer opsets bring ops such as native Gelu that tract cannot load.
Models are exported with torch's supported exporter (`torch.export` + onnxscript, `dynamo=True`),
every weight inside the one .onnx file. Where that path fails (torch.export cannot capture the
module: Python control flow on tensor values, unsupported constructs; or what it writes is not
opset 18 with the names asked for, or not faithful), the module is exported with the deprecated
TorchScript tracer that every earlier version used, with an `ExportFallbackWarning` naming why:
every model that exported before still does. Both paths get the same parity check.
torch is imported lazily so an auditor's install (no torch) can still import zkinfer.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zkinfer.core.support.errors import ExportError
from zkinfer.core.zkp import onnx_model
from zkinfer.prover.runtime import FastSession

OPSET = 18
PARITY_TOLERANCE = 1e-4

Exporter = Literal["dynamo", "torchscript"]


class ExportFallbackWarning(UserWarning):
    """The dynamo exporter failed on a module: it was exported with torch's deprecated TorchScript tracer."""


@dataclass(frozen=True)
class ExportReport:
    path: Path
    opset: int
    max_abs_difference: float
    inputs: list[str]
    outputs: list[str]
    exporter: Exporter = "dynamo"


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


def _reason(exc: BaseException) -> str:
    """The root cause's type and first line (torch wraps torch.export's error in its own), without colour codes."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


_NOISY_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch.fx.experimental.symbolic_shapes")


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hide the dynamo exporter's own chatter a user cannot act on: torchvision-not-installed log lines,
    torch's internal FutureWarnings, and, when torch.export fails, the graphs it dumps to stderr (the
    fallback warning names the failure). What it writes to stderr on success is passed on."""
    levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    captured = io.StringIO()
    try:
        with warnings.catch_warnings(), redirect_stderr(captured):
            warnings.simplefilter("ignore", FutureWarning)
            yield
        sys.stderr.write(captured.getvalue())
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _export_dynamo(
    torch: Any, module: Any, tensors: tuple[Any, ...], out: Path, input_names: list[str], output_names: list[str]
) -> None:
    """torch.export + onnxscript at opset 18, every weight inside the one .onnx file (ezkl reads no external data)."""
    with _quiet_exporter():
        torch.onnx.export(
            module,
            tensors,
            str(out),
            dynamo=True,
            opset_version=OPSET,
            external_data=False,
            input_names=input_names,
            output_names=output_names,
            verbose=False,
        )
    import onnx

    model = onnx.load(str(out), load_external_data=False)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset != OPSET:
        raise ExportError(f"{out}: the dynamo exporter wrote opset {opset}, not {OPSET}")
    initializers = {i.name for i in model.graph.initializer}
    names = ([v.name for v in model.graph.input if v.name not in initializers], [v.name for v in model.graph.output])
    if names != (input_names, output_names):
        raise ExportError(
            f"{out}: the dynamo exporter named the inputs {names[0]} and outputs {names[1]}, "
            f"not {input_names} and {output_names}"
        )
    if model.graph.value_info:
        # The dynamo exporter records every intermediate shape, fixed at the example's batch; the
        # TorchScript exporter did not, and a model whose batch axis is then made symbolic (as
        # notebooks/03_cost does) would contradict them. Shapes are inferred again wherever needed.
        del model.graph.value_info[:]
        onnx.save(model, str(out))


def _export_torchscript(
    torch: Any, module: Any, tensors: tuple[Any, ...], out: Path, input_names: list[str], output_names: list[str]
) -> None:
    """torch's deprecated TorchScript tracer: only where the dynamo exporter failed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # export() warns itself, naming why
        torch.onnx.export(
            module,
            tensors,
            str(out),
            opset_version=OPSET,
            input_names=input_names,
            output_names=output_names,
            dynamo=False,
        )


def _parity(out: Path, example: list[np.ndarray], references: list[Any]) -> float:
    """onnx.checker, then the largest difference from torch in onnxruntime; ExportError beyond the tolerance."""
    onnx_model.load(out)  # onnx.checker
    got = FastSession(out, prefer_gpu=False).run([np.asarray(x, dtype=np.float32) for x in example])
    diff = max(float(np.max(np.abs(g - r.numpy()))) for g, r in zip(got, references, strict=True))
    if diff > PARITY_TOLERANCE * max(1.0, max(float(r.abs().max()) for r in references)):
        raise ExportError(f"{out}: onnxruntime output differs from torch by {diff:.3g}; the export is not faithful")
    return diff


def export(
    module: Any,
    example: list[np.ndarray],
    out: Path,
    *,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
) -> ExportReport:
    """Export `module` traced on `example` (one array per input), then check it in onnxruntime."""
    torch = _torch()
    module.eval()
    tensors = tuple(torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in example)
    input_names = input_names or (["input"] if len(tensors) == 1 else [f"input_{i}" for i in range(len(tensors))])
    with torch.no_grad():
        reference = module(*tensors)
    references = _leaves(reference)  # both exporters flatten nested outputs (LSTM's (y, (h, c))) in this order
    output_names = output_names or (
        ["output"] if len(references) == 1 else [f"output_{i}" for i in range(len(references))]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    exporter: Exporter = "dynamo"
    try:
        _export_dynamo(torch, module, tensors, out, input_names, output_names)
        diff = _parity(out, example, references)
    except (
        Exception
    ) as dynamo_exc:  # torch.export raises many unrelated types (Unsupported, UserError, data-dependent guards...)
        exporter = "torchscript"
        try:
            _export_torchscript(torch, module, tensors, out, input_names, output_names)
        except Exception as exc:  # torch raises many unrelated types from tracing
            raise ExportError(
                f"{out}: torch.onnx.export failed: {exc} (the dynamo exporter first: {_reason(dynamo_exc)})"
            ) from exc
        diff = _parity(out, example, references)
        warnings.warn(
            f"{out}: torch's dynamo exporter failed ({_reason(dynamo_exc)}); "
            "exported with its deprecated TorchScript exporter instead, "
            "which records only the path the example input takes",
            ExportFallbackWarning,
            stacklevel=2,
        )
    return ExportReport(
        path=out, opset=OPSET, max_abs_difference=diff, inputs=input_names, outputs=output_names, exporter=exporter
    )
