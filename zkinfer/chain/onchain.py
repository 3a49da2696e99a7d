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

from pathlib import Path

from zkinfer.chain import verifier
from zkinfer.chain.account import Chain
from zkinfer.chain.calldata import NotAFieldElement
from zkinfer.core.crypto.digest import is_digest
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.support.errors import ChainError, ZkinferError
from zkinfer.verify.verdict import Check, CheckName, Document, OnChainFacts, Status, Verdict

# What must pass for "verified on chain"; `identity` may stay unpinned (a skip), never fail.
REQUIRED = (CheckName.RECEIPT, CheckName.VERIFIER_CODE, CheckName.ONCHAIN_PROOF, CheckName.BINDING)


def verdict_of(checks: list[Check], facts: OnChainFacts, source: str = "receipt") -> Verdict:
    """The one verdict for these on-chain checks: verified when none failed and every required one passed."""
    passed = {c.name for c in checks if c.status == Status.PASS}
    verified = all(c.status != Status.FAIL for c in checks) and all(name in passed for name in REQUIRED)
    pinned = CheckName.IDENTITY in passed
    if not verified:
        failed = ", ".join(c.name for c in checks if c.status == Status.FAIL)
        summary = f"NOT VERIFIED on chain {facts.chain_id} ({failed})"
    else:
        pin = "the pinned circuit" if pinned else f"circuit {facts.circuit_digest}, UNPINNED (give --expect-circuit)"
        summary = (
            f"VERIFIED on chain {facts.chain_id}: the verifier at {facts.address} accepts the proof "
            f"(verifyProof ~{facts.gas} gas) and its instances are the receipt's stated input and output, for {pin}; "
            "the node's signature and the SRS ceremony are `zkinfer verify`'s to check"
        )
    return Verdict(
        verified=verified,
        identity_pinned=verified and pinned,
        summary=summary,
        checks=checks,
        pinned=[f"circuit {facts.circuit_digest}"] if verified and pinned else [],
        unpinned=[] if pinned else ["circuit (--expect-circuit)"],
        source=source,
        document=Document.ONCHAIN,
        onchain=facts,
    )


def _check(name: CheckName, status: Status, detail: str) -> Check:
    return Check(name=name, status=status, detail=detail)


def verify(
    chain: Chain,
    receipt: Receipt,
    *,
    address: str | None = None,
    registry_file: Path | None = None,
    expect_circuit: str | None = None,
) -> Verdict:
    """Run the checks; problems with the inputs (no such registry entry, a malformed address,
    an unreachable node) raise ChainError, a receipt that fails is a verdict."""
    from web3 import Web3

    from zkinfer.verify import checks as offline

    if expect_circuit is not None and not is_digest(expect_circuit):
        raise ChainError(
            f"--expect-circuit {expect_circuit[:80]!r} is not a digest (sha256: and 64 hex digits, as `zkinfer "
            f"compile` prints it)"
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
        results.append(_check(CheckName.RECEIPT, Status.PASS, "; ".join(details)))
    except (offline.CheckFailed, ZkinferError) as exc:
        results.append(_check(CheckName.RECEIPT, Status.FAIL, str(exc)))
    circuit, gas = None, None
    if results[-1].status == Status.FAIL:
        results.append(
            _check(
                CheckName.VERIFIER_CODE,
                Status.SKIP,
                "not generated: the receipt's key, settings or SRS do not match their digests",
            )
        )
    else:
        try:
            artifact = verifier.for_receipt(receipt)
            circuit = artifact.circuit_digest
            verifier.check_verifier_code(chain, address, artifact)
            results.append(
                _check(
                    CheckName.VERIFIER_CODE,
                    Status.PASS,
                    f"the code at {address} is the verifier for the receipt's verifying key {artifact.vk_digest} "
                    f"and SRS {artifact.srs_fingerprint}",
                )
            )
        except ZkinferError as exc:
            results.append(_check(CheckName.VERIFIER_CODE, Status.FAIL, str(exc)))
    if results[-1].status == Status.PASS:
        try:
            answer = verifier.call_verify(chain, address, receipt)
            results.append(
                _check(CheckName.ONCHAIN_PROOF, Status.PASS if answer.accepted else Status.FAIL, answer.reason)
            )
            gas = answer.gas
        except NotAFieldElement as exc:
            results.append(_check(CheckName.ONCHAIN_PROOF, Status.FAIL, str(exc)))
    else:
        results.append(
            _check(
                CheckName.ONCHAIN_PROOF,
                Status.SKIP,
                "not asked: the contract is not known to be this receipt's verifier, so its answer would mean nothing",
            )
        )
    try:
        results.append(_check(CheckName.BINDING, Status.PASS, offline.check_binding(receipt)))
    except (offline.CheckFailed, ZkinferError) as exc:
        results.append(_check(CheckName.BINDING, Status.FAIL, str(exc)))
    actual = offline.actual_circuit_digest(receipt)
    if expect_circuit is None:
        results.append(
            _check(CheckName.IDENTITY, Status.SKIP, f"circuit {actual} unpinned: give --expect-circuit to require it")
        )
    elif actual == expect_circuit:
        results.append(_check(CheckName.IDENTITY, Status.PASS, f"the receipt's circuit is the pinned {expect_circuit}"))
    else:
        results.append(
            _check(
                CheckName.IDENTITY,
                Status.FAIL,
                f"expect_circuit: the receipt's circuit (key + settings) is {actual}, not the pinned {expect_circuit}",
            )
        )
    facts = OnChainFacts(chain_id=chain.chain_id, address=address, circuit_digest=circuit or actual, gas=gas)
    return verdict_of(results, facts)
