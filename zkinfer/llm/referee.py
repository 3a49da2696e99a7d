"""The referee's rules for a disputed sub-step, as the dispute contract applies them, and the challenger's descent.

A referee circuit computes a sub-step in ezkl's fixed point from the node's own committed inputs; the
node wins when every value of its committed output lies within TOLERANCE_STEPS grid steps (2^-12) of
the circuit's output. The attend circuit updates one head (the challenger names it once the node has
shown the disputed leaf): 34 + 96 inputs and 34 outputs, where all four heads would be 656 public
instances and cost ~1.4 M gas to verify alone. Measured (README, dispute section): the circuit differs
from the float64 step by at most 22 grid steps over hundreds of random steps, so an honest node keeps a
margin of ~3×; a value moved by more than 64 steps (0.016) at the disputed step loses.

`descend` is how a challenger picks: at each level the first child whose hash differs from its own
recomputation's, so the leaf it ends on is the first sub-step where the node's trace leaves the
canonical one, and every input of that step is a leaf both traces share.
"""

from __future__ import annotations

import numpy as np

from zkinfer.llm import substeps, trace, trace_tree

TOLERANCE_STEPS = 64


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
    m, d, n = substeps.split_state(weights.heads, np.asarray(state, dtype=np.int64))
    part = weights.head_width
    return np.concatenate([[m[head], d[head]], n[head * part : (head + 1) * part]])


def differing_head(weights: substeps.Weights, theirs: np.ndarray, mine: np.ndarray) -> int:
    """The head a challenger names once the node shows a leaf: the one farthest from its own values."""
    gaps = [
        int(np.abs(head_state(weights, theirs, h) - head_state(weights, mine, h)).max()) for h in range(weights.heads)
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
