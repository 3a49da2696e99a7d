"""A receipt verified on chain: the verdict of `zkinfer chain verify-receipt`.

Five checks, each reported by name:
0. `receipt`: the embedded verifying key, settings and reduced SRS match the digests the receipt
   states (the same checks `zkinfer verify` runs), before any of them is used;
1. `verifier-code`: the code at the address is exactly the verifier the receipt's own key, settings
   and reduced SRS generate (a registry entry or an address someone gave is hostile until then);
2. `onchain-proof`: that contract's `verifyProof` (eth_call) accepts the proof and instances;
3. `binding`: the instances are the receipt's stated input (or commitment) and output (offline, the
   same check `zkinfer verify` runs: the chain never sees the stated values);
4. `identity`: with `expect_circuit`, the receipt's circuit (key + settings) is the pinned one. The
   verifier contract fixes the key, not the settings that give the instances their meaning (scales,
   shapes): without the pin, the verdict says the circuit is unpinned.
Not checked here: the node's signature and the SRS ceremony's trust (`zkinfer verify` does those).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from zkinfer.chain import verifier
from zkinfer.chain.account import Chain
from zkinfer.chain.calldata import NotAFieldElement
from zkinfer.core.digest import is_digest
from zkinfer.core.errors import ChainError, ZkinferError
from zkinfer.core.receipt import Receipt

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class OnChainVerdict:
    chain_id: int
    address: str
    circuit_digest: str | None
    checks: list[Check] = field(default_factory=list)
    gas: int | None = None

    @property
    def verified(self) -> bool:
        return all(c.status != "fail" for c in self.checks) and sum(c.status == "pass" for c in self.checks) >= 4

    @property
    def pinned(self) -> bool:
        return any(c.name == "identity" and c.status == "pass" for c in self.checks)

    @property
    def summary(self) -> str:
        if not self.verified:
            failed = ", ".join(c.name for c in self.checks if c.status == "fail")
            return f"NOT VERIFIED on chain {self.chain_id} ({failed})"
        pin = (
            "the pinned circuit" if self.pinned else f"circuit {self.circuit_digest}, UNPINNED (give --expect-circuit)"
        )
        return (
            f"VERIFIED on chain {self.chain_id}: the verifier at {self.address} accepts the proof (verifyProof ~{self.gas} gas) and its instances are the "
            f"receipt's stated input and output, for {pin}; the node's signature and the SRS ceremony are `zkinfer verify`'s to check"
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verified": self.verified, "summary": self.summary}


def verify(
    chain: Chain,
    receipt: Receipt,
    *,
    address: str | None = None,
    registry_file: Path | None = None,
    expect_circuit: str | None = None,
) -> OnChainVerdict:
    """Run the checks; problems with the inputs (no such registry entry, a malformed address,
    an unreachable node) raise ChainError, a receipt that fails is a verdict."""
    from web3 import Web3

    from zkinfer.verify import checks as offline

    if expect_circuit is not None and not is_digest(expect_circuit):
        raise ChainError(
            f"--expect-circuit {expect_circuit[:80]!r} is not a digest (sha256: and 64 hex digits, as `zkinfer compile` prints it)"
        )
    if address is None:
        if registry_file is None:
            raise ChainError("give the verifier's --address or a --registry that names it")
        address = verifier.find_address(registry_file, chain, receipt)
    if not Web3.is_address(address):
        raise ChainError(f"--address {address[:60]!r} is not an Ethereum address (0x + 40 hex digits)")
    results: list[Check] = []
    try:
        details = [offline.check_vk(receipt), offline.check_settings(receipt), offline.check_srs(receipt)]
        results.append(Check("receipt", "pass", "; ".join(details)))
    except (offline.CheckFailed, ZkinferError) as exc:
        results.append(Check("receipt", "fail", str(exc)))
    circuit, gas = None, None
    if results[-1].status == "fail":
        results.append(
            Check(
                "verifier-code", "skip", "not generated: the receipt's key, settings or SRS do not match their digests"
            )
        )
    else:
        try:
            artifact = verifier.for_receipt(receipt)
            circuit = artifact.circuit_digest
            verifier.check_verifier_code(chain, address, artifact)
            results.append(
                Check(
                    "verifier-code",
                    "pass",
                    f"the code at {address} is the verifier for the receipt's verifying key {artifact.vk_digest} and SRS {artifact.srs_fingerprint}",
                )
            )
        except ZkinferError as exc:
            results.append(Check("verifier-code", "fail", str(exc)))
    if results[-1].status == "pass":
        try:
            answer = verifier.call_verify(chain, address, receipt)
            results.append(Check("onchain-proof", "pass" if answer.accepted else "fail", answer.reason))
            gas = answer.gas
        except NotAFieldElement as exc:
            results.append(Check("onchain-proof", "fail", str(exc)))
    else:
        results.append(
            Check(
                "onchain-proof",
                "skip",
                "not asked: the contract is not known to be this receipt's verifier, so its answer would mean nothing",
            )
        )
    try:
        results.append(Check("binding", "pass", offline.check_binding(receipt)))
    except (offline.CheckFailed, ZkinferError) as exc:
        results.append(Check("binding", "fail", str(exc)))
    actual = offline.actual_circuit_digest(receipt)
    if expect_circuit is None:
        results.append(Check("identity", "skip", f"circuit {actual} unpinned: give --expect-circuit to require it"))
    elif actual == expect_circuit:
        results.append(Check("identity", "pass", f"the receipt's circuit is the pinned {expect_circuit}"))
    else:
        results.append(
            Check(
                "identity",
                "fail",
                f"expect_circuit: the receipt's circuit (key + settings) is {actual}, not the pinned {expect_circuit}",
            )
        )
    return OnChainVerdict(
        chain_id=chain.chain_id, address=address, circuit_digest=circuit or actual, checks=results, gas=gas
    )
