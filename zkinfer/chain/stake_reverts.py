"""A stake contract revert, decoded: the custom error's name and arguments from its ABI, plus a hint
of what to do (e.g. `ClaimsInWindow(until=1795590000): ... withdraw after it`), so the CLI says why
a transaction was refused instead of dumping revert data."""

from __future__ import annotations

from typing import Any

from zkinfer.chain.stake_types import NAME, StakeReverted
from zkinfer.core.support.errors import ChainError

ErrorTable = dict[bytes, tuple[str, list[str], list[str]]]  # selector -> (name, argument types, argument names)

HINTS = {
    "ClaimsInWindow": (
        ": a claim of this node can still be challenged, or a certificate it signed contradicted, until then; "
        "withdraw after it"
    ),
    "ChallengesOpen": ": answer (or lose) the open challenges first",
    "AccessControlUnauthorizedAccount": (
        ": that account lacks the role (only the admin, the deployer, registers models; "
        "only SLASHER_ROLE slashes at once)"
    ),
    "AlreadySlashedFor": ": a node is slashed once for each reason",
    "NothingAtStake": ": the node has no bond left to slash",
    "BelowThreshold": ": fewer signers than the oracle's threshold",
    "AlreadyCertified": ": the oracle holds a certificate for this circuit and request id already (the first stands)",
    "NotContradicted": ": the proof attests the signed output: the statement is true",
    "OtherInput": ": the proof is of another input than the statement's",
    "OtherWeights": ": the proof is of other weights than the statement's",
    "InvalidSignature": ": the (aggregate) signature does not verify over the statement under the signers' keys",
    "NotRegistered": ": register the node first (`zkinfer chain register-node`)",
    "BondTooLow": ": bond at least the contract's minBond",
    "ChallengeWindowClosed": ": the claim can no longer be challenged",
    "DeadlineNotPassed": ": the node may still answer; slash after the deadline",
    "AnswerTooLate": ": the deadline passed; the node can now be slashed",
    "NotInBatch": ": the claim or its Merkle proof is not the batch's",
    "InvalidProof": ": the model's verifier rejected the proof",
    "SelfChallenge": ": a node may neither challenge nor prove fraud on its own claims",
    "UnknownModel": ": the model is not registered, so no proof can answer a claim of it",
    "NotActiveNode": ": only a bonded node registers a key (`zkinfer chain register-node` first)",
    "KeyTaken": ": another node registered this BLS key; a key belongs to one node",
    "NodeHasKey": ": this node registered a key already; a node has one key",
    "UnknownKey": ": no node registered this BLS key on the signatures contract, so nobody's bond answers for it",
    "DifferentClaims": ": the statements are about other circuits, inputs or weights: no equivocation",
    "SameAnswer": ": the statements sign the same output: that is consistency, not equivocation",
    "InvalidSignatures": ": a signature does not verify under the registered key (forged or altered)",
    "AlreadySlashed": ": this equivocation slashed the node already",
    "VerifierCodeChanged": (
        ": the model's verifier no longer holds the code it was registered with, so it judges nothing"
    ),
}


def error_table(abi: list[dict[str, Any]]) -> ErrorTable:
    """Each custom error of a contract's ABI by its 4-byte selector."""
    from eth_hash.auto import keccak

    table = {}
    for item in abi:
        if item.get("type") == "error":
            types = [i["type"] for i in item["inputs"]]
            table[keccak(f"{item['name']}({','.join(types)})".encode())[:4]] = (
                item["name"],
                types,
                [i["name"] for i in item["inputs"]],
            )
    return table


def decoded(exc: ChainError, fn: str, errors: ErrorTable, contract: str = NAME) -> ChainError:
    """`exc` (a refused call of `fn` on `contract`) as a StakeReverted naming the contract's custom error,
    when the revert data web3 attached to its cause is one of `errors`; else `exc` itself."""
    data = revert_data(exc.__cause__)
    if data is None or data[:4] not in errors:
        return exc
    name, types, names = errors[data[:4]]
    from eth_abi.abi import decode

    values = decode(types, data[4:])
    args = {n: _plain(v) for n, v in zip(names, values, strict=True)}
    shown = ", ".join(f"{k}={v}" for k, v in args.items())
    return StakeReverted(f"{contract}.{fn} reverted: {name}({shown}){HINTS.get(name, '')}", name, args)


def revert_data(exc: BaseException | None) -> bytes | None:
    """The raw revert data web3 attached to a contract error, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    return None


def _plain(value: Any) -> Any:
    return "0x" + value.hex() if isinstance(value, bytes) else value
