"""ONNX model → a split circuit: cut points, one sub-model per segment, each compiled as a circuit.

Where to cut: only where exactly one tensor crosses from the nodes before to the nodes after (so a
link is one commitment), never at the model's own inputs or outputs. With polycommit links `--split K`
picks the K-1 cuts and the one k of the chain from the rows ezkl measures (`split_plan`); with hashed
links, the cuts that minimise the largest segment's estimated cost (multiply-accumulates of
Gemm/MatMul/Conv plus the elements every node writes, plus the Poseidon hashing of each link on both
of its sides), by dynamic programming over the candidate cuts. `--cut NAME ...` takes the user's.

How segments link: every segment is compiled by `zkinfer.prover.compile.compile_model` (calibrated,
run-args search, fidelity measured against onnxruntime on that sub-model). With `link="hashed"`, segment i's output is
Poseidon-hashed, segment i+1's input is hashed, and segment i+1's input scale is fixed to segment
i's output scale, so its witness reads segment i's output field elements unchanged and the two
commitments are equal. Calibration data for segment i+1 is segment i's float output on the
calibration samples. The end-to-end fidelity (chained witnesses against onnxruntime on the whole
model) is measured on the same samples as an unsplit compile and recorded in the split manifest.

With `link="polycommit"` (the default; ezkl's proof_splitting mechanics) the link is not hashed: segment i's
output and segment i+1's input each go into an unblinded advice column of their own, whose KZG
commitment is written into the proof's transcript. Every segment is brought to one k (compiled again
with only logrows changed; `split_plan.chain_k`: a segment with more rows spills into more column
blocks rather than every smaller one being padded to its k), so all columns share one Lagrange basis
of one SRS and equal values give equal commitment points; `zkinfer.verify.links` compares the points
it reads out of the proofs.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zkinfer.core.crypto.digest import digest_file
from zkinfer.core.formats import circuit as _circuit
from zkinfer.core.formats import inputs, split_circuit
from zkinfer.core.formats.circuit import MODEL_FILE, Circuit, LinkKind, Tensor, Visibility, settings_digest
from zkinfer.core.formats.split_circuit import Segment, SplitCircuit, SplitManifest
from zkinfer.core.support.errors import ModelError, UsageError
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.core.zkp import onnx_model
from zkinfer.core.zkp.ezkl_views import Witness
from zkinfer.prover import split_plan
from zkinfer.prover.compile import MAX_FIDELITY_SAMPLES, compile_model
from zkinfer.prover.runtime import open_session
from zkinfer.prover.witnesses import chain_witnesses

if TYPE_CHECKING:
    import onnx

Progress = Callable[[str], None]
MATMUL_OPS = frozenset({"Gemm", "MatMul"})
# What hashing one element of a link costs each of its two segments, in the node-cost unit: ezkl's
# Poseidon takes ~33 rows per element (digits CNN, a 144-element link: ~4.7k rows on each side),
# and the node-cost unit is ~2 rows (the unsplit digits CNN: 15.6k rows for an estimated 7.8k).
# A polycommit link copies each element into one cell of a committed column: about one row per side.
LINK_COST_PER_ELEMENT: dict[LinkKind, int] = {"hashed": 16, "polycommit": 1}


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class CutPoint:
    """A place the model can be cut: after node `after` (in graph order), with `tensor` alone crossing;
    `link_cost` is what committing to it costs each side."""

    after: int
    tensor: str
    link_cost: int = 0
    elements: int = 0


@dataclass(frozen=True)
class Graph:
    """What planning needs of a model: its nodes in order, each one's estimated cost, and the cut points."""

    model: onnx.ModelProto
    costs: tuple[int, ...]
    cuts: tuple[CutPoint, ...]


def _shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Every tensor's inferred shape (symbolic dims as 1: the planner only compares sizes)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes: dict[str, tuple[int, ...]] = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims)
    for init in inferred.graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    return shapes


def _node_cost(node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]]) -> int:
    """Estimated circuit cost of one node: the elements it writes, plus its multiply-accumulates."""
    out = math.prod(shapes.get(node.output[0], (1,))) if node.output else 1
    if node.op_type in MATMUL_OPS and len(node.input) >= 2:
        inner = shapes.get(node.input[0], (1,))[-1] if shapes.get(node.input[0]) else 1
        return out + out * inner
    if node.op_type == "Conv" and len(node.input) >= 2:
        weight = shapes.get(node.input[1], (1,))
        return out + out * math.prod(weight[1:])
    return out


def analyse(model_path: Path, link: LinkKind = "polycommit") -> Graph:
    """The model's nodes, their costs and every cut point where exactly one tensor crosses."""
    import onnx

    try:
        model = onnx.load(str(model_path))
    except Exception as exc:  # onnx raises DecodeError and others with no common base
        raise ModelError(f"{model_path}: not a valid ONNX model ({type(exc).__name__}: {exc}); re-export it") from exc
    shapes = _shapes(model)
    constants = {init.name for init in model.graph.initializer}
    constants |= {out for node in model.graph.node if node.op_type == "Constant" for out in node.output}
    graph_inputs = {v.name for v in model.graph.input} - constants
    graph_outputs = {v.name for v in model.graph.output}
    nodes = list(model.graph.node)
    last_use: dict[str, int] = {}
    for position, node in enumerate(nodes):
        for name in node.input:
            if name and name not in constants:
                last_use[name] = position
    for name in graph_outputs:
        last_use[name] = len(nodes)
    produced_at = {name: -1 for name in graph_inputs}
    cuts: list[CutPoint] = []
    live: set[str] = set()
    for position, node in enumerate(nodes[:-1]):
        for name in node.output:
            if name:
                produced_at[name] = position
        live = {name for name, made in produced_at.items() if made <= position and last_use.get(name, -1) > position}
        if len(live) == 1:
            (tensor,) = live
            if tensor not in graph_inputs and tensor not in graph_outputs and node.op_type != "Constant":
                cuts.append(
                    CutPoint(
                        after=position,
                        tensor=tensor,
                        link_cost=LINK_COST_PER_ELEMENT[link] * math.prod(shapes.get(tensor, (1,))),
                        elements=math.prod(shapes.get(tensor, (1,))),
                    )
                )
    costs = tuple(0 if node.op_type == "Constant" else _node_cost(node, shapes) for node in nodes)
    return Graph(model=model, costs=costs, cuts=tuple(cuts))


def balanced_cuts(graph: Graph, parts: int) -> list[CutPoint]:
    """The `parts - 1` cut points that minimise the largest segment's estimated cost (ties: the
    smaller sum of squares, then the earlier cuts), by dynamic programming over the cut points."""
    if parts < 2:
        raise UsageError(f"--split {parts}: give 2 or more segments (or omit --split to compile the model whole)")
    if parts - 1 > len(graph.cuts):
        names = ", ".join(c.tensor for c in graph.cuts) or "none"
        raise UsageError(
            f"--split {parts}: the model has only {len(graph.cuts)} place(s) where a single tensor crosses ({names}), "
            f"so at most {len(graph.cuts) + 1} segments"
        )
    prefix = [0, *np.cumsum(graph.costs).tolist()]
    ends = [c.after + 1 for c in graph.cuts] + [len(graph.costs)]  # a segment ends after a cut or at the end

    links = [c.link_cost for c in graph.cuts] + [0]  # the model's own output is no link

    def cost(start: int, end: int) -> int:
        return int(prefix[end] - prefix[start])

    # best[j][e]: (largest cost, sum of squares, cut indices) for j+1 segments covering nodes [0, ends[e])
    best: list[dict[int, tuple[int, int, tuple[int, ...]]]] = [
        {e: (cost(0, end) + links[e], (cost(0, end) + links[e]) ** 2, ()) for e, end in enumerate(ends)}
    ]
    for _ in range(1, parts):
        layer: dict[int, tuple[int, int, tuple[int, ...]]] = {}
        for e, end in enumerate(ends):
            for s in range(e):
                if s not in best[-1] or s >= len(graph.cuts):
                    continue
                worst, squares, chosen = best[-1][s]
                piece = links[s] + cost(ends[s], end) + links[e]
                candidate = (max(worst, piece), squares + piece * piece, (*chosen, s))
                if e not in layer or candidate < layer[e]:
                    layer[e] = candidate
        best.append(layer)
    final = best[-1].get(len(ends) - 1)
    if final is None:
        raise UsageError(f"--split {parts}: no way to cut the model into {parts} segments at single-tensor points")
    return [graph.cuts[i] for i in final[2]]


def named_cuts(graph: Graph, names: list[str]) -> list[CutPoint]:
    """The user's `--cut` tensors as cut points, checked: each a single-tensor cut, in graph order, once."""
    by_name = {c.tensor: c for c in graph.cuts}
    chosen = []
    for name in names:
        if name not in by_name:
            valid = ", ".join(by_name) or "none"
            raise UsageError(
                f"--cut {name!r}: not a tensor where the model can be cut (only one tensor may cross from the nodes "
                f"before to the nodes after); cut points: {valid}"
            )
        chosen.append(by_name[name])
    if [c.after for c in chosen] != sorted({c.after for c in chosen}):
        raise UsageError(
            f"--cut {' '.join(names)}: give each cut once, in the order the model computes them "
            f"({', '.join(c.tensor for c in graph.cuts)})"
        )
    if not chosen:
        raise UsageError("--cut: give at least one tensor name")
    return chosen


def _prefixed(progress: Progress, prefix: str) -> Progress:
    return lambda text: progress(prefix + text)


def _segment_costs(graph: Graph, cuts: list[CutPoint]) -> list[int]:
    """Each segment's estimated cost: its nodes, and the hashing of its input and output links."""
    bounds = [0, *(c.after + 1 for c in cuts), len(graph.costs)]
    links = [0, *(c.link_cost for c in cuts), 0]
    return [sum(graph.costs[a:b]) + links[i] + links[i + 1] for i, (a, b) in enumerate(itertools.pairwise(bounds))]


def compile_split(
    model_path: Path,
    calibration: Path,
    out_dir: Path,
    *,
    parts: int | None = None,
    cuts: list[str] | None = None,
    name: str | None = None,
    visibility: Visibility | None = None,
    search: bool = True,
    decomposition: tuple[int, int] | None = None,
    link: LinkKind = "polycommit",
    progress: Progress = _quiet,
) -> SplitCircuit:
    """Compile `model_path` into a split circuit at `out_dir`: `parts` balanced segments, or cut at `cuts`,
    linked by Poseidon hashes (`link="hashed"`) or KZG commitments (`"polycommit"`)."""
    visibility = visibility or Visibility()
    if visibility.params == "hashed":
        raise UsageError(
            "--param-visibility hashed with --split: each segment would commit to its own weights; split circuits "
            "take fixed weights"
        )
    if (parts is None) == (cuts is None):
        raise UsageError("give either --split K or --cut TENSOR (not both)")
    info = onnx_model.load(model_path)
    if len(info.inputs) != 1 or len(info.outputs) != 1:
        raise UsageError(
            f"{model_path}: has {len(info.inputs)} inputs and {len(info.outputs)} outputs; split circuits take models "
            "with one of each"
        )
    graph = analyse(model_path, link)
    if parts is not None and link == "polycommit":
        measure = functools.partial(split_plan.measure, model_path, visibility=visibility, symbols=info.symbols)
        chosen = _measured_cuts(graph, parts, functools.partial(measure, decomposition=decomposition))
    else:
        chosen = balanced_cuts(graph, parts) if parts is not None else named_cuts(graph, cuts or [])
    costs = _segment_costs(graph, chosen)
    progress(f"cutting at {', '.join(c.tensor for c in chosen)} (estimated costs {costs})")
    samples = inputs.load_samples(calibration, info.inputs)
    fidelity_samples = samples[:MAX_FIDELITY_SAMPLES]
    whole = open_session(model_path, prefer_gpu=False)  # the float answers the end-to-end fidelity is measured against
    expected = [whole.run(s) for s in fidelity_samples]
    names = (
        [[info.inputs[0].name], *([c.tensor] for c in chosen)],
        [*([c.tensor] for c in chosen), [info.outputs[0].name]],
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path, out_dir / MODEL_FILE)
    circuits: list[Circuit] = []
    segment_samples = samples
    with tempfile.TemporaryDirectory(prefix="zkinfer-split-") as tmp:
        for i, (ins, outs) in enumerate(zip(*names, strict=True)):
            sub = split_plan.extract(model_path, Path(tmp) / f"seg{i}.onnx", ins, outs)
            calib = Path(tmp) / f"seg{i}-calibration.json"
            calib.write_text(json.dumps(inputs.to_ezkl_data(segment_samples)))
            first, last = i == 0, i == len(chosen)
            seg_visibility = Visibility(
                input=visibility.input if first else link, output="public" if last else link, params="fixed"
            )
            input_scale = None if first else circuits[-1].settings.output_scales[0]
            progress(f"segment {i} ({ins[0]} -> {outs[0]})")
            circuits.append(
                compile_model(
                    sub,
                    calib,
                    out_dir / f"seg{i}",
                    name=f"{name or out_dir.name}.seg{i}",
                    visibility=seg_visibility,
                    search=search,
                    decomposition=decomposition,
                    input_scale=input_scale,
                    progress=_prefixed(progress, f"segment {i}: "),
                )
            )
            if not last:
                session = open_session(sub, prefer_gpu=False)
                segment_samples = [session.run(s) for s in segment_samples]
    if link == "polycommit":
        k = split_plan.chain_k([c.settings.raw for c in circuits], [c.elements for c in chosen])
        progress(f"rows per segment {[c.settings.num_rows for c in circuits]}: every segment at k={k}")
        circuits = [c if c.manifest.logrows == k else _with_logrows(c, k, progress) for c in circuits]
    errors = _end_to_end_errors(circuits, fidelity_samples, expected)
    manifest = SplitManifest(
        name=name or out_dir.name,
        model_digest=digest_file(out_dir / MODEL_FILE),
        visibility=visibility,
        cuts=[c.tensor for c in chosen],
        links=link,
        segments=[
            Segment(
                directory=f"seg{i}",
                inputs=ins,
                outputs=outs,
                compiled_digest=c.manifest.compiled_digest,
                settings_digest=c.manifest.settings_digest,
                estimated_cost=cost,
                logrows=c.manifest.logrows,
                num_rows=c.settings.num_rows,
            )
            for i, (c, ins, outs, cost) in enumerate(zip(circuits, *names, costs, strict=True))
        ],
        inputs=[Tensor(name=s.name, shape=list(s.shape)) for s in info.inputs],
        outputs=[Tensor(name=s.name, shape=list(y.shape)) for s, y in zip(info.outputs, expected[0], strict=True)],
        calibration_samples=len(samples),
        fidelity_samples=len(fidelity_samples),
        max_abs_error=float(max(errors)),
        mean_abs_error=float(np.mean(errors)),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    split_circuit.write_manifest(out_dir, manifest)
    return split_circuit.load(out_dir)


def _measured_cuts(graph: Graph, parts: int, measure: Callable[[list[str]], split_plan.Measured]) -> list[CutPoint]:
    """`--split` for polycommit links: cuts balanced by the rows ezkl lays out at one k (`split_plan`)."""
    estimated = balanced_cuts(graph, parts)  # the same refusals (too few cut points) as for hashed links
    try:
        measured = measure(
            [graph.model.graph.input[0].name, *(c.tensor for c in graph.cuts), graph.model.graph.output[0].name]
        )
    except ModelError:  # ezkl cannot lay out some piece alone (a segment may still compile)
        return estimated
    plan = split_plan.plan_cuts(
        measured.pieces, measured.joins, [c.elements for c in graph.cuts], parts, measured.floor
    )
    return [graph.cuts[i] for i in plan.cuts]


def _with_logrows(segment: Circuit, k: int, progress: Progress) -> Circuit:
    """`segment` compiled again at k rows (2^k) instead of its own k: polycommit links compare KZG
    commitments, which are equal for equal values only under one Lagrange basis (one k, one SRS). At a
    k below its own, ezkl lays the segment out in more column blocks (`split_plan`)."""
    progress(f"{segment.path.name}: k from {segment.manifest.logrows} to {k} (polycommit links need one k)")
    settings = segment.settings.with_logrows(k)
    segment.settings_path.write_text(json.dumps(settings))
    _ezkl.compile_circuit(segment.model_path, segment.compiled_path, segment.settings_path)
    manifest = segment.manifest.model_copy(
        update={
            "logrows": k,
            "settings_digest": settings_digest(settings),
            "compiled_digest": digest_file(segment.compiled_path),
        }
    )
    (segment.path / _circuit.MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n")
    return _circuit.load(segment.path)


def _end_to_end_errors(
    circuits: list[Circuit], samples: list[inputs.Sample], expected: list[list[np.ndarray]]
) -> list[float]:
    """|chained witnesses' final output − onnxruntime's output on the whole model|, per value and sample."""
    scales = circuits[-1].settings.output_scales
    errors: list[float] = []
    with tempfile.TemporaryDirectory(prefix="zkinfer-split-fidelity-") as tmp:
        for sample, want in zip(samples, expected, strict=True):
            last = chain_witnesses(circuits, sample, Path(tmp))[-1]
            got = _ezkl.witness_outputs(Witness.of(json.loads(last.read_text())), scales)
            for out_got, out_want in zip(got, want, strict=True):
                errors.extend(np.abs(out_got - out_want.ravel()).tolist())
    return errors
