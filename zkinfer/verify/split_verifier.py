"""Split receipt + policy → `Verdict`, with the same check names as an unsplit one plus `links`.

The proofs are checked one after another in the isolated ezkl worker, on a thread of their own
while the other checks run, as for a /1 receipt. The auditor's own model file cannot be rebuilt into
a split chain (the cuts and every segment's calibrated settings would have to be reproduced), so a
policy with `model_file` fails the `model` check with that reason: pin `expect_circuit` instead.
"""

from __future__ import annotations

import threading

import numpy as np

from zkinfer.core.split_receipt import SplitReceipt
from zkinfer.verify import checks as c
from zkinfer.verify import split_checks as s
from zkinfer.verify.policy import Facts, Policy, identity_rules
from zkinfer.verify.verdict import Check, CheckName, Status, Verdict, summarize
from zkinfer.verify.verifier import _identity_detail, _run


def _no_rebuild() -> str:
    raise c.CheckFailed(
        "a split receipt's chain cannot be rebuilt from a model file (its cuts and each segment's calibrated settings are not derivable); "
        "pin the chain with expect_circuit, the digest `zkinfer compile --split` and `zkinfer inspect` print"
    )


def verify_split_receipt(
    receipt: SplitReceipt,
    policy: Policy | None = None,
    source: str = "receipt",
    *,
    given_input: list[np.ndarray] | None = None,
    check_signature: bool = True,
) -> Verdict:
    """Run every check on a parsed split receipt (see `zkinfer.verify.split_checks`)."""
    policy = policy or Policy()
    proof: list[Check] = []
    sent = threading.Event()

    def check_proofs() -> None:
        try:
            _run(CheckName.PROOF, proof, lambda: s.check_proof(receipt, on_sent=sent.set))
        finally:
            sent.set()

    proving = threading.Thread(target=check_proofs, name="zkinfer-verify-split-proofs", daemon=True)
    proving.start()
    sent.wait()
    first = [
        Check(
            name=CheckName.WELL_FORMED,
            status=Status.PASS,
            detail=f"schema {receipt.schema_version}, {len(receipt.segments)} segments, all fields present and typed",
        )
    ]
    _run(CheckName.VERIFYING_KEY, first, lambda: s.check_vk(receipt))
    _run(CheckName.SETTINGS, first, lambda: s.check_settings(receipt))
    _run(CheckName.SRS, first, lambda: s.check_srs(receipt))
    bound: list[Check] = []
    _run(CheckName.BINDING, bound, lambda: s.check_binding(receipt))
    _run(CheckName.LINKS, bound, lambda: s.check_links(receipt))
    _run(CheckName.FAST, bound, lambda: c.check_fast(receipt, policy))
    if given_input is not None:
        _run(CheckName.INPUT, bound, lambda: c.check_input(receipt, given_input))
    if policy.model_file is not None:
        _run(CheckName.MODEL, bound, _no_rebuild)
    signature: list[Check] = []
    _run(CheckName.SIGNATURE, signature, lambda: c.check_signature(receipt, policy, check_signature))
    proving.join()
    try:
        digest = s.actual_circuit_digest(receipt)
    except ValueError as exc:  # settings that are not JSON (a NaN from a caller's dict; files are read strictly): no digest, so no pin matches
        digest = f"none: {exc}"
    rules = identity_rules(policy).evaluate(receipt, Facts(circuit_digest=digest, model_rebuilt=False))
    identity_check: list[Check] = []
    _run(CheckName.IDENTITY, identity_check, lambda: _identity_detail(rules))
    return summarize(
        [*first, *proof, *bound, *identity_check, *signature],
        list(rules.pinned),
        list(rules.unpinned),
        source,
        vouched=rules.vouched,
        notes=list(rules.notes),
    )
