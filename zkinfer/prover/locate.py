"""Find the node that breaks ezkl when ezkl's own error does not say (e.g. "General synthesis error").

ezkl names the node only for operators tract cannot load. For others (Mod, IsNaN, DFT, ...) it
fails deep in circuit synthesis with no location, which leaves a user with a 500-node model
nowhere to look. We cut the graph into prefixes (ONNX keeps nodes in topological order), each
exposing every tensor it computes but does not use, and bisect for the shortest prefix ezkl
refuses: its last node is the first one ezkl cannot build. That node is then tried on its own,
so the message can say whether it fails by itself or only in its context.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import helper, shape_inference

from zkinfer.core.support.errors import ModelError, UnsupportedOperatorError

Builds = Callable[[Path], bool]  # True when ezkl can make settings for the model at that path
MAX_PROBES = 24  # gen_settings calls at most: bisection needs log2(nodes) + 2


@dataclass(frozen=True)
class Culprit:
    name: str
    op_type: str
    index: int  # position in the graph's topological order
    fails_alone: bool | None  # None when it could not be tried on its own


def _value_infos(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    graph = model.graph
    return {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}


def _save(
    model: onnx.ModelProto,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    path: Path,
) -> None:
    graph = model.graph
    used = {name for node in nodes for name in node.input}
    initializers = [t for t in graph.initializer if t.name in used]
    sub = helper.make_model(
        helper.make_graph(nodes, graph.name or "prefix", inputs, outputs, initializers),
        opset_imports=model.opset_import,
    )
    sub.ir_version = model.ir_version
    onnx.save(sub, str(path))


def _prefix(model: onnx.ModelProto, infos: dict[str, onnx.ValueInfoProto], end: int, path: Path) -> bool:
    """Write nodes[:end + 1] with every tensor they make and do not consume as an output;
    False if none has a known type."""
    nodes = list(model.graph.node[: end + 1])
    consumed = {name for node in nodes for name in node.input}
    dangling = [
        infos[name] for node in nodes for name in node.output if name and name not in consumed and name in infos
    ]
    if not dangling:
        return False
    _save(model, nodes, list(model.graph.input), dangling, path)
    return True


def _alone(model: onnx.ModelProto, infos: dict[str, onnx.ValueInfoProto], index: int, path: Path) -> bool:
    """Write the node at `index` as a model of its own (its non-constant inputs become graph inputs)."""
    node = model.graph.node[index]
    constants = {t.name for t in model.graph.initializer}
    inputs = [infos[name] for name in node.input if name and name not in constants and name in infos]
    outputs = [infos[name] for name in node.output if name in infos]
    if len(inputs) != len([n for n in node.input if n and n not in constants]) or not outputs:
        return False
    _save(model, [node], inputs, outputs, path)
    return True


def first_failing_node(model_path: Path, builds: Builds) -> Culprit | None:
    """The first node (in topological order) whose prefix ezkl refuses, or None if that cannot be told."""
    try:
        model = shape_inference.infer_shapes(onnx.load(str(model_path)))
    except Exception:  # onnx raises many kinds; the caller keeps ezkl's own message then
        return None
    infos = _value_infos(model)
    count = len(model.graph.node)
    with tempfile.TemporaryDirectory(prefix="zkinfer-locate-") as tmp:
        probes = 0

        def refused(end: int) -> bool | None:
            nonlocal probes
            probes += 1
            path = Path(tmp) / f"prefix{end}.onnx"
            return None if not _prefix(model, infos, end, path) else not builds(path)

        if count == 0 or not refused(count - 1):  # ezkl's failure was not in making settings
            return None
        low, high = 0, count - 1  # invariant: prefix `high` is refused
        while low < high and probes < MAX_PROBES:
            middle = (low + high) // 2
            verdict = refused(middle)
            if verdict is None:  # no typed output to expose there: look later
                low = middle + 1
            elif verdict:
                high = middle
            else:
                low = middle + 1
        if low != high:
            return None
        node = model.graph.node[high]
        path = Path(tmp) / "alone.onnx"
        fails_alone = (not builds(path)) if _alone(model, infos, high, path) else None
    return Culprit(name=node.name or f"#{high}", op_type=node.op_type, index=high, fails_alone=fails_alone)


def named(error: ModelError, source: Path, culprit: Culprit | None) -> ModelError:
    """`error` restated to name the culprit node, if one was found."""
    if culprit is None:
        return error
    where = {
        True: "on its own as well",
        False: "only in this model's context (on its own it builds)",
        None: "in this model",
    }[culprit.fails_alone]
    kind = (
        UnsupportedOperatorError if culprit.fails_alone or isinstance(error, UnsupportedOperatorError) else ModelError
    )
    return kind(
        f"{source}: node {culprit.name!r} ({culprit.op_type}, node {culprit.index} in graph order) "
        "is the first node ezkl cannot turn into a circuit; "
        f"it fails {where}: replace that operator or compute it outside the model "
        f"({str(error).removeprefix(f'{source}: ')})",
        node=culprit.name,
    )
