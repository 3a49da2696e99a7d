"""Tiny models made in code (no torch, no downloads) so the suite runs fast on two cores."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp(path: Path, sizes: tuple[int, ...] = (8, 6, 3), seed: int = 0) -> Path:
    """A Gemm/Relu MLP with seeded weights, input shape [1, sizes[0]]."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    current = "input"
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = numpy_helper.from_array(rng.normal(0, 0.5, (n_out, n_in)).astype(np.float32), f"w{i}")
        b = numpy_helper.from_array(rng.normal(0, 0.1, (n_out,)).astype(np.float32), f"b{i}")
        inits += [w, b]
        out = "output" if i == len(sizes) - 2 else f"h{i}"
        gemm_out = out if i == len(sizes) - 2 else f"g{i}"
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [gemm_out], name=f"dense{i}", transB=1))
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [gemm_out], [out], name=f"relu{i}"))
        current = out
    graph = helper.make_graph(
        nodes,
        "tiny_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, sizes[0]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, sizes[-1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def samples(path: Path, n: int, size: int, seed: int = 1) -> Path:
    """n samples in [0, 1), ezkl-style, laid end to end."""
    rng = np.random.default_rng(seed)
    path.write_text(json.dumps({"input_data": [rng.random(n * size).round(4).tolist()]}))
    return path


def with_batch_axis(model_path: Path, out: Path) -> Path:
    """A copy of a single-input/output model whose axis 0 is symbolic, so it compiles for any batch size."""
    model = onnx.load(str(model_path))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch_size"
    onnx.save(model, str(out))
    return out
