"""chain/onchain's verdict: the one Verdict, verified only when no check failed and the four that
must pass did (receipt, verifier code, the on-chain proof, binding); identity may stay unpinned."""

from __future__ import annotations

from zkinfer.chain.onchain import REQUIRED, verdict_of
from zkinfer.verify.verdict import Check, CheckName, Document, OnChainFacts, Status

FACTS = OnChainFacts(chain_id=31337, address="0x" + "1" * 40, circuit_digest="sha256:" + "0" * 64, gas=250_000)


def _checks(**status: Status) -> list[Check]:
    names = [*REQUIRED, CheckName.IDENTITY]
    return [Check(name=n, status=status.get(n.name, Status.PASS), detail="d") for n in names]


def test_every_required_check_passing_verifies_even_unpinned() -> None:
    verdict = verdict_of(_checks(IDENTITY=Status.SKIP), FACTS)
    assert verdict.verified and not verdict.identity_pinned and verdict.document == Document.ONCHAIN
    assert "UNPINNED (give --expect-circuit)" in verdict.summary
    shown = verdict.to_json()
    assert (shown["chain_id"], shown["gas"], shown["verified"]) == (31337, 250_000, True)
    assert verdict_of(_checks(), FACTS).identity_pinned


def test_a_skipped_required_check_is_not_verified() -> None:
    """No magic count of passes: a required check that did not run (skip) leaves the receipt unverified."""
    verdict = verdict_of(_checks(ONCHAIN_PROOF=Status.SKIP), FACTS)
    assert not verdict.verified and verdict.summary == "NOT VERIFIED on chain 31337 ()"
    failed = verdict_of(_checks(VERIFIER_CODE=Status.FAIL, ONCHAIN_PROOF=Status.SKIP), FACTS)
    assert not failed.verified and failed.summary == "NOT VERIFIED on chain 31337 (verifier-code)"
