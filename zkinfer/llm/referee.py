"""The referee's rules for a disputed sub-step, as the dispute contract applies them, and the challenger's descent.

A referee circuit computes a sub-step in ezkl's fixed point from the node's own committed inputs; the
node wins when every value of its committed output that the circuit computes lies within the kind's
tolerance (grid steps of 2^-12) of the circuit's output. Each circuit computes one *part* of the step,
which the challenger names once the node has shown the disputed leaf (the contract's `pickHead`):

- `attend`: one head's update: 34 + 96 inputs and 34 outputs (all four heads would be 656 public
  instances and cost ~1.4 M gas to verify alone);
- `pre`: head h's q, k and v columns from the whole h_{ℓ-1}[t]: 128 inputs, 96 outputs (`pre_columns`);
- `post`: output columns 32·h … 32·h + 31 of h_ℓ[t] from d ‖ n ‖ h_{ℓ-1}[t]: 260 inputs, 32 outputs
  (`post_columns`; every output value needs the whole MLP, so only the output projection is cut).

Tolerances (`tolerance`: per kind, and for post per layer), each ≥ 2.5× the largest circuit-vs-float64 gap
measured over random steps of random traces (`benchmarks/bench_dispute.py`, README dispute section): a
value moved by more than the tolerance at the disputed step loses.

`descend` is how a challenger picks: at each level the first child whose hash differs from its own
recomputation's, so the leaf it ends on is the first sub-step where the node's trace leaves the
canonical one, and every input of that step is a leaf both traces share.
"""

from __future__ import annotations

import numpy as np

from zkinfer.llm import substeps, trace, trace_tree

TOLERANCE_STEPS = 64  # attend (one circuit for every layer): largest gap 22 steps over hundreds of random steps
# pre, every layer: largest gap 13 steps (100 random steps of all 16 (layer, head) circuits, and 29 positions of a
# 256-position trace for parts 0 and 3 of every layer)
PRE_TOLERANCE_STEPS = 40
# post, per layer: largest gaps 127 / 32 / 25 / 20 steps (every part, every 2nd position of a 64-position trace and
# every 4th of a 256-position one, and 100 random steps); layer 0's LN2 input varies little (σ ~ 0.1) and its
# circuit is the least precise
POST_TOLERANCE_STEPS = (320, 96, 64, 64)


def tolerance(kind: trace.Kind, layer: int) -> int:
    """The grid steps the referee allows per value for a `kind` step at `layer` (the contract's, per verifier)."""
    if kind == "attend":
        return TOLERANCE_STEPS
    if kind == "pre":
        return PRE_TOLERANCE_STEPS
    if kind == "post":
        return POST_TOLERANCE_STEPS[layer]
    raise ValueError(f"no referee circuit for {kind} steps")


def attend_instances(computed: trace.Trace, weights: substeps.Weights, step: trace.Step, head: int) -> np.ndarray:
    """The attend circuit's input for one head of `step`, as integers: that head's state before key j
    (m, d, n) ‖ q_t ‖ k_j ‖ v_j of the head."""
    if step.kind != "attend":
        raise ValueError(f"{step} is not an attend step")
    previous = computed.states[step.layer, step.position, step.key - 1] if step.key else substeps.initial_state(weights)
    width, part = weights.width, weights.head_width
    columns = slice(head * part, (head + 1) * part)
    q = computed.qkv[step.layer, step.position, :width][columns]
    k = computed.qkv[step.layer, step.key, width : 2 * width][columns]
    v = computed.qkv[step.layer, step.key, 2 * width :][columns]
    return np.concatenate([head_state(weights, previous, head), q, k, v]).astype(np.int64)


def head_state(weights: substeps.Weights, state: np.ndarray, head: int) -> np.ndarray:
    """One head's m, d and numerator out of an attention state (m[heads] ‖ d[heads] ‖ n by head)."""
    return part_values(weights, "attend", state, head)


def part_columns(kind: trace.Kind, heads: int, head_width: int, part: int) -> np.ndarray:
    """Which values of a `kind` step's output the circuit of one part computes, in its output order (what the
    contract compares): attend head h's m, d and numerator; pre head h's columns of q, k and v; post the
    columns h·w … h·w + w − 1 of h_ℓ[t] (w = head width: a quarter for four heads)."""
    width, w = heads * head_width, head_width
    if kind == "attend":
        return np.concatenate([[part, heads + part], 2 * heads + part * w + np.arange(w)])
    if kind == "pre":
        return np.concatenate([i * width + part * w + np.arange(w) for i in range(3)])
    if kind == "post":
        return part * w + np.arange(w)
    raise ValueError(f"no referee circuit for {kind} steps")


def pre_columns(weights: substeps.Weights, head: int) -> np.ndarray:
    """The columns of q ‖ k ‖ v (a `pre` step's output) that head `head`'s pre circuit computes."""
    return part_columns("pre", weights.heads, weights.head_width, head)


def post_columns(weights: substeps.Weights, part: int) -> slice:
    """The columns of h_ℓ[t] (a `post` step's output) that part `part`'s post circuit computes."""
    return slice(part * weights.head_width, (part + 1) * weights.head_width)


def part_values(weights: substeps.Weights, kind: trace.Kind, values: np.ndarray, part: int) -> np.ndarray:
    """The values of a step's output that the circuit of one part computes, in the circuit's output order."""
    chosen: np.ndarray = np.asarray(values, dtype=np.int64)[part_columns(kind, weights.heads, weights.head_width, part)]
    return chosen


def circuit_inputs(computed: trace.Trace, weights: substeps.Weights, step: trace.Step, part: int) -> np.ndarray:
    """A step's referee-circuit input as integers, from the trace's earlier values (what the contract lays
    out from the openings): attend `attend_instances`; pre h_{ℓ-1}[t]; post d ‖ n ‖ h_{ℓ-1}[t]."""
    if step.kind == "attend":
        return attend_instances(computed, weights, step, part)
    hidden = computed.values(computed.shape.inputs(step)[-1])
    if step.kind == "pre":
        return hidden
    if step.kind == "post":
        state = computed.values(trace.Step("attend", step.position, step.layer, step.position))
        return np.concatenate([state[weights.heads :], hidden])
    raise ValueError(f"no referee circuit for {step} steps")


def differing_part(weights: substeps.Weights, kind: trace.Kind, theirs: np.ndarray, mine: np.ndarray) -> int:
    """The part (head) a challenger names once the node shows a leaf: the one farthest from its own values."""
    gaps = [
        int(np.abs(part_values(weights, kind, theirs, h) - part_values(weights, kind, mine, h)).max())
        for h in range(weights.heads)
    ]
    return int(np.argmax(gaps))


def node_wins(claimed: np.ndarray, proven: np.ndarray, tolerance: int = TOLERANCE_STEPS) -> bool:
    """The contract's rule: every claimed value within `tolerance` grid steps of the circuit's."""
    gap = np.abs(np.asarray(claimed, dtype=np.int64) - np.asarray(proven, dtype=np.int64))
    return bool(gap.max(initial=0) <= tolerance)


def descend(node: trace_tree.Tree, mine: trace_tree.Tree) -> list[int]:
    """The child a challenger picks at each level, from the root down: the first that differs from its own."""
    if node.root == mine.root:
        raise ValueError("the traces agree: nothing to dispute")
    picks, index = [], 0
    for level in range(node.depth, 0, -1):
        theirs, ours = node.children(level, index), mine.children(level, index)
        child = next(i for i, (a, b) in enumerate(zip(theirs, ours, strict=True)) if a != b)
        picks.append(child)
        index = index * node.arity + child
    return picks
