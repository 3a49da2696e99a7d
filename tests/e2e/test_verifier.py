"""`zkinfer.verify.verifier`: one orchestrator for every receipt, on real receipts from the shared
fixtures: each check by name in a fixed order, `links` only for a chain, a verdict (never a
traceback) for any input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from zkinfer.core.formats import receipt as single
from zkinfer.verify import Policy, verify_document, verify_file, verify_receipt
from zkinfer.verify.verdict import ALWAYS, SPLIT_ALWAYS, CheckName, Status


def _doc(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def test_a_receipt_and_a_split_one_report_their_checks_in_order(receipt_file: Path, split_receipt_file: Path) -> None:
    one, chain = verify_file(receipt_file), verify_file(split_receipt_file)
    assert one.verified and chain.verified, (one.summary, chain.summary)
    assert [c.name for c in one.checks] == list(ALWAYS)
    assert [c.name for c in chain.checks] == list(SPLIT_ALWAYS)
    assert "2 segments" in chain.check("well-formed").detail


def test_a_split_receipt_cannot_be_rebuilt_from_a_model_file(split_receipt_file: Path, tiny_dir: Path) -> None:
    verdict = verify_file(split_receipt_file, Policy(model_file=str(tiny_dir / "model.onnx")))
    assert verdict.failed() == ["model"] and "expect_circuit" in verdict.check("model").detail
    names = [c.name for c in verdict.checks]
    assert names.index(CheckName.MODEL) == names.index(CheckName.IDENTITY) - 1


def test_an_unsound_receipt_is_not_rebuilt(receipt_file: Path, tiny_dir: Path) -> None:
    doc = _doc(receipt_file)
    doc["model"]["vk_digest"] = "sha256:" + "1" * 64
    verdict = verify_document(doc, Policy(model_file=str(tiny_dir / "model.onnx")), check_signature=False)
    model = verdict.check("model")
    assert model.status == Status.SKIP and "verifying-key" in model.detail


def test_a_malformed_split_receipt_fails_well_formed_and_skips_the_rest(split_receipt_file: Path) -> None:
    doc = _doc(split_receipt_file)
    del doc["links"]
    verdict = verify_document(doc)
    assert verdict.failed() == ["well-formed"] and "links" in verdict.checks[0].detail
    assert [c.name for c in verdict.checks] == list(SPLIT_ALWAYS)
    assert all(c.status == Status.SKIP for c in verdict.checks[1:])


def test_settings_that_are_not_json_give_a_verdict_not_an_exception(receipt_file: Path) -> None:
    """A library caller's receipt object may hold a NaN (files are read strictly): no circuit digest
    exists for it, so no pin matches and the settings check fails; nothing raises."""
    receipt = single.parse(copy.deepcopy(_doc(receipt_file)))
    receipt.model.settings["run_args"]["epsilon"] = float("nan")
    verdict = verify_receipt(receipt, Policy(expect_circuit="sha256:" + "0" * 64), check_signature=False)
    assert not verdict.verified and "settings" in verdict.failed() and "identity" in verdict.failed()
