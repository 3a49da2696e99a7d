"""The model weights the dispute contract reads itself, as a Merkle root pinned when the game is deployed.

Two sub-steps need no circuit once the contract can read a few rows of weights: `embed` (the token's row
plus the position's, both on the grid: `substeps.embed`) and the greedy token check (`lm_head`: the
final norm and the tied LM head at two token ids). Each row is committed at the trace's scale as int32
words, hashed exactly as a trace leaf (`trace_tree`: keccak256(0x00 ‖ words)), in a *binary* tree (node =
keccak256(0x01 ‖ left ‖ right), padded with zero leaves): an opening is one sibling a level, 13 × 32 bytes
here where a 16-ary path is 4 × 512; calldata is most of what an opening costs. The leaf order:

    [0, vocab)                      round(wte[token] · 2^12)
    [vocab, vocab + context)        round(wpe[position] · 2^12)
    vocab + context                 round(ln_f.weight · 2^12)
    vocab + context + 1             round(ln_f.bias · 2^12)

The root depends on the weights alone: an auditor recomputes it from the model directory (the model
digest the game pins beside it names those files) and compares it with the deployed contract's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zkinfer.llm import substeps, trace_tree

ARITY = 2


@dataclass(frozen=True)
class WeightsTree:
    vocab: int
    context: int
    rows: np.ndarray  # [vocab + context + 2, width] int64, in leaf order
    tree: trace_tree.Tree

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def norm_weight_index(self) -> int:
        return self.vocab + self.context

    def position_index(self, position: int) -> int:
        if not 0 <= position < self.context:
            raise IndexError(f"position {position} is outside the model's {self.context} positions")
        return self.vocab + position

    def opening(self, index: int) -> tuple[bytes, list[bytes]]:
        """Row `index`'s words and its siblings from the leaf up: the contract's `Row`."""
        levels = self.tree.levels[:-1]  # leaves first; the root has no sibling
        return trace_tree.packed(self.rows[index]), [level[(index >> i) ^ 1] for i, level in enumerate(levels)]


def build(weights: substeps.Weights) -> WeightsTree:
    rows = np.concatenate(
        [
            substeps.quantize(weights.token_embedding),
            substeps.quantize(weights.position_embedding),
            substeps.quantize(np.stack([weights.final_norm_weight, weights.final_norm_bias])),
        ]
    )
    vocab, context = (int(x.shape[0]) for x in (weights.token_embedding, weights.position_embedding))
    return WeightsTree(vocab, context, rows, trace_tree.build(trace_tree.leaves(rows), ARITY))
