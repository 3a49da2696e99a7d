"""The sub-step trace's hashes: leaves over fixed-point values, and a 16-ary Merkle tree hashed as a binary one.

A leaf hashes one sub-step's output as the contract will: each committed integer as a 4-byte big-endian
two's-complement word (int32; `packed`), concatenated in the output's order:

    leaf = keccak256(0x00 ‖ packed(values))
    pair = keccak256(0x01 ‖ left ‖ right)
    node = the binary tree of pairs over its A children (arity A = 16: 4 levels of pairs)

Leaves are padded with EMPTY to A^depth, so the whole tree is a full binary tree whose every fourth
level is a 16-ary node. Bisection still reveals all 16 children of a node per round (one child index
per level), but a pick names one child with its 4 siblings inside the node, and an opening sends one
sibling per binary level (4 · depth hashes) instead of 16 children per level: 4× less calldata.

int32 words rather than the proof's 32-byte field elements: a trace of 256 positions hashes ~130 000
leaves, and 4-byte words make that 8× less to hash; the contract turns the referee proof's public
instances (field elements) into int32 words before hashing (a few dozen gas a value). The prefixes keep
a pair from passing for a leaf. A fixed, full shape makes bisection one child index per level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from eth_hash.auto import keccak

FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY = bytes(32)  # a padding leaf: no sub-step hashes to it
ARITY = 16
BITS = 4  # binary levels per 16-ary level
WORD = np.dtype(">i4")


def packed(values: np.ndarray) -> bytes:
    """Integers → 4-byte big-endian two's-complement words; ValueError for one outside int32."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and (int(v.max()) > np.iinfo(np.int32).max or int(v.min()) < np.iinfo(np.int32).min):
        raise ValueError("a committed value does not fit the trace's 32-bit words")
    return v.astype(WORD).tobytes()


def unpacked(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=WORD).astype(np.int64)


def signed(felt: int) -> int:
    """A field element (a proof's public instance) back to the signed integer it encodes."""
    return felt - FIELD_MODULUS if felt > FIELD_MODULUS // 2 else felt


def leaf(values: np.ndarray) -> bytes:
    return keccak(LEAF_PREFIX + packed(values))


def leaves(rows: np.ndarray) -> list[bytes]:
    """One leaf per row of integers ([rows, n]): the range check and packing done once for all rows."""
    data = packed(rows)
    size = len(data) // max(len(rows), 1)
    return [keccak(LEAF_PREFIX + data[i : i + size]) for i in range(0, len(data), size)]


def pair(left: bytes, right: bytes) -> bytes:
    return keccak(NODE_PREFIX + left + right)


def node(children: Sequence[bytes]) -> bytes:
    """A node's hash: pairs folded level by level over its children (a power of two of them)."""
    level = list(children)
    if not level or len(level) & (len(level) - 1):
        raise ValueError(f"a node has a power of two of children, not {len(level)}")
    while len(level) > 1:
        level = [pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def siblings(children: Sequence[bytes], child: int) -> list[bytes]:
    """The hashes that lead from `children[child]` to the node's hash, from the bottom pair up."""
    level, index, result = list(children), child, []
    while len(level) > 1:
        result.append(level[index ^ 1])
        level = [pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return result


def climb(current: bytes, index: int, path: Sequence[bytes]) -> bytes:
    """The hash `path` (siblings from the bottom up) leads to from `current` at position `index`."""
    for sibling in path:
        current = pair(sibling, current) if index & 1 else pair(current, sibling)
        index //= 2
    return current


def depth_for(count: int, arity: int = ARITY) -> int:
    depth = 0
    while arity**depth < count:
        depth += 1
    return max(depth, 1)


@dataclass(frozen=True)
class Tree:
    """Every level, leaves first (levels[0]), padded to arity^depth; the root is levels[-1][0]."""

    arity: int
    levels: tuple[tuple[bytes, ...], ...]

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    @property
    def depth(self) -> int:
        return len(self.levels) - 1

    def children(self, level: int, index: int) -> tuple[bytes, ...]:
        """The arity children of node `index` at `level` (1 = just above the leaves)."""
        below = self.levels[level - 1]
        return below[index * self.arity : (index + 1) * self.arity]

    def proof(self, leaf_index: int) -> list[bytes]:
        """The binary siblings from the leaf up to the root (log2(arity) per level): what the contract climbs."""
        result: list[bytes] = []
        index = leaf_index
        for level in range(1, len(self.levels)):
            result.extend(siblings(self.children(level, index // self.arity), index % self.arity))
            index //= self.arity
        return result


def build(leaves: Sequence[bytes], arity: int = ARITY) -> Tree:
    """The tree over `leaves`; a node over padding only is the same at each level, so it is hashed once."""
    depth = depth_for(len(leaves), arity)
    level = tuple(leaves) + (EMPTY,) * (arity**depth - len(leaves))
    levels, real, empty = [level], len(leaves), EMPTY
    while len(level) > 1:
        empty = node((empty,) * arity)
        real = -(-real // arity)
        width = len(level) // arity
        level = tuple(node(level[i * arity : (i + 1) * arity]) for i in range(real)) + (empty,) * (width - real)
        levels.append(level)
    return Tree(arity, tuple(levels))


def check_proof(root: bytes, leaf_hash: bytes, leaf_index: int, proof: Sequence[bytes]) -> bool:
    """What the contract does (which also fixes the path's length to 4 per level of the tree's depth):
    climbing the path from the leaf at its index reaches the root."""
    return 0 <= leaf_index < 1 << len(proof) and climb(leaf_hash, leaf_index, proof) == root
