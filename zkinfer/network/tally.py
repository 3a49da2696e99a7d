"""Counting judged answers: which group of agreeing signers is a quorum, or whether none can be."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from zkinfer.core.formats.statement import Statement
from zkinfer.network.answers import NodeAnswer, OutputMeta, OutputTensor, agreement_key
from zkinfer.network.nodeset import NodeSet


class Tally:
    """Valid answers grouped by agreement key; decides when one group is a quorum, or none can be."""

    def __init__(self, nodeset: NodeSet, reputation: Mapping[bytes, float] | None) -> None:
        self.nodeset, self.rule = nodeset, nodeset.quorum
        self.groups: dict[Any, list[NodeAnswer]] = {}
        self.answered: set[bytes] = set()
        rep = reputation or {}
        self.rep_weight = {n.public_key: n.weight * rep.get(n.public_key, 0.5) for n in nodeset.nodes}

    def add(self, answer: NodeAnswer) -> None:
        self.answered.add(answer.node.public_key)
        if answer.signed is not None:
            self.groups.setdefault(agreement_key(answer.signed.statement, self.rule.agree_on), []).append(answer)

    def _enough(self, keys: Sequence[bytes]) -> bool:
        if self.nodeset.weight_of(keys) < self.rule.threshold:
            return False
        if self.rule.weighting != "reputation":
            return True
        total = sum(self.rep_weight.values())
        return total > 0 and sum(self.rep_weight.get(k, 0.0) for k in set(keys)) > total / 2

    def quorum(self) -> Any | None:
        """The agreement key of a group that is a quorum (the heaviest, if several), or None."""
        ready = [key for key, members in self.groups.items() if self._enough([a.node.public_key for a in members])]
        return (
            max(ready, key=lambda k: self.nodeset.weight_of(a.node.public_key for a in self.groups[k]))
            if ready
            else None
        )

    def possible(self) -> bool:
        """Whether the nodes yet to answer could still make some group (or a new one) a quorum."""
        pending = [n.public_key for n in self.nodeset.nodes if n.public_key not in self.answered]
        candidates = [[a.node.public_key for a in members] for members in self.groups.values()] + [[]]
        return any(self._enough([*keys, *pending]) for keys in candidates)


def agreed_outputs(statement: Statement, members: list[NodeAnswer]) -> list[OutputTensor]:
    """The statement's dequantized output, named and shaped as most of its signers (by weight) said."""
    votes: Counter[tuple[OutputMeta, ...]] = Counter()
    for answer in members:
        if answer.signed is not None and answer.signed.statement == statement:
            votes[answer.outputs] += answer.node.weight
    metas = votes.most_common(1)[0][0]
    return [
        OutputTensor(m.name, m.shape, tuple(np.asarray(values, dtype=np.float32).tolist()))
        for m, values in zip(metas, statement.dequantized(), strict=True)
    ]
