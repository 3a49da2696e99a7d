"""An operator corpus modelled on ezkl's own `examples/onnx/` (1l_conv, 1l_sigmoid, lstm, ...).

We cannot download ezkl's .onnx files, so each case rebuilds a small model of the same kind: a
torch module exported through `zkinfer.prover.export.export` (opset 18, the path users take) or an
`onnx.helper` graph where we need exact control (symbolic dims, an operator torch never emits).
Like ezkl's examples, several models have a symbolic batch axis, several inputs or outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Builder = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One corpus model: how to build it, its input shapes and the range its inputs are drawn from."""

    name: str
    build: Builder
    shapes: tuple[tuple[int, ...], ...]
    low: float = -1.0
    high: float = 1.0
    slow: bool = False
    ops: tuple[str, ...] = ()  # the operators this case is about: the exported graph must contain them
    draw: Callable[[np.random.Generator], list[np.ndarray]] | None = None  # for non-float inputs (indices, booleans)
    provider: str | None = None  # the fast path that must answer, where it is not onnxruntime
    coarse: tuple[
        str, ...
    ] = ()  # the outputs compile must warn about (error large against their range); none elsewhere

    def sample(self, rng: np.random.Generator) -> list[np.ndarray]:
        if self.draw is not None:
            return self.draw(rng)
        return [rng.uniform(self.low, self.high, shape).astype(np.float32) for shape in self.shapes]

    def write(self, folder: Path, n_calibration: int = 8, seed: int = 0) -> tuple[Path, Path, list[np.ndarray]]:
        """Build the model, a calibration file and one held-out input; return (model, calibration, input)."""
        folder.mkdir(parents=True, exist_ok=True)
        model = folder / "model.onnx"
        self.build(model)
        rng = np.random.default_rng(seed)
        samples = [self.sample(rng) for _ in range(n_calibration)]
        if self.draw is None:  # the calibration covers the whole range, so the held-out input never falls outside it
            samples.append([np.full(s, self.low, np.float32) for s in self.shapes])
            samples.append([np.full(s, self.high, np.float32) for s in self.shapes])
        calibration = folder / "calibration.json"
        calibration.write_text(
            json.dumps(
                {"input_data": [[float(x) for s in samples for x in s[i].ravel()] for i in range(len(self.shapes))]}
            )
        )
        return model, calibration, self.sample(rng)


# ---------------------------------------------------------------- torch modules (exported at opset 18)


def _torch_case(make: Callable[[Any, Any], Any], shapes: tuple[tuple[int, ...], ...], n_outputs: int = 1) -> Builder:
    """A builder exporting the module `make(torch, nn)` returns, traced on zeros of `shapes`."""

    def build(path: Path) -> None:
        import torch

        from zkinfer.prover.export import export

        torch.manual_seed(0)
        module = make(torch, torch.nn)
        example = [np.random.default_rng(0).uniform(-1, 1, s).astype(np.float32) for s in shapes]
        outputs = None if n_outputs == 1 else [f"output_{i}" for i in range(n_outputs)]
        export(module, example, path, output_names=outputs)

    return build


def _torch_as_ezkl_examples(make: Callable[[Any, Any], Any], shape: tuple[int, ...], opset: int) -> Builder:
    """Exported the way ezkl's `examples/onnx/exporter.py` does: an old opset, a dynamic batch axis."""

    def build(path: Path) -> None:
        import torch

        torch.manual_seed(0)
        module = make(torch, torch.nn).eval()
        axes = {"input": {0: "batch_size"}, "output": {0: "batch_size"}}
        torch.onnx.export(
            module,
            (torch.rand(shape),),
            str(path),
            opset_version=opset,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes=axes,
            dynamo=False,
        )

    return build


def _conv_fc(torch: Any, nn: Any) -> Any:
    """ezkl's 3l_relu_conv_fc in miniature: Conv → ReLU → Flatten → Linear."""
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))


def _lambda(torch: Any, nn: Any, fn: Callable[..., Any]) -> Any:
    class Fn(nn.Module):
        def forward(self, *xs: Any) -> Any:
            return fn(torch, *xs)

    return Fn()


def _fn(fn: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    """A parameter-free module whose forward is `fn(torch, *inputs)`."""
    return lambda torch, nn: _lambda(torch, nn, fn)


def _with_batch_symbol(path: Path, symbol: str) -> None:
    """Rename dim 0 of every graph input and output to `symbol` (what `dynamic_axes` does in ezkl's examples)."""
    model = onnx.load(str(path))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = symbol
    del model.graph.value_info[:]  # stale intermediate shapes would contradict the symbol
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _symbolic(builder: Builder, symbol: str) -> Builder:
    def build(path: Path) -> None:
        builder(path)
        _with_batch_symbol(path, symbol)

    return build


# ---------------------------------------------------------------- onnx.helper graphs


def _graph(
    path: Path,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    inits: list[onnx.TensorProto] | None = None,
) -> None:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, inits or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _float(name: str, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def symbolic_matmul(path: Path) -> None:
    """MatMul + Add with a symbolic batch axis named 'N' (not ezkl's conventional 'batch_size')."""
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.normal(0, 0.5, (4, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(0, 0.1, (3,)).astype(np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
        helper.make_node("Add", ["h", "b"], ["y"], name="bias"),
    ]
    _graph(path, nodes, [_float("x", ["N", 4])], [_float("y", ["N", 3])], [w, b])


def gather(path: Path) -> None:
    """Gather with constant indices (picking features), then ReduceSum over them."""
    idx = numpy_helper.from_array(np.array([0, 2, 5], dtype=np.int64), "idx")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("Gather", ["x", "idx"], ["g"], name="pick", axis=1),
        helper.make_node("ReduceSum", ["g", "axes"], ["y"], name="sum", keepdims=1),
    ]
    _graph(path, nodes, [_float("x", [1, 6])], [_float("y", [1, 1])], [idx, axes])


def two_in_two_out(path: Path) -> None:
    """Two inputs, two outputs: y0 = a * b, y1 = a - b (elementwise)."""
    nodes = [
        helper.make_node("Mul", ["a", "b"], ["y0"], name="product"),
        helper.make_node("Sub", ["a", "b"], ["y1"], name="difference"),
    ]
    _graph(path, nodes, [_float("a", [1, 4]), _float("b", [1, 4])], [_float("y0", [1, 4]), _float("y1", [1, 4])])


def gather_index_input(path: Path) -> None:
    """Gather whose indices are a second, int64 model input (like ezkl's gather_elements example)."""
    nodes = [helper.make_node("Gather", ["x", "indices"], ["y"], name="pick", axis=1)]
    indices = helper.make_tensor_value_info("indices", TensorProto.INT64, [2])
    _graph(path, nodes, [_float("x", [1, 6]), indices], [_float("y", [1, 2])])


def _features_and_indices(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.uniform(-1, 1, (1, 6)).astype(np.float32), rng.integers(0, 6, (2,)).astype(np.float32)]


def boolean_logic(path: Path) -> None:
    """ezkl's `boolean` example: (x AND y) AND (y AND (z XOR w)) over four boolean inputs."""
    nodes = [
        helper.make_node("And", ["x", "y"], ["a"], name="x_and_y"),
        helper.make_node("Xor", ["z", "w"], ["zw"], name="z_xor_w"),
        helper.make_node("And", ["y", "zw"], ["b"], name="y_and_zw"),
        helper.make_node("And", ["a", "b"], ["y_out"], name="both"),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.BOOL, [1, 3]) for n in ("w", "x", "y", "z")]
    _graph(path, nodes, inputs, [helper.make_tensor_value_info("y_out", TensorProto.BOOL, [1, 3])])


def _booleans(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.integers(0, 2, (1, 3)).astype(np.float32) for _ in range(4)]


def unsupported_det(path: Path) -> None:
    """Relu → Det → Add: Det (matrix determinant) has no circuit in tract/ezkl; it sits mid-graph."""
    one = numpy_helper.from_array(np.ones((1,), np.float32), "one")
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="pre"),
        helper.make_node("Det", ["r"], ["d"], name="my_det_node"),
        helper.make_node("Add", ["d", "one"], ["y"], name="post"),
    ]
    _graph(path, nodes, [_float("x", [1, 3, 3])], [_float("y", [1])], [one])


def unsupported_bitshift(path: Path) -> None:
    """BitShift loads in tract but ezkl refuses it when building the circuit ("shift left")."""
    nodes = [
        helper.make_node("Cast", ["x"], ["xi"], name="to_uint8", to=TensorProto.UINT8),
        helper.make_node("BitShift", ["xi", "xi"], ["yi"], name="my_shift_node", direction="LEFT"),
        helper.make_node("Cast", ["yi"], ["y"], name="to_float", to=TensorProto.FLOAT),
    ]
    _graph(path, nodes, [_float("x", [1, 4])], [_float("y", [1, 4])])


def data_dependent_shape(path: Path) -> None:
    """NonZero: its output's shape depends on the input values, which no fixed circuit can have."""
    nodes = [helper.make_node("NonZero", ["x"], ["y"], name="my_nonzero_node")]
    _graph(path, nodes, [_float("x", [1, 4])], [helper.make_tensor_value_info("y", TensorProto.INT64, [2, "n"])])


def synthesis_failure(op: str, **attributes: Any) -> Builder:
    """MatMul → Relu → OP → Add: ezkl fails on OP with "General synthesis error", naming no node,
    so zkinfer has to locate it (Mod, IsNaN, DFT in ezkl 23)."""

    def build(path: Path) -> None:
        w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
        two = numpy_helper.from_array(np.full((1,), 2.0, np.float32), "two")
        middle: dict[str, tuple[list[onnx.NodeProto], list[int | str]]] = {
            "Mod": ([helper.make_node("Mod", ["r", "two"], ["m"], name="my_mod_node", **attributes)], [1, 4]),
            "IsNaN": (
                [
                    helper.make_node("IsNaN", ["r"], ["b"], name="my_isnan_node"),
                    helper.make_node("Cast", ["b"], ["m"], name="as_float", to=TensorProto.FLOAT),
                ],
                [1, 4],
            ),
            "DFT": (
                [
                    helper.make_node("Unsqueeze", ["r", "last"], ["u"], name="as_signal"),
                    helper.make_node("DFT", ["u"], ["m"], name="my_dft_node"),
                ],
                [1, 4, 2],
            ),
        }
        nodes, shape = middle[op]
        last = numpy_helper.from_array(np.array([-1], np.int64), "last")
        head = [
            helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
            helper.make_node("Relu", ["h"], ["r"], name="relu"),
        ]
        tail = [helper.make_node("Add", ["m", "m"], ["y"], name="double")]
        _graph(path, head + nodes + tail, [_float("x", [1, 4])], [_float("y", shape)], [w, two, last])

    return build


# name → (builder, input shape, what the error must name)
UNSUPPORTED: dict[str, tuple[Builder, tuple[int, ...], tuple[str, ...]]] = {
    "det": (unsupported_det, (1, 3, 3), ("my_det_node", "Det")),
    "bitshift": (unsupported_bitshift, (1, 4), ("my_shift_node", "BitShift", "shift left")),
    "mod": (synthesis_failure("Mod", fmod=1), (1, 4), ("my_mod_node", "Mod")),
    "isnan": (synthesis_failure("IsNaN"), (1, 4), ("my_isnan_node", "IsNaN")),
    "dft": (synthesis_failure("DFT"), (1, 4), ("my_dft_node", "DFT")),
    "nonzero": (data_dependent_shape, (1, 4), ("my_nonzero_node", "NonZero", "depends on the input values")),
}


def reduce_to_scalar(op: str) -> Builder:
    """ezkl's reducemin/reducemax examples: a ReduceMin or ReduceMax over every axis with keepdims=0,
    so the output is a rank-0 tensor (a scalar; ezkl lists its instance shape as [1])."""

    def build(path: Path) -> None:
        nodes = [helper.make_node(op, ["x"], ["y"], name=f"{op.lower()}_all", keepdims=0)]
        _graph(path, nodes, [_float("x", [1, 6])], [_float("y", [])])

    return build


def every_rank(path: Path) -> None:
    """Several outputs of different ranks from one input [1, 6]: a scalar (rank 0), a vector [1],
    size-1 dims [1, 1, 1] and a rank-3 tensor [2, 1, 3]."""
    consts = [
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([1, 1, 1], np.int64), "ones"),
        numpy_helper.from_array(np.array([2, 1, 3], np.int64), "to_213"),
    ]
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["total"], name="sum_all", keepdims=0),
        helper.make_node("ReduceMax", ["x", "axis1"], ["row_max"], name="max_row", keepdims=0),
        helper.make_node("ReduceMean", ["x"], ["m"], name="mean_all", keepdims=1),
        helper.make_node("Reshape", ["m", "ones"], ["mean_111"], name="to_111"),
        helper.make_node("Reshape", ["x", "to_213"], ["grid"], name="to_grid"),
    ]
    outputs = [_float("total", []), _float("row_max", [1]), _float("mean_111", [1, 1, 1]), _float("grid", [2, 1, 3])]
    _graph(path, nodes, [_float("x", [1, 6])], outputs, consts)


def scalar_in_scalar_out(path: Path) -> None:
    """A rank-0 input and a rank-0 output: y = x * x + x. ezkl 23 cannot feed a rank-0 input (tract
    expects the rank-0 fact, ezkl hands it [1]), so compile refuses it, naming the input."""
    nodes = [
        helper.make_node("Mul", ["x", "x"], ["sq"], name="square"),
        helper.make_node("Add", ["sq", "x"], ["y"], name="plus_x"),
    ]
    _graph(path, nodes, [_float("x", [])], [_float("y", [])])


def int32_bitshift(path: Path) -> None:
    """ezkl's `bitshift` example as torch exports it (TorchScript, opset 16): four int32 inputs,
    x << 2, y >> 3, z << 1, w >> 4 as Mul and Div by powers of two. ezkl keeps integers at scale 0 and
    folds a multiplication by 2^k into the scale, so two outputs get negative scales (-2, -1)."""
    nodes, inits = [], []
    for i, (value, source, op) in enumerate(
        ((4, "input1", "Mul"), (8, "input2", "Div"), (2, "input3", "Mul"), (16, "input", "Div"))
    ):
        inits.append(numpy_helper.from_array(np.array(value, np.int32), f"c{i}"))
        nodes.append(helper.make_node(op, [source, f"c{i}"], [f"output_{i}"], name=f"shift_{i}"))
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT32, [1, 3]) for n in ("input", "input1", "input2", "input3")
    ]
    outputs = [helper.make_tensor_value_info(f"output_{i}", TensorProto.INT32, [1, 3]) for i in range(4)]
    _graph(path, nodes, inputs, outputs, inits)


def _integers_0_100(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.integers(0, 100, (1, 3)).astype(np.float32) for _ in range(4)]


# ---------------------------------------------------------------- the corpus

_IMG = ((1, 1, 6, 6),)
_VEC = ((1, 8),)


def int8_matmul_opset10(path: Path) -> None:
    """A third party's model as it came: opset 10, a MatMul on int8 tensors (Cast in, Cast out). ONNX's
    MatMul does not allow int8, so onnxruntime refuses the file (INVALID_GRAPH); ezkl proves it."""
    w = np.array([[1, -2, 0], [2, 1, -1], [-1, 0, 2], [0, 2, 1]], dtype=np.int8)
    nodes = [
        helper.make_node("Cast", ["input"], ["x_int8"], name="to_int8", to=TensorProto.INT8),
        helper.make_node("MatMul", ["x_int8", "w"], ["y_int8"], name="matmul_int8"),
        helper.make_node("Cast", ["y_int8"], ["y"], name="to_float", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["y", "scale"], ["output"], name="dequantize"),
    ]
    graph = helper.make_graph(
        nodes,
        "int8_matmul",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(0.5, np.float32), "scale")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 10)])
    model.ir_version = 5
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _small_integers(rng: np.random.Generator) -> list[np.ndarray]:
    """Whole numbers (Cast to int8 truncates) small enough that the int8 MatMul never overflows."""
    return [rng.integers(-4, 5, (1, 4)).astype(np.float32)]


CASES: tuple[Case, ...] = (
    Case(
        "mlp",
        _torch_case(lambda t, nn: nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3)), _VEC),
        _VEC,
        ops=("Gemm", "Relu"),
    ),
    Case(
        "conv",
        _torch_case(lambda t, nn: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), _IMG),
        _IMG,
        ops=("Conv", "Relu"),
    ),
    Case("average_pool", _torch_case(lambda t, nn: nn.AvgPool2d(2), _IMG), _IMG, ops=("AveragePool",)),
    Case("max_pool", _torch_case(lambda t, nn: nn.MaxPool2d(2), _IMG), _IMG, ops=("MaxPool",)),
    Case(
        "batch_norm",
        _torch_case(lambda t, nn: _eval_batch_norm(t, nn), ((1, 2, 3, 3),)),
        ((1, 2, 3, 3),),
        ops=("BatchNormalization",),
    ),
    Case("sigmoid", _torch_case(lambda t, nn: nn.Sigmoid(), _VEC), _VEC, slow=True, ops=("Sigmoid",)),
    Case("tanh", _torch_case(lambda t, nn: nn.Tanh(), _VEC), _VEC, ops=("Tanh",)),
    Case("softmax", _torch_case(lambda t, nn: nn.Softmax(dim=1), _VEC), _VEC, slow=True, ops=("Softmax",)),
    Case("leaky_relu", _torch_case(lambda t, nn: nn.LeakyReLU(0.1), _VEC), _VEC, ops=("LeakyRelu",)),
    Case(
        "gelu_tanh", _torch_case(lambda t, nn: nn.GELU(approximate="tanh"), _VEC), _VEC, slow=True, ops=("Tanh", "Mul")
    ),
    Case("gelu_erf", _torch_case(lambda t, nn: nn.GELU(), _VEC), _VEC, ops=("Erf",)),
    Case("pad", _torch_case(_fn(lambda t, x: t.nn.functional.pad(x, (1, 1, 1, 1))), _IMG), _IMG, ops=("Pad",)),
    # torch.export lowers flatten to Reshape (the TorchScript exporter wrote Flatten):
    # Flatten stays covered by conv_fc_opset11_dynamic
    Case(
        "flatten_reshape", _torch_case(_fn(lambda t, x: t.flatten(x, 1).reshape(1, 4, 9)), _IMG), _IMG, ops=("Reshape",)
    ),
    Case("concat", _torch_case(_fn(lambda t, x: t.cat([x, 2 * x], dim=1)), _VEC), _VEC, ops=("Concat",)),
    Case("slice", _torch_case(_fn(lambda t, x: x[:, 1:5]), _VEC), _VEC, ops=("Slice",)),
    Case("div", _torch_case(_fn(lambda t, x: x / 3.0), _VEC), _VEC, ops=("Div",)),
    Case("pow", _torch_case(_fn(lambda t, x: x**3), _VEC), _VEC, ops=("Pow",)),
    Case("sqrt", _torch_case(_fn(lambda t, x: t.sqrt(x)), _VEC), _VEC, low=0.05, high=2.0, ops=("Sqrt",)),
    Case(
        "reduce_mean_sum",
        _torch_case(_fn(lambda t, x: t.mean(x, dim=1, keepdim=True) + t.sum(x, dim=1, keepdim=True)), _VEC),
        _VEC,
        ops=("ReduceMean", "ReduceSum"),
    ),
    Case("gather", gather, ((1, 6),), ops=("Gather", "ReduceSum")),
    Case("gather_index_input", gather_index_input, ((1, 6), (2,)), ops=("Gather",), draw=_features_and_indices),
    Case("boolean", boolean_logic, ((1, 3),) * 4, ops=("And", "Xor"), draw=_booleans),
    Case(
        "matmul_two_inputs",
        _torch_case(_fn(lambda t, a, b: t.matmul(a, b)), ((1, 2, 3), (1, 3, 2))),
        ((1, 2, 3), (1, 3, 2)),
        ops=("MatMul",),
    ),
    Case("two_in_two_out", two_in_two_out, ((1, 4), (1, 4)), ops=("Mul", "Sub")),
    Case("symbolic_batch_N", symbolic_matmul, ((1, 4),), ops=("MatMul", "Add")),
    Case(
        "symbolic_batch_size",
        _symbolic(_torch_case(lambda t, nn: nn.Sequential(nn.Linear(8, 4), nn.ReLU()), _VEC), "batch_size"),
        _VEC,
        ops=("Gemm",),
    ),
    Case(
        "conv_fc_opset11_dynamic",
        _torch_as_ezkl_examples(_conv_fc, _IMG[0], opset=11),
        _IMG,
        low=0.0,
        ops=("Conv", "Relu", "Flatten", "Gemm"),
    ),
    Case("topk", _torch_case(_fn(lambda t, x: t.topk(x, 3).values), _VEC), _VEC, ops=("TopK",)),
    Case(
        "upsample",
        _torch_case(lambda t, nn: nn.Upsample(scale_factor=2, mode="nearest"), ((1, 1, 3, 3),)),
        ((1, 1, 3, 3),),
        ops=("Resize",),
    ),
    Case("lstm", _torch_case(lambda t, nn: nn.LSTM(3, 3), ((1, 3),), n_outputs=3), ((1, 3),), slow=True, ops=("LSTM",)),
    Case("gru", _torch_case(lambda t, nn: nn.GRU(3, 3), ((1, 3),), n_outputs=2), ((1, 3),), slow=True, ops=("GRU",)),
    Case("reduce_max_to_scalar", reduce_to_scalar("ReduceMax"), ((1, 6),), ops=("ReduceMax",)),
    Case("reduce_min_to_scalar", reduce_to_scalar("ReduceMin"), ((1, 6),), ops=("ReduceMin",)),
    Case("outputs_of_every_rank", every_rank, ((1, 6),), ops=("ReduceSum", "ReduceMax", "Reshape")),
    # onnxruntime's int32 Div rounds down, ezkl's circuit does not: y >> 3 and w >> 4 are up to 7/8 and 15/16 off
    Case(
        "int32_bitshift_negative_scales",
        int32_bitshift,
        ((1, 3),) * 4,
        ops=("Mul", "Div"),
        draw=_integers_0_100,
        coarse=("output_1", "output_3"),
    ),
    Case(
        "int8_matmul_opset10_onnxruntime_refuses",
        int8_matmul_opset10,
        ((1, 4),),
        ops=("MatMul", "Cast"),
        draw=_small_integers,
        provider="onnx-reference",
    ),
)


def _eval_batch_norm(torch: Any, nn: Any) -> Any:
    """BatchNorm2d with non-trivial running statistics, in eval mode (exported as BatchNormalization)."""
    bn = nn.BatchNorm2d(2)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.2, -0.1]))
        bn.running_var.copy_(torch.tensor([0.5, 2.0]))
        bn.weight.copy_(torch.tensor([1.5, 0.7]))
        bn.bias.copy_(torch.tensor([0.1, -0.3]))
    return bn.eval()


def case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)
