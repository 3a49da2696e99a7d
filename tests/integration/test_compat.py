"""Receipts made before this version still verify: a signed receipt written by zkinfer at commit
fb59ffd (the tiny MLP of fuzz/fuzz_receipt.py, a development SRS), kept byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import zkinfer
from zkinfer.core.crypto.digest import circuit_digest
from zkinfer.verify import Policy, verify_file

OLD = Path(__file__).resolve().parents[1] / "data" / "receipt_fb59ffd.json"


def test_a_receipt_from_before_still_verifies_with_its_signature() -> None:
    verdict = verify_file(OLD)
    assert verdict.verified, verdict.model_dump_json(indent=1)
    assert verdict.check("signature").status == "pass" and verdict.check("fast").status == "pass"


def test_a_receipt_from_before_pins_by_its_circuit_digest() -> None:
    doc = json.loads(OLD.read_text())
    pins = Policy(
        expect_circuit=circuit_digest(doc["model"]["vk_digest"], doc["model"]["settings"]),
        trusted_srs=[doc["srs"]["fingerprint"]],
        expect_signer=doc["signature"]["public_key"],
    )
    assert verify_file(OLD, pins).identity_pinned is True
    shown = zkinfer("inspect", OLD, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["circuit_digest"] == pins.expect_circuit
    result = zkinfer(
        "verify", OLD, "--expect-circuit", pins.expect_circuit or "", "--expect-signer", doc["signature"]["public_key"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
