"""The canonical sub-step trace of an answer and its Merkle root: what a node commits to when disputed.

From a receipt's tokens (prompt + completion, the positions that produced completion tokens and every
one before them) anyone computes the same trace (`substeps`: one pass, float64 on the model's weights,
each sub-step from the *rounded* outputs of earlier ones), hashes each sub-step's output into a leaf
(`trace_tree`) and builds the tree. Committing is cheap (the README's dispute section times it), and
needed only when an answer is disputed.

Order (position-major, so every sub-step reads only earlier ones): for t = 0 … T-1: embed(t); for each
layer ℓ: pre(ℓ, t), attend(ℓ, t, 0) … attend(ℓ, t, t), post(ℓ, t). `index` and `step_at` map between a
step and its leaf index; `inputs` names the earlier steps a step reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from zkinfer.llm import substeps, trace_tree

Kind = Literal["embed", "pre", "attend", "post"]


@dataclass(frozen=True)
class Step:
    kind: Kind
    position: int
    layer: int = 0
    key: int = 0  # the key position j of an `attend` step

    def __str__(self) -> str:
        if self.kind == "embed":
            return f"embed(t={self.position})"
        key = f", j={self.key}" if self.kind == "attend" else ""
        return f"{self.kind}(layer={self.layer}, t={self.position}{key})"


@dataclass(frozen=True)
class Shape:
    layers: int
    positions: int

    def group(self, t: int) -> int:
        """Steps at position t: embed, then per layer pre, t + 1 attends, post."""
        return 1 + self.layers * (t + 3)

    def offset(self, t: int) -> int:
        return t * (1 + 3 * self.layers) + self.layers * t * (t - 1) // 2

    @property
    def count(self) -> int:
        return self.offset(self.positions)

    def index(self, step: Step) -> int:
        base = self.offset(step.position)
        if step.kind == "embed":
            return base
        inner = {"pre": 0, "attend": 1 + step.key, "post": step.position + 2}[step.kind]
        return base + 1 + step.layer * (step.position + 3) + inner

    def step_at(self, index: int) -> Step:
        if not 0 <= index < self.count:
            raise IndexError(f"leaf {index} is outside a trace of {self.count} sub-steps")
        t = 0
        while self.offset(t + 1) <= index:
            t += 1
        rest = index - self.offset(t)
        if rest == 0:
            return Step("embed", t)
        layer, inner = divmod(rest - 1, t + 3)
        if inner == 0:
            return Step("pre", t, layer)
        if inner == t + 2:
            return Step("post", t, layer)
        return Step("attend", t, layer, inner - 1)

    def inputs(self, step: Step) -> list[Step]:
        """The earlier steps whose outputs this one reads (the initial attention state is a constant)."""
        t, layer = step.position, step.layer
        hidden = Step("embed", t) if layer == 0 else Step("post", t, layer - 1)
        if step.kind == "pre":
            return [hidden]
        if step.kind == "attend":
            previous = [Step("attend", t, layer, step.key - 1)] if step.key else []
            return [*previous, Step("pre", t, layer), Step("pre", step.key, layer)]
        if step.kind == "post":
            return [Step("attend", t, layer, t), hidden]
        return []


@dataclass(frozen=True)
class Trace:
    """Every sub-step's committed integers, their leaves and the tree."""

    shape: Shape
    hidden: np.ndarray  # [layers + 1, T, d]: embed, then each layer's post
    qkv: np.ndarray  # [layers, T, 3d]
    states: np.ndarray  # [layers, T, T, 2·heads + d]: states[ℓ, t, j] after key j (j ≤ t)
    tree: trace_tree.Tree

    @property
    def root(self) -> bytes:
        return self.tree.root

    def values(self, step: Step) -> np.ndarray:
        """The step's committed integers (int64)."""
        if step.kind == "embed":
            row = self.hidden[0, step.position]
        elif step.kind == "pre":
            row = self.qkv[step.layer, step.position]
        elif step.kind == "attend":
            row = self.states[step.layer, step.position, step.key]
        else:
            row = self.hidden[step.layer + 1, step.position]
        return np.asarray(row, dtype=np.int64)

    def leaf(self, step: Step) -> bytes:
        return self.tree.levels[0][self.shape.index(step)]


def compute(weights: substeps.Weights, tokens: list[int], arity: int = trace_tree.ARITY) -> Trace:
    """The trace over `tokens` (each position reads the tokens up to it), its leaves and tree."""
    count, heads, width = len(tokens), weights.heads, weights.width
    shape = Shape(len(weights.layers), count)
    positions = np.arange(count)
    hidden = np.zeros((shape.layers + 1, count, width), dtype=np.int64)
    hidden[0] = substeps.quantize(substeps.embed(weights, np.asarray(tokens), positions))
    qkv = np.zeros((shape.layers, count, 3 * width), dtype=np.int64)
    states = np.zeros((shape.layers, count, count, weights.state_width), dtype=np.int32)
    for index, layer in enumerate(weights.layers):
        qkv[index] = substeps.quantize(substeps.pre(layer, hidden[index]))
        q, k, v = np.split(qkv[index], 3, axis=-1)
        state = substeps.initial_state(weights, (count,))
        for j in range(count):  # key j updates every position t ≥ j at once
            state[j:] = substeps.quantize(substeps.attend(heads, state[j:], q[j:], k[j], v[j]))
            states[index, j:, j] = state[j:]
        hidden[index + 1] = substeps.quantize(substeps.post(layer, heads, state, hidden[index]))
    return assemble(shape, hidden, qkv, states, arity)


def assemble(
    shape: Shape, hidden: np.ndarray, qkv: np.ndarray, states: np.ndarray, arity: int = trace_tree.ARITY
) -> Trace:
    """A trace from its values, hashed and built into its tree (`compute`'s last step; a test's altered trace)."""
    return Trace(shape, hidden, qkv, states, trace_tree.build(_leaves(shape, hidden, qkv, states), arity))


def moved(computed: Trace, step: Step, column: int, by: int) -> Trace:
    """The trace with one committed value of `step` (its `column`-th) moved by `by` grid steps and the tree
    rebuilt: a liar's trace, or a challenger's recomputation that differs at one step (tests, benchmarks)."""
    hidden, qkv, states = computed.hidden.copy(), computed.qkv.copy(), computed.states.copy()
    if step.kind == "embed":
        hidden[0, step.position, column] += by
    elif step.kind == "pre":
        qkv[step.layer, step.position, column] += by
    elif step.kind == "attend":
        states[step.layer, step.position, step.key, column] += by
    else:
        hidden[step.layer + 1, step.position, column] += by
    return assemble(computed.shape, hidden, qkv, states, computed.tree.arity)


def _leaves(shape: Shape, hidden: np.ndarray, qkv: np.ndarray, states: np.ndarray) -> list[bytes]:
    """Every leaf in trace order: each kind hashed in bulk, then laid out by `Shape.index`."""
    layers, count = shape.layers, shape.positions
    embeds = trace_tree.leaves(hidden[0])
    posts = trace_tree.leaves(hidden[1:].reshape(layers * count, -1))
    pres = trace_tree.leaves(qkv.reshape(layers * count, -1))
    result: list[bytes] = []
    for t in range(count):
        result.append(embeds[t])
        for layer in range(layers):
            result.append(pres[layer * count + t])
            result.extend(trace_tree.leaves(states[layer, t, : t + 1]))
            result.append(posts[layer * count + t])
    return result
