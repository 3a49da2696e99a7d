"""The stake contract's values: its constructor parameters, what it reports (nodes, challenges, a
status), a posted claim or batch, and the errors its client raises. Plain data, no chain calls, so
the CLI, the node and the tests can name them without loading web3."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zkinfer.chain.claims import ClaimError, MerkleTree
from zkinfer.chain.deploy import Sent
from zkinfer.core.support.errors import ChainError

SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "ZkinferStake.sol"
NAME = "ZkinferStake"
CLAIM_STATES = ("none", "challenged", "answered", "slashed", "fraud")


class ModelNotRegistered(ClaimError):
    """A model id the stake contract has no registration for: no proof can answer a claim of it."""


class StakeReverted(ChainError):
    """The stake contract refused a transaction; `error` is its custom error's name."""

    def __init__(self, message: str, error: str, args: dict[str, Any]) -> None:
        super().__init__(message)
        self.error = error
        self.args_ = args


@dataclass(frozen=True)
class StakeParams:
    """The contract's constructor arguments (fixed for its lifetime)."""

    min_bond: int = 10**18  # wei
    challenge_bond: int = 10**17  # wei
    challenge_window_s: int = 3600
    answer_period_s: int = 3600
    slash_share_bps: int = 5000  # half of a slashed bond to whoever proved the lie; the rest is burned

    def args(self) -> tuple[int, int, int, int, int]:
        return (
            self.min_bond,
            self.challenge_bond,
            self.challenge_window_s,
            self.answer_period_s,
            self.slash_share_bps,
        )


@dataclass(frozen=True)
class Posted:
    """A posted claim or batch: its id, the tree (for batches) and the transaction."""

    batch_id: int
    window_end: int
    sent: Sent
    tree: MerkleTree | None = None


@dataclass(frozen=True)
class NodeInfo:
    address: str
    bond: int
    last_window_end: int
    open_challenges: int
    registered: bool
    slashed: bool
    balance: int  # withdrawable (pull payments)


@dataclass(frozen=True)
class ChallengeInfo:
    key: str
    batch_id: int
    challenger: str
    node: str
    deadline: int
    state: str


@dataclass
class Status:
    """What the chain says: parameters, every node, open claims (in their window), challenges, slashes."""

    address: str
    chain_id: int
    now: int
    params: StakeParams
    owner: str
    burned: int
    nodes: list[NodeInfo] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    claims_posted: int = 0
    batches_in_window: list[dict[str, Any]] = field(default_factory=list)
    challenges: list[ChallengeInfo] = field(default_factory=list)
    slashes: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.address,
            "chain_id": self.chain_id,
            "now": self.now,
            "owner": self.owner,
            "burned_wei": self.burned,
            "params": asdict(self.params),
            "nodes": [asdict(n) for n in self.nodes],
            "models": self.models,
            "claims_posted": self.claims_posted,
            "batches_in_window": self.batches_in_window,
            "challenges": [asdict(c) for c in self.challenges],
            "slashes": self.slashes,
        }
