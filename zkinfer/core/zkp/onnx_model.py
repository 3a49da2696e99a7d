"""Read an ONNX model's interface (input/output names and shapes) with clear errors for bad files."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING

from zkinfer.core.support.errors import ModelError

if TYPE_CHECKING:  # onnx is imported where a model is read: TensorSpec's users (input files, verify) need none of it
    import onnx


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: its name and concrete shape (symbolic dims taken as batch 1)."""

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    op_types: frozenset[str]
    symbols: tuple[tuple[str, int], ...] = ()  # each symbolic dim and the value it is given (ezkl needs them all)


def _symbols(values: list[onnx.ValueInfoProto], batch_size: int) -> dict[str, int]:
    """Symbolic dims by name ('N', 'batch_size', ...): batch_size where first seen on axis 0, else 1."""
    symbols: dict[str, int] = {}
    for value in values:
        for i, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_param:
                symbols.setdefault(dim.dim_param, batch_size if i == 0 else 1)
    return symbols


def _spec(value: onnx.ValueInfoProto, batch_size: int, symbols: dict[str, int]) -> TensorSpec:
    dims = []
    for i, dim in enumerate(value.type.tensor_type.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        else:  # symbolic or unknown dimension: the batch axis by convention
            dims.append(symbols.get(dim.dim_param, batch_size if i == 0 else 1))
    return TensorSpec(name=value.name, shape=tuple(dims))


def load(path: Path, batch_size: int = 1) -> ModelInfo:
    """Load and check an ONNX file; raise ModelError naming the file if it is missing or invalid."""
    if not path.is_file():
        raise ModelError(f"{path}: no such ONNX file; export one with `zkinfer export`")
    import onnx

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ... with no common base
        raise ModelError(f"{path}: not a valid ONNX model ({type(exc).__name__}: {exc}); re-export it") from exc
    initializers = {init.name for init in model.graph.initializer}
    graph_inputs = [v for v in model.graph.input if v.name not in initializers]
    symbols = _symbols([*graph_inputs, *model.graph.output], batch_size)
    inputs = tuple(_spec(v, batch_size, symbols) for v in graph_inputs)
    outputs = tuple(_spec(v, batch_size, symbols) for v in model.graph.output)
    if not inputs or not outputs:
        raise ModelError(f"{path}: the graph needs at least one input and one output")
    return ModelInfo(
        path=path,
        inputs=inputs,
        outputs=outputs,
        op_types=frozenset(n.op_type for n in model.graph.node),
        symbols=tuple(symbols.items()),
    )


def without_empty_trailing_inputs(path: Path, out: Path) -> Path:
    """`path`, or a copy at `out` with empty trailing optional inputs dropped from its nodes.

    torch exports e.g. `F.pad` as `Pad(x, pads, "")`; ONNX defines a trailing "" as an omitted
    input, but tract (ezkl's ONNX front end) fails to analyse such a node. Dropping them changes
    nothing onnxruntime computes, and a model without any is used as it is.
    """
    import onnx

    model = onnx.load(str(path))
    changed = False
    for node in model.graph.node:
        names = list(node.input)
        while names and not names[-1]:
            names.pop()
        if len(names) != len(node.input):
            del node.input[len(names) :]
            changed = True
    if not changed:
        return path
    onnx.save(model, str(out))
    return out
