"""A typed client for `contracts/ZkinferSignatures.sol`: nodes' BLS keys registered on chain with their
proofs of possession, and equivocation (two signed statements of one claim with different answers)
slashed at once through the stake contract, on the signatures alone.

The contract is the judge: every call that sends a transaction is estimated first, so evidence the
contract refuses (another claim, the same answer, a forged signature, an unregistered key, a lie already
slashed) is a StakeReverted naming the contract's error, and no gas is spent. Points go to the chain
uncompressed beside the compressed key (`bls_points`); the contract checks they are the same points.

The stake contract (ZkinferStake, checked byte for byte) lets this contract slash through its SLASHER_ROLE
(OpenZeppelin AccessControl), which its admin grants: `deploy_and_record` deploys and grants it in one go
when the deploying key is the admin.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from zkinfer.chain import bls_points, stake_client, stake_reverts
from zkinfer.chain.account import Chain
from zkinfer.chain.deploy import Sent, code_matches, contract, deploy, transact
from zkinfer.chain.solidity import Compiled, compile_cached
from zkinfer.chain.stake_types import SOURCE as STAKE_SOURCE
from zkinfer.core.crypto import bls
from zkinfer.core.crypto.identity import NodeKey
from zkinfer.core.formats.statement import SignedStatement
from zkinfer.core.support.errors import ChainError

NAME: Final = "ZkinferSignatures"
ROLE: Final = "signatures"  # its role in deployments.json
SOURCE: Final = STAKE_SOURCE.parent / "ZkinferSignatures.sol"  # imports BLS.sol and StatementCodec.sol beside it


@functools.cache
def compiled() -> Compiled:
    """The signatures contract, compiled with the pinned solc and cached (`solidity.compile_cached`)."""
    return compile_cached(SOURCE, NAME)


@dataclass(frozen=True)
class Slashed:
    """An equivocation slashed: the node, the reason key (one per key and claim) and the transaction."""

    node: str
    reason: bytes
    sent: Sent


class Signatures:
    """One deployed signatures contract on one chain, signing with the chain's key."""

    def __init__(self, chain: Chain, address: str, *, check_code: bool = True) -> None:
        self.chain = chain
        if check_code and not code_matches(chain, address, compiled()):
            raise ChainError(
                f"{address}: the code there is not {NAME} as compiled from {SOURCE.name} (wrong address, chain or "
                "version)"
            )
        self.contract = contract(chain, address, compiled())
        self.address = str(self.contract.address)
        # a slash can revert in the stake contract too (NothingAtStake, AlreadySlashedFor, a missing role)
        self._errors = stake_reverts.error_table([*compiled().abi, *stake_client.compiled().abi])

    @classmethod
    def deploy(cls, chain: Chain, stake_address: str) -> tuple[Signatures, Sent]:
        """Deploy one for the stake contract at `stake_address`, once the code there is exactly ZkinferStake."""
        stake = stake_client.Stake(chain, stake_address)
        sent = deploy(chain, compiled(), stake.address)
        assert sent.contract_address is not None
        return cls(chain, sent.contract_address, check_code=False), sent

    def as_signer(self, chain: Chain) -> Signatures:
        """The same contract, signing with another key."""
        return Signatures(chain, self.address, check_code=False)

    def _send(self, fn: str, *args: Any) -> Sent:
        try:
            return transact(self.chain, getattr(self.contract.functions, fn)(*args), f"{NAME}.{fn}")
        except ChainError as exc:
            raise stake_reverts.decoded(exc, fn, self._errors, NAME) from exc

    # ---- the stake contract ----

    def stake_address(self) -> str:
        return str(self.contract.functions.stake().call())

    def stake(self) -> stake_client.Stake:
        """The stake contract it slashes through, once the code there is exactly ZkinferStake."""
        return stake_client.Stake(self.chain, self.stake_address())

    def may_slash(self) -> bool:
        """Whether the stake contract lets this contract slash (it holds SLASHER_ROLE)."""
        stake = self.stake().contract.functions
        return bool(stake.hasRole(stake.SLASHER_ROLE().call(), self.address).call())

    def grant_slasher(self) -> Sent:
        """Grant this contract SLASHER_ROLE on the stake contract (the chain's key must be its admin)."""
        return self.stake().grant_slasher(self.address)

    # ---- keys ----

    def register_key(self, key: NodeKey) -> Sent:
        """Register the node's BLS key (signing as the node's chain account) with its proof of possession."""
        proof = bls.pop_prove(key.secret)
        if not bls.pop_verify(key.public_key, proof):  # the key file was checked on load: this is a bug guard
            raise ChainError("the node key's proof of possession does not verify")
        return self._send(
            "registerKey", key.public_key, bls_points.g1_point(key.public_key), bls_points.g2_point(proof)
        )

    def node_of(self, public_key: bytes) -> str | None:
        """The node that registered `public_key`, or None."""
        from eth_hash.auto import keccak

        node = str(self.contract.functions.nodeOf(keccak(public_key)).call())
        return None if int(node, 16) == 0 else node

    def verify_signature(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """The contract's own BLS check of a signature (an eth_call: what the chain would accept)."""
        return bool(
            self.contract.functions.verifySignature(
                bls_points.g1_point(public_key), message, bls_points.g2_point(signature)
            ).call()
        )

    # ---- equivocation ----

    def slash_equivocation(self, a: SignedStatement, b: SignedStatement) -> Slashed:
        """Slash the node whose registered key signed both statements (same claim, other answers)."""
        if a.public_key != b.public_key:
            raise ChainError("the two statements are signed by different keys: no equivocation of one node")
        key_point = bls_points.g1_point(a.public_key)
        sent = self._send(
            "slashEquivocation",
            a.public_key,
            key_point,
            (a.statement.signing_bytes(), bls_points.g2_point(a.signature)),
            (b.statement.signing_bytes(), bls_points.g2_point(b.signature)),
        )
        from web3.logs import DISCARD

        # the stake contract's Slashed log is in the same receipt: only this contract's event is read here
        events = self.contract.events.EquivocationSlashed().process_receipt(sent.receipt, errors=DISCARD)
        if len(events) != 1:
            raise ChainError(f"transaction {sent.tx_hash}: expected one EquivocationSlashed event")
        args = events[0]["args"]
        return Slashed(str(args["node"]), bytes(args["reason"]), sent)


def equivocation_pair(document: Any) -> tuple[SignedStatement, SignedStatement]:
    """The two signed statements of gateway equivocation evidence, once the evidence holds offline
    (`evidence_check`: both signed by the accused, one claim, two answers); EvidenceDoesNotHold if not."""
    from zkinfer.chain.challenge import EvidenceDoesNotHold
    from zkinfer.verify import evidence_check

    verdict = evidence_check.check(document)
    if not verdict.verified:
        raise EvidenceDoesNotHold(
            "the evidence does not hold, so it is no ground to slash: " + "; ".join(verdict.reasons()), verdict
        )
    first, second = document["statements"]
    return (
        SignedStatement.from_json(first, "evidence.statements[0]"),
        SignedStatement.from_json(second, "evidence.statements[1]"),
    )


def deploy_and_record(chain: Chain, stake_address: str, registry_file: Path, *, grant: bool = True) -> Signatures:
    """Deploy a signatures contract for `stake_address`, record it (role "signatures"), and grant it
    SLASHER_ROLE on the stake contract unless `grant` is False (then the stake's admin grants it)."""
    from zkinfer.chain import registry

    deployed, sent = Signatures.deploy(chain, stake_address)
    registry.record(registry_file, registry.deployed(ROLE, compiled(), chain.chain_id, chain.address, sent))
    if grant:
        deployed.grant_slasher()
    return deployed


def open_signatures(chain: Chain, address: str | None, registry_file: Path) -> Signatures:
    """The signatures contract at `address`, else the latest `registry_file` records on this chain; either
    way only once the code there is exactly ZkinferSignatures."""
    from zkinfer.chain import registry

    if address is None:
        address = registry.recorded_address(
            registry_file, ROLE, chain.chain_id, "signatures contract", "--signatures", "deploy-signatures"
        )
    return Signatures(chain, address)
