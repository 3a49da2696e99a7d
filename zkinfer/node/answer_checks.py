"""The fast answer's checks: a request's tensors against the model's inputs, the outputs it asks for, and
an answer's floats (an overflowed answer is refused before anything is queued or signed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zkinfer.core.formats import inputs
from zkinfer.core.formats.inputs import Sample
from zkinfer.core.support.errors import InputError
from zkinfer.node.models import ServedModel
from zkinfer.prover.prove import FastAnswer


@dataclass(frozen=True)
class Tensor:
    """One named tensor, decoded but not yet checked against a model (a request's) or a model's answer."""

    name: str
    shape: tuple[int, ...]  # as declared; `array` may hold another number of values until checked
    datatype: str  # Open Inference Protocol name: FP32 or FP64
    array: np.ndarray


def sample_of(model: ServedModel, tensors: list[Tensor]) -> Sample:
    """The request's tensors in the model's input order, each checked: name, shape, count, finite, float32 range."""
    by_name = {s.name: s for s in model.input_specs}
    names = [t.name for t in tensors]
    for j, name in enumerate(names):
        if name not in by_name:
            raise InputError(f"inputs[{j}].name: the model has no input {name!r}; its inputs are {sorted(by_name)}")
        if names.index(name) != j:
            raise InputError(f"inputs[{j}].name: input {name!r} is given twice")
    missing = [name for name in by_name if name not in names]
    if missing:
        raise InputError(f"inputs: missing input(s) {missing}; the model needs {list(by_name)}")
    for j, t in enumerate(tensors):
        spec = by_name[t.name]
        if list(t.shape) != list(spec.shape):
            raise InputError(
                f"inputs[{j}].shape: input {spec.name!r} needs shape {list(spec.shape)}, got {list(t.shape)}"
            )
    checked = {t.name: inputs.check_tensor(t.array, by_name[t.name], f"inputs[{j}]") for j, t in enumerate(tensors)}
    return [checked[s.name] for s in model.input_specs]


def chosen_outputs(model: ServedModel, names: tuple[str, ...] | None) -> list[int]:
    """Indexes of the outputs to answer with: the named ones, else all."""
    if names is None:
        return list(range(len(model.output_specs)))
    index = {s.name: i for i, s in enumerate(model.output_specs)}
    for k, name in enumerate(names):
        if name not in index:
            raise InputError(f"outputs[{k}].name: the model has no output {name!r}; its outputs are {list(index)}")
    return [index[name] for name in names]


def check_finite(fast: FastAnswer, model: ServedModel) -> None:
    """Refuse (nothing queued) an input whose float answer overflowed: it was never served, so there is nothing to
    prove."""
    for spec, output in zip(model.output_specs, fast.outputs, strict=True):
        bad = np.flatnonzero(~np.isfinite(output))
        if bad.size:
            raise InputError(
                f"inputs: drive the model's output out of range (output {spec.name!r} is {output.flat[bad[0]]} at flat "
                f"index {bad[0]}); "
                "send values in the range the model was made for"
            )
