"""The one owner of a proof's public-instance layout: which instance is which.

An ezkl proof's public instances are one flat list of field elements. Which of them is an input
value, an input commitment, the weights' commitment, an output value or an output commitment
follows from the circuit's settings alone (visibilities, scales, instance shapes, Poseidon module
size), never from anything a receipt states. ezkl 23 lays them out as (checked on real proofs of
every visibility combination zkinfer makes):

    input commitments (one per input tensor, hashed input)
    weights commitment(s) (hashed weights)
    input values (public input, flat row-major per tensor)
    output values (public output)
    output commitments (one per output tensor, hashed output: a split segment's link)

A polycommit input or output has no instance (its commitment is a point in the proof transcript).

Two rules fix how a tensor's values read, and the prover and the verifier both take them from here:

- shapes: a receipt states each tensor in the model's own shape; the settings' instance shape is
  that shape, except for a rank-0 tensor (a scalar, e.g. a ReduceMax with keepdims=0), which ezkl
  lists as [1] (`instance_shape`). Nothing else is reconciled: [1, 3] is not [3, 1].
- scales: a value is felt / 2^scale, and ezkl's scales may be negative (it folds a multiplication
  by 2^k into the scale: an int32 `x << 2` comes out at scale -2, steps of 4), so any integer
  within +-MAX_SCALE is a scale (`is_scale`; `core.statement` allows the same range).
Every consumer that reads "the proven input" or "the proven output" of a proof (binding, statements,
certificates, evidence, the watcher, chain claims, split links) decodes the instances here, so a
receipt field the circuit does not have can never shift what they read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from zkinfer.core.zkp.ezkl_views import Settings, SettingsError

INPUT_VISIBILITIES = ("public", "hashed", "polycommit")
MAX_SCALE = 64  # |scale| of a fixed-point tensor: ezkl's calibration stays far inside it
PARAM_VISIBILITIES = (
    "fixed",
    "hashed",
    "private",
)  # private weights have no instance (the settings check refuses them)


class InstanceLayoutError(SettingsError):
    """The settings do not describe a layout zkinfer can read, or a proof's instances do not fit it."""


@dataclass(frozen=True)
class ProvenInstances:
    """A proof's public instances, decoded: what the proof attests, part by part."""

    input_commitment: tuple[str, ...] | None  # one Poseidon hash per input tensor (hashed input)
    weights_commitment: tuple[str, ...] | None  # hashed weights
    inputs: tuple[tuple[str, ...], ...] | None  # per public input tensor, flat row-major
    outputs: tuple[tuple[str, ...], ...] | None  # per public output tensor
    output_commitment: tuple[str, ...] | None  # one hash per output tensor (hashed output)

    def input_felts(self) -> list[list[str]]:
        """The input as a statement names it: the public values per tensor, or one commitment per
        tensor when the input is hashed."""
        if self.inputs is not None:
            return [list(t) for t in self.inputs]
        if self.input_commitment is not None:
            return [[c] for c in self.input_commitment]
        raise InstanceLayoutError("the circuit's input is neither public nor hashed: no instance names it")

    def output_felts(self) -> list[list[str]]:
        if self.outputs is None:
            raise InstanceLayoutError("the circuit's output is not public: no instance holds its values")
        return [list(t) for t in self.outputs]


@dataclass(frozen=True)
class InstanceLayout:
    """Where each part of a circuit's statement sits among its proof's public instances."""

    input_visibility: str  # public | hashed | polycommit
    param_visibility: str  # fixed | hashed | private
    output_visibility: str  # public | hashed | polycommit
    n_inputs: int
    n_outputs: int
    input_shapes: tuple[tuple[int, ...], ...]  # the public input tensors' shapes (none otherwise)
    output_shapes: tuple[tuple[int, ...], ...]  # the public output tensors' shapes (none otherwise)
    n_weights_commitments: int

    @classmethod
    def of(cls, settings: Settings) -> InstanceLayout:
        """The layout from a circuit's settings alone; raises InstanceLayoutError naming the field."""
        where = settings.where
        vis = {part: settings.visibility(part) for part in ("input", "param", "output")}
        if vis["input"] not in INPUT_VISIBILITIES or vis["output"] not in INPUT_VISIBILITIES:
            raise InstanceLayoutError(
                f"field {where}.run_args: input {vis['input']}, output {vis['output']}: zkinfer reads public, hashed "
                "or polycommit inputs and outputs"
            )
        if vis["param"] not in PARAM_VISIBILITIES:
            raise InstanceLayoutError(
                f"field {where}.run_args.param_visibility is {vis['param']}: zkinfer reads fixed, hashed or private "
                "weights"
            )
        n_inputs, n_outputs = len(settings.input_scales), len(settings.output_scales)
        public_in = n_inputs if vis["input"] == "public" else 0
        public_out = n_outputs if vis["output"] == "public" else 0
        shapes = settings.instance_shapes
        if len(shapes) != public_in + public_out:
            raise InstanceLayoutError(
                f"field {where}.model_instance_shapes holds {len(shapes)} shape(s), not {public_in} public input and "
                f"{public_out} public output shape(s)"
            )
        hashes = settings.poseidon_instances
        input_hashes = n_inputs if vis["input"] == "hashed" else 0
        output_hashes = n_outputs if vis["output"] == "hashed" else 0
        weights = hashes - input_hashes - output_hashes
        if (vis["param"] == "hashed") != (weights > 0) or weights < 0:
            raise InstanceLayoutError(
                f"field {where}.module_sizes.poseidon gives {hashes} Poseidon instance(s), which does not fit "
                f"{input_hashes} input and "
                f"{output_hashes} output commitment(s) with {vis['param']} weights"
            )
        return cls(
            vis["input"],
            vis["param"],
            vis["output"],
            n_inputs,
            n_outputs,
            tuple(tuple(s) for s in shapes[:public_in]),
            tuple(tuple(s) for s in shapes[public_in:]),
            weights,
        )

    @property
    def n_input_commitments(self) -> int:
        return self.n_inputs if self.input_visibility == "hashed" else 0

    @property
    def n_output_commitments(self) -> int:
        return self.n_outputs if self.output_visibility == "hashed" else 0

    @property
    def input_values(self) -> int:
        return sum(math.prod(s) for s in self.input_shapes)

    @property
    def output_values(self) -> int:
        return sum(math.prod(s) for s in self.output_shapes)

    @property
    def input_size(self) -> int:
        """How many instances name the input (its values or its commitments)."""
        return self.n_input_commitments + self.input_values

    @property
    def size(self) -> int:
        """How many public instances a proof of this circuit has (no per-element work)."""
        return (
            self.n_input_commitments
            + self.n_weights_commitments
            + self.input_values
            + self.output_values
            + self.n_output_commitments
        )

    def labels(self) -> list[str]:
        """A readable name for each instance position, in order (for error messages)."""
        names = [f"input commitment[{i}]" for i in range(self.n_input_commitments)]
        names += [f"weights commitment[{j}]" for j in range(self.n_weights_commitments)]
        names += _tensor_labels("input", self.input_shapes) + _tensor_labels("output", self.output_shapes)
        return names + [f"output commitment[{i}]" for i in range(self.n_output_commitments)]

    def input_labels(self) -> list[str]:
        """The labels of the instances that name the input (its commitments, then its values)."""
        return [f"input commitment[{i}]" for i in range(self.n_input_commitments)] + _tensor_labels(
            "input", self.input_shapes
        )

    def decode(self, instances: Sequence[Sequence[str]]) -> ProvenInstances:
        """Split a proof's instances (ezkl's columns, flattened) into the parts of the statement."""
        flat = [felt.lower() for column in instances for felt in column]
        if len(flat) != self.size:
            raise InstanceLayoutError(
                f"the proof has {len(flat)} public instances, the circuit settings imply {self.size}"
            )
        at = 0

        def take(n: int) -> tuple[str, ...]:
            nonlocal at
            part = tuple(flat[at : at + n])
            at += n
            return part

        def tensors(shapes: tuple[tuple[int, ...], ...]) -> tuple[tuple[str, ...], ...]:
            return tuple(take(math.prod(shape)) for shape in shapes)

        input_commitment = take(self.n_input_commitments) if self.input_visibility == "hashed" else None
        weights = take(self.n_weights_commitments) if self.param_visibility == "hashed" else None
        inputs = tensors(self.input_shapes) if self.input_visibility == "public" else None
        outputs = tensors(self.output_shapes) if self.output_visibility == "public" else None
        output_commitment = take(self.n_output_commitments) if self.output_visibility == "hashed" else None
        return ProvenInstances(input_commitment, weights, inputs, outputs, output_commitment)


def instance_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The shape ezkl's settings (model_instance_shapes) give a tensor of the model's `shape`: the
    same, except that a rank-0 tensor (a scalar: one value) is listed as [1]."""
    return tuple(shape) if len(shape) else (1,)


def is_scale(scale: int) -> bool:
    """Whether `scale` is a fixed-point scale a circuit may have (negative ones included)."""
    return -MAX_SCALE <= scale <= MAX_SCALE


def _tensor_labels(part: str, shapes: tuple[tuple[int, ...], ...]) -> list[str]:
    return [f"{part}[{i}][{j}]" for i, shape in enumerate(shapes) for j in range(math.prod(shape))]


def of_settings(raw: dict[str, object], where: str = "settings") -> InstanceLayout:
    """`InstanceLayout.of` for a raw settings document (`where` names it in errors)."""
    return InstanceLayout.of(Settings(dict(raw), where))
