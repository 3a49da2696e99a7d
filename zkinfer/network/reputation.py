"""A node's reputation in [0, 1], from what the gateway recorded of it (`record_types.NodeStats`).

    good  = agreed answers + valid receipts proving exactly the signed statement
    bad   = dissents (answered, but not the certified statement, or not validly)
          + bad receipts (failed verification, proved something else, or none by the promised time)
          + TIMEOUT_WEIGHT × (timeouts + unreachable)
    score = (1 + good) / (2 + good + bad) × EVIDENCE_FACTOR ^ (evidence documents against it)

The first factor is the mean of a Beta(1 + good, 1 + bad) posterior: a node never seen scores
1/2, and a steady record moves it toward 1 or 0. Being slow or down is not lying, so a timeout
weighs a quarter of a dissent. Evidence is proof of a lie, so each document halves the score
whatever the node's record: a thousand good answers do not buy one lie back. Statistics cover a
node's last `record_types.WINDOW` answers; evidence counts forever.

With `weighting = "reputation"` in nodes.toml, a quorum also needs the signers' share of
`weight × score`, over all pinned nodes, to exceed one half (`client.Consensus`).
"""

from __future__ import annotations

from zkinfer.network.record_types import NodeStats

TIMEOUT_WEIGHT = 0.25
EVIDENCE_FACTOR = 0.5


def score(stats: NodeStats) -> float:
    good = stats.agreed + stats.receipts_valid
    bad = stats.dissented + stats.receipts_invalid + TIMEOUT_WEIGHT * stats.timeouts
    return (1 + good) / (2 + good + bad) * EVIDENCE_FACTOR**stats.evidence


def weighted_share(signer_weights: dict[bytes, float], all_weights: dict[bytes, float]) -> float:
    """The signers' share of the total reputation-weighted weight (0 when every node scores 0)."""
    total = sum(all_weights.values())
    return sum(signer_weights.values()) / total if total > 0 else 0.0
