"""The chain side of an optimistic node: claim now, post claims in batches, prove only when challenged
(or when a spot check draws the claim).

An optimistic node answers at once with its signed statement and no proof. Its word is backed by its
bond: each statement becomes a claim, posted on chain in Merkle batches (one root for up to
`batch_size` claims: ~1.3 k gas per claim at 64 instead of ~89 k alone), and the node keeps a claim
file per claim (what it hands to whoever may challenge). With probability `spot_check_p` a claim is
drawn for proving at once anyway (proof-of-sampling: a cheater cannot tell which answers will be
checked). When a claim is challenged, `answer_challenges` finds it among the node's claim files and
answers with a proof from `prove` — the proving itself is the node's (its worker pool).

Nothing here trusts a file over the chain: which claims are challenged, and whether a challenge is
still open, is read from the contract; a claim file only supplies the claim's fields, which the
contract checks against the batch root it holds.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zkinfer.chain import claims
from zkinfer.chain.challenge import ClaimFile, load_claim_file
from zkinfer.chain.claims import Claim, ClaimError
from zkinfer.chain.deploy import Sent
from zkinfer.chain.stake_client import Stake
from zkinfer.chain.stake_types import Posted
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.formats.statement import Statement

CLAIM_SUFFIX = ".claim.json"


@dataclass
class OptimisticNode:
    """Claims for one node on one stake contract; claim files live in `book`."""

    stake: Stake
    book: Path
    batch_size: int = 64
    spot_check_p: float = 0.0
    rng: random.Random = field(default_factory=secrets.SystemRandom)
    pending: list[Claim] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 1 << 16:
            raise ClaimError(f"batch size {self.batch_size}: expected 1 to 65536 claims per batch")
        if not 0.0 <= self.spot_check_p <= 1.0:
            raise ClaimError(f"spot-check probability {self.spot_check_p}: expected a probability in [0, 1]")
        self.book.mkdir(parents=True, exist_ok=True)

    def claim(
        self, statement: Statement, input_visibility: str, input_felts: list[list[str]]
    ) -> tuple[Claim, bool, Posted | None]:
        """Queue the claim of a statement just answered; (claim, drawn for a spot check, the batch
        posted if this claim filled one)."""
        made = claims.from_statement(statement, input_visibility, input_felts)
        if (self.book / f"{made.request_id}{CLAIM_SUFFIX}").exists() or any(
            c.request_id == made.request_id for c in self.pending
        ):
            raise ClaimError(
                f"request {made.request_id!r} is already claimed by this node: a request id names one claim"
            )
        self.pending.append(made)
        drawn = self.rng.random() < self.spot_check_p
        posted = self.flush() if len(self.pending) >= self.batch_size else None
        return made, drawn, posted

    def flush(self) -> Posted | None:
        """Post what is queued (one claim alone, more as a batch) and write its claim files."""
        if not self.pending:
            return None
        batch, self.pending = self.pending, []
        posted = self.stake.post_claim(batch[0]) if len(batch) == 1 else self.stake.post_batch(batch)
        for i, claim in enumerate(batch):
            proof = () if posted.tree is None else tuple(posted.tree.proof(i))
            ClaimFile(
                self.stake.chain.chain_id, self.stake.address, self.stake.chain.address, posted.batch_id, claim, proof
            ).save(self.book / f"{claim.request_id}{CLAIM_SUFFIX}")
        return posted

    def open_challenges(self, from_block: int = 0) -> list[ClaimFile]:
        """The node's claims under a challenge still open on chain, from its claim files."""
        mine = {}
        for path in sorted(self.book.glob(f"*{CLAIM_SUFFIX}")):
            document = load_claim_file(path)
            if document.contract == self.stake.address and document.node == self.stake.chain.address:
                mine[claims.claim_key(document.batch_id, document.claim.leaf())] = document
        found = []
        for event in self.stake.events("Challenged", from_block):
            key = bytes(event["args"]["claimKey"])
            challenged = mine.get(key)
            if challenged is not None and self.stake.challenge_info(key, challenged.batch_id).state == "challenged":
                found.append(challenged)
        return found

    def answer_challenges(self, prove: Callable[[ClaimFile], Receipt], from_block: int = 0) -> list[Sent]:
        """Answer every open challenge of the node's claims with the receipt `prove` makes for it
        (verified before any gas is spent on it)."""
        return [
            self.stake.answer(document.batch_id, document.claim, prove(document))
            for document in self.open_challenges(from_block)
        ]
