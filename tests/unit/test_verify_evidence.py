"""verify/evidence_check: evidence's verdict is the one Verdict (`verified`: the accusation holds), with
the accused's key and the accusation of its kind as named checks, and the keys `verify-evidence --json`
always printed."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from zkinfer.core.crypto import identity
from zkinfer.core.formats import statement
from zkinfer.core.formats.evidence import EvidenceError
from zkinfer.core.formats.statement import Statement
from zkinfer.network import evidence
from zkinfer.verify import evidence_check
from zkinfer.verify.verdict import CheckName, Document, Status

SAID = Statement(
    circuit="sha256:" + "0" * 64,
    request_id="req-1",
    input_digest="sha256:" + "1" * 64,
    weights_commitment=None,
    output_scales=(7,),
    output=((3, 9, -1),),
)
OTHER = Statement(SAID.circuit, "req-2", SAID.input_digest, None, (7,), ((4, 9, -1),))


@pytest.fixture(scope="module")
def liar() -> identity.NodeKey:
    return identity.new_key()


def _equivocation(liar: identity.NodeKey) -> dict[str, Any]:
    a, b = (statement.sign(s, liar.secret, liar.public_key) for s in (SAID, OTHER))
    return evidence.equivocation(a, b, node="mallory")


def test_evidence_that_holds_is_verified_with_named_checks(liar: identity.NodeKey) -> None:
    verdict = evidence_check.check(_equivocation(liar))
    assert verdict.verified and verdict.document == Document.EVIDENCE and not verdict.identity_pinned
    assert [(c.name, c.status) for c in verdict.checks] == [
        (CheckName.ACCUSED, Status.PASS),
        (CheckName.EQUIVOCATION, Status.PASS),
    ]
    assert (
        verdict.summary
        == f"HOLDS: equivocation evidence against node 'mallory' ({liar.public_hex[:16]}…), request 'req-1'"
    )
    detail = verdict.check(CheckName.EQUIVOCATION).detail
    assert "one is false" in detail and detail == "; ".join(verdict.reasons())


def test_evidence_that_does_not_hold_fails_its_kind(liar: identity.NodeKey) -> None:
    document = _equivocation(liar)
    document["statements"][1] = copy.deepcopy(document["statements"][0])
    verdict = evidence_check.check(document)
    assert not verdict.verified and verdict.failed() == [CheckName.EQUIVOCATION]
    assert "consistency, not equivocation" in verdict.check(CheckName.EQUIVOCATION).detail
    assert verdict.summary.startswith("DOES NOT HOLD: this equivocation evidence")


def test_an_accused_that_is_no_key_fails_the_accused_check(liar: identity.NodeKey) -> None:
    document = _equivocation(liar)
    document["accused"] = "a" * 96  # 96 hex digits, but no BLS12-381 point
    verdict = evidence_check.check(document)
    assert not verdict.verified
    assert [c.status for c in verdict.checks] == [Status.FAIL, Status.SKIP]


def test_json_keeps_the_evidence_keys(liar: identity.NodeKey) -> None:
    shown = evidence_check.check(_equivocation(liar)).to_json()
    assert shown["holds"] is shown["verified"] is True
    assert (shown["kind"], shown["accused"], shown["node"], shown["request_id"]) == (
        "equivocation",
        liar.public_hex,
        "mallory",
        "req-1",
    )
    assert shown["document"] == "evidence" and isinstance(shown["reasons"], list)


def test_a_document_that_is_not_evidence_names_its_file(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match=r"^e\.json: evidence\.schema") as caught:
        evidence_check.check_document({"schema": "zkinfer.certificate/1"}, "e.json")
    assert caught.value.exit_code == 2


def test_an_unproven_promise_not_yet_due_does_not_hold(liar: identity.NodeKey) -> None:
    now = int(time.time())
    signed = statement.sign(SAID, liar.secret, liar.public_key)
    promise = statement.promise(signed, "job_1", now - 10, liar.secret)
    document = evidence.unproven(signed, promise, now)
    assert evidence_check.check(document).verified
    document["observed_at"] = now - 20  # before the promised time
    verdict = evidence_check.check(document)
    assert not verdict.verified and "not yet due" in verdict.check(CheckName.UNPROVEN).detail
