"""`export`: torch's dynamo exporter at opset 18 with the names asked for, and the TorchScript fallback
(with a warning naming why) for a module torch.export cannot capture. No compiling: the quick loop."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")

from zkinfer.prover.export import OPSET, ExportFallbackWarning, export  # noqa: E402


def _opset(path: Path) -> int:
    return next(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx"))


def test_export_uses_the_dynamo_exporter_at_opset_18_with_one_self_contained_file(tmp_path: Path) -> None:
    from tests.torch_factories import tiny_mlp

    out = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExportFallbackWarning)
        report = export(tiny_mlp(), [np.random.default_rng(0).uniform(-1, 1, (1, 8)).astype(np.float32)], out)
    assert report.exporter == "dynamo" and report.opset == OPSET == _opset(out)
    assert (report.inputs, report.outputs) == (["input"], ["output"])
    model = onnx.load(str(out))
    assert [v.name for v in model.graph.input] == ["input"] and [v.name for v in model.graph.output] == ["output"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # weights inside, no external data file
    assert report.max_abs_difference <= 1e-4


def test_nested_outputs_keep_their_flattened_names(tmp_path: Path) -> None:
    """LSTM returns (y, (h, c)): three outputs, output_0..2, in that order, as with the TorchScript exporter."""
    torch.manual_seed(0)
    out = tmp_path / "lstm.onnx"
    report = export(torch.nn.LSTM(3, 3), [np.full((1, 3), 0.5, np.float32)], out)
    assert report.exporter == "dynamo"
    assert [v.name for v in onnx.load(str(out)).graph.output] == ["output_0", "output_1", "output_2"]
    assert "LSTM" in {n.op_type for n in onnx.load(str(out)).graph.node}


_Module: Any = torch.nn.Module


class _DataDependent(_Module):
    """Python control flow on a tensor's value: torch.export cannot capture it, the tracer records one branch."""

    def forward(self, x: Any) -> Any:
        if x.sum() > 0:
            return x * 2
        return x - 1


def test_a_module_torch_export_cannot_capture_falls_back_to_torchscript_with_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    with pytest.warns(
        ExportFallbackWarning, match=r"dynamo exporter failed \(.+\); exported with its deprecated TorchScript exporter"
    ):
        report = export(_DataDependent(), [np.full((1, 4), 0.5, np.float32)], out)
    assert report.exporter == "torchscript" and _opset(out) == OPSET
    assert [v.name for v in onnx.load(str(out)).graph.output] == ["output"]
    assert report.max_abs_difference <= 1e-4
