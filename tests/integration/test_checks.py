"""`zkinfer.verify.checks`: one function per check, run over a receipt's segments (a /1 receipt is a
chain of one), on real receipts from the shared fixtures."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from zkinfer.core.crypto.digest import circuit_digest, digest_bytes, split_circuit_digest
from zkinfer.core.formats import split_receipt
from zkinfer.core.formats.split_receipt import AnyReceipt
from zkinfer.verify import checks

Doc = dict[str, Any]


def _doc(path: Path) -> Doc:
    return dict(json.loads(path.read_text()))


def _parse(doc: Doc) -> AnyReceipt:
    return split_receipt.parse_any(copy.deepcopy(doc))


@pytest.fixture(params=["receipt_file", "hashed_receipt_file", "split_receipt_file"])
def genuine(request: pytest.FixtureRequest) -> Doc:
    return _doc(request.getfixturevalue(request.param))


def test_every_check_passes_on_a_genuine_receipt_whatever_its_segments(genuine: Doc) -> None:
    receipt = _parse(genuine)
    for check in (checks.check_vk, checks.check_settings, checks.check_srs, checks.check_proof, checks.check_binding):
        assert check(receipt)
    checks.check_statement(receipt)  # what the prover runs before handing a receipt out
    if len(receipt.segments) > 1:
        assert "link" in checks.check_links(receipt)


def test_a_one_segment_receipt_binds_every_instance_of_its_proof(receipt_file: Path) -> None:
    receipt = _parse(_doc(receipt_file))
    flat = [felt for column in receipt.segments[0].proof.instances for felt in column]
    assert [felt.lower() for _, felt in checks.expected_instances(receipt)] == [felt.lower() for felt in flat]


def test_a_changed_output_fails_binding_at_the_last_segment(genuine: Doc) -> None:
    doc = copy.deepcopy(genuine)
    doc["output"]["felts"][0][0] = doc["output"]["felts"][0][1]  # another proven value, still a field element
    doc["output"]["tensors"][0]["values"][0] = doc["output"]["tensors"][0]["values"][1]
    receipt = _parse(doc)
    last = len(receipt.segments) - 1
    with pytest.raises(checks.CheckFailed, match=r"public instance .*output") as failed:
        checks.check_binding(receipt)
    assert (f"segment {last}:" in str(failed.value)) == (last > 0)
    with pytest.raises(checks.CheckFailed, match=r"^binding: "):
        checks.check_statement(receipt)


def test_a_chain_takes_fixed_weights_only(split_receipt_file: Path) -> None:
    doc = _doc(split_receipt_file)
    doc["params"]["visibility"] = "hashed"
    with pytest.raises(checks.CheckFailed, match="split circuits take fixed weights"):
        checks.check_settings(_parse(doc))


def test_a_chain_key_digest_must_be_its_segments_keys_in_order(split_receipt_file: Path) -> None:
    doc = _doc(split_receipt_file)
    doc["segments"].reverse()
    doc["links"] = doc["links"][::-1]
    with pytest.raises(checks.CheckFailed, match=r"field model\.vk_digest"):
        checks.check_vk(_parse(doc))


def test_the_circuit_digest_is_the_key_and_settings_or_the_chain_of_them(
    receipt_file: Path, split_receipt_file: Path
) -> None:
    single = _parse(_doc(receipt_file))
    assert checks.actual_circuit_digest(single) == circuit_digest(
        digest_bytes(single.segments[0].model.verifying_key), single.segments[0].model.settings
    )
    chain = _parse(_doc(split_receipt_file))
    per_segment = checks.segment_circuit_digests(chain)
    assert len(per_segment) == 2 and checks.actual_circuit_digest(chain) == split_circuit_digest(per_segment)
    assert checks.actual_circuit_digest(chain) != split_circuit_digest(per_segment[::-1])


def test_a_settings_digest_mismatch_names_the_segment_only_in_a_chain(genuine: Doc) -> None:
    doc = copy.deepcopy(genuine)
    model = doc["segments"][-1]["model"] if "segments" in doc else doc["model"]
    model["settings_digest"] = "sha256:" + "0" * 64
    with pytest.raises(checks.CheckFailed, match="embedded settings hash to") as failed:
        checks.check_settings(_parse(doc))
    assert str(failed.value).startswith("segment 1: ") == ("segments" in doc)
