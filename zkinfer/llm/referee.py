"""The referee's rules for a disputed sub-step, as the dispute contract applies them, and the challenger's descent.

A referee circuit computes a sub-step in ezkl's fixed point from the node's own committed inputs; the
node wins when every value of its committed output lies within TOLERANCE_STEPS grid steps (2^-12) of
the circuit's output. Measured (README, dispute section): over 240 random `attend` steps of the bundled
model at 64 tokens the circuit differs from the float64 step by at most 22 steps (p99: 3), so an
honest node keeps a margin of ~3×; a value moved by more than 64 steps (0.016) at the disputed step
loses.

`descend` is how a challenger picks: at each level the first child whose hash differs from its own
recomputation's, so the leaf it ends on is the first sub-step where the node's trace leaves the
canonical one, and every input of that step is a leaf both traces share.
"""

from __future__ import annotations

import numpy as np

from zkinfer.llm import substeps, trace, trace_tree

TOLERANCE_STEPS = 64


def attend_instances(computed: trace.Trace, weights: substeps.Weights, step: trace.Step) -> np.ndarray:
    """The `attend` circuit's input vector for `step`, as integers: state before key j ‖ q_t ‖ k_j ‖ v_j."""
    if step.kind != "attend":
        raise ValueError(f"{step} is not an attend step")
    previous = (
        computed.states[step.layer, step.position, step.key - 1] if step.key else substeps.initial_state(weights)
    )
    q = computed.qkv[step.layer, step.position, : weights.width]
    kv = computed.qkv[step.layer, step.key, weights.width :]
    return np.concatenate([previous, q, kv]).astype(np.int64)


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
