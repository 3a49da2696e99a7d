"""The third outside review's attacks on receipts (issue 18, items 1, 8, 12), each kept as a test.

Item 1: a receipt field its circuit does not have (a commitment for a public input or for fixed
weights, values for a hashed input, an extra tensor) used to be ignored by `binding` but counted
by the statement reader, which then read a shifted input. Now one function owns the instance
layout (`zkinfer.core.zkp.instance_layout`), from the settings alone, and such a field fails `binding`.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from zkinfer.chain import claims
from zkinfer.core.crypto import identity
from zkinfer.core.crypto.digest import circuit_digest, digest_bytes
from zkinfer.core.formats import statement
from zkinfer.core.formats.receipt import Receipt, load, parse
from zkinfer.core.zkp.instance_layout import of_settings
from zkinfer.network import evidence
from zkinfer.verify import evidence_check, verify_document, verify_file
from zkinfer.verify.policy import Policy

Doc = dict[str, Any]
NOW = int(time.time())


def _doc(path: Path) -> Doc:
    return dict(json.loads(path.read_text()))


def _resign(doc: Doc, key_file: Path) -> Doc:
    """What a cheating node does last: sign the edited receipt with its own (pinned) key."""
    return identity.sign_receipt(parse({**doc, "signature": None}), identity.load_key(key_file)).model_dump(mode="json")


def _strict_pins(doc: Doc) -> Policy:
    circuit = circuit_digest(doc["model"]["vk_digest"], doc["model"]["settings"])
    return Policy(
        strict=True,
        expect_circuit=circuit,
        trusted_srs=[doc["srs"]["fingerprint"]],
        expect_signer=doc["signature"]["public_key"],
    )


def _detail(verdict: Any, name: str) -> str:
    return str(next(c.detail for c in verdict.checks if c.name == name))


def stray_input_commitment(doc: Doc) -> None:
    doc["input"]["commitment"] = doc["output"]["felts"][0][:2]


def stray_params_commitment(doc: Doc) -> None:
    doc["params"]["commitment"] = doc["output"]["felts"][0][:2]


def extra_output_tensor(doc: Doc) -> None:
    doc["output"]["tensors"].append(copy.deepcopy(doc["output"]["tensors"][0]))
    doc["output"]["felts"].append(list(doc["output"]["felts"][0]))
    doc["output"]["scales"].append(doc["output"]["scales"][0])


STRAY: dict[str, tuple[Callable[[Doc], None], str]] = {
    "input commitment": (stray_input_commitment, "input.commitment"),
    "weights commitment": (stray_params_commitment, "params.commitment"),
    "extra output tensor": (extra_output_tensor, "output"),
}


@pytest.mark.parametrize("name", list(STRAY))
def test_a_stray_field_fails_binding_even_under_every_strict_pin(
    ceremony_receipt_file: Path, node_key_file: Path, name: str
) -> None:
    genuine = _doc(ceremony_receipt_file)
    pins = _strict_pins(genuine)
    assert verify_document(copy.deepcopy(genuine), pins).verified is True
    mutate, field = STRAY[name]
    forged = copy.deepcopy(genuine)
    mutate(forged)
    verdict = verify_document(_resign(forged, node_key_file), pins)
    assert verdict.verified is False
    assert "binding" in verdict.failed(), verdict.checks
    assert field in _detail(verdict, "binding")


def test_values_stated_for_a_hashed_input_fail_binding(hashed_receipt_file: Path, node_key_file: Path) -> None:
    """A hashed input's values are no public instance: a receipt stating them states what no proof covers."""
    doc = _doc(hashed_receipt_file)
    doc["input"]["tensors"] = [{"name": "input", "shape": [1, 8], "values": [0.5] * 8}]
    verdict = verify_document(_resign(doc, node_key_file))
    assert verdict.failed() == ["binding"] and "input.tensors" in _detail(verdict, "binding")


def _shifted_statement(doc: Doc, request_id: str) -> statement.Statement:
    """The statement the old reader took from a receipt with a stray two-felt input commitment:
    the proof's instances from position 2 on (the input's last values, then outputs)."""
    flat = [f for column in doc["proof"]["instances"] for f in column]
    n_in = len(doc["input"]["tensors"][0]["values"])
    return statement.make(
        circuit=circuit_digest(digest_bytes(parse(doc).model.verifying_key), doc["model"]["settings"]),
        request_id=request_id,
        input_visibility="public",
        input_felts=[flat[2 : 2 + n_in]],
        weights_commitment=None,
        output_scales=doc["output"]["scales"],
        output_felts=doc["output"]["felts"],
    )


def test_a_forged_receipt_rebuts_no_unproven_evidence(receipt_file: Path, node_key_file: Path) -> None:
    honest = identity.load_key(node_key_file)
    genuine = _doc(receipt_file)
    forged = copy.deepcopy(genuine)
    stray_input_commitment(forged)
    forged = _resign(forged, node_key_file)
    shifted = _shifted_statement(forged, "acct-7")
    said = statement.sign(shifted, honest.secret, honest.public_key)
    promised = statement.promise(said, "job_7", NOW - 10, honest.secret)
    document = evidence.unproven(said, promised, NOW, node="alpha")
    assert evidence_check.check(document).verified
    verdict = evidence_check.check(document, parse(forged))
    assert verdict.verified, verdict.reasons()  # no valid proof attests the shifted statement
    assert "does not verify" in " ".join(verdict.reasons())


def _honest_receipts(*paths: Path) -> list[Receipt]:
    return [load(p) for p in paths]


def _consumers_read_the_instances(receipt: Receipt) -> None:
    """What every consumer reads as the proven input and output equals the instances decoded under the settings."""
    layout = of_settings(receipt.model.settings, "model.settings")
    proven = layout.decode(receipt.proof.instances)
    said = statement.from_receipt(receipt, "req-1")
    assert said.input_digest == statement.input_digest(layout.input_visibility, proven.input_felts())
    assert said.output == tuple(tuple(statement.felt_to_int(f) for f in t) for t in proven.output_felts())
    assert said.weights_commitment == proven.weights_commitment
    claim = claims.from_verified_receipt(receipt, "req-1")
    assert claim.input_hash == claims.hash_words([claims.felt_word(f) for t in proven.input_felts() for f in t])
    if receipt.params.visibility == "fixed":
        instances = [f for column in receipt.proof.instances for f in column]
        split = claims.Layout.of_receipt(receipt).split(instances)
        assert split[0] == [f for t in proven.input_felts() for f in t] and split[2] == [
            f for t in proven.output_felts() for f in t
        ]


def test_every_verified_receipt_is_read_through_the_one_layout(
    receipt_file: Path, hashed_receipt_file: Path, ceremony_receipt_file: Path, node_key_file: Path
) -> None:
    """The property of item 1: honest receipts of every visibility, and every stray-field variant
    that still verified, are read by every consumer exactly as their instances decode."""
    for receipt in _honest_receipts(receipt_file, hashed_receipt_file, ceremony_receipt_file):
        assert verify_document(receipt.model_dump(mode="json")).verified
        _consumers_read_the_instances(receipt)
    verified_variants = 0
    for path in (receipt_file, hashed_receipt_file):
        for mutate, _ in STRAY.values():
            doc = _doc(path)
            mutate(doc)
            resigned = _resign(doc, node_key_file)
            if verify_document(resigned).verified:
                verified_variants += 1
                _consumers_read_the_instances(parse(resigned))
    assert verified_variants == 0  # none does today; the property stands if one ever did


def test_verify_file_takes_a_str_path(receipt_file: Path) -> None:
    """Item 12: the public API takes str | os.PathLike."""
    assert verify_file(str(receipt_file)).verified is True
    with pytest.raises(Exception) as raised:
        verify_file(str(receipt_file) + ".missing")
    assert not isinstance(raised.value, TypeError) and ".missing" in str(raised.value)


def _fast_names_another_class(doc: Doc) -> float:
    """The review's item 6: the fast answer names another class, its deviation stated truthfully."""
    proven = doc["output"]["tensors"][0]["values"]
    fast = list(proven)
    low = min(range(len(fast)), key=fast.__getitem__)
    fast[low] = max(proven) + 1000.0
    doc["fast"]["tensors"][0]["values"] = fast
    doc["fast"]["max_abs_deviation"] = max(abs(a - b) for a, b in zip(fast, proven, strict=True))
    return float(doc["fast"]["max_abs_deviation"])


def test_strict_marks_an_unbounded_fast_answer(ceremony_receipt_file: Path, node_key_file: Path) -> None:
    """Item 6: a fast answer ~1000 away from the proven output, stated truthfully, is not VERIFIED-and-pinned under
    strict."""
    doc = _doc(ceremony_receipt_file)
    pins = _strict_pins(doc)
    deviation = _fast_names_another_class(doc)
    forged = _resign(doc, node_key_file)
    verdict = verify_document(forged, pins)
    assert deviation > 999 and verdict.verified  # the proof and its binding stand: the proven output is the honest one
    assert (
        any("fast answer is unbounded" in n for n in verdict.notes)
        and "NOTE: the fast answer is unbounded" in verdict.summary
    )
    bounded = verify_document(forged, pins.model_copy(update={"max_fast_deviation": 0.01}))
    assert bounded.verified is False and bounded.failed() == ["fast"]
    honest = verify_document(_doc(ceremony_receipt_file), pins.model_copy(update={"max_fast_deviation": 0.01}))
    assert (
        honest.verified
        and honest.identity_pinned
        and any("fast answer (within 0.01" in p for p in honest.pinned)
        and not honest.notes
    )


def test_unbound_fields_are_shown_as_the_nodes_word(receipt_file: Path, node_key_file: Path, tmp_path: Path) -> None:
    """Item 8: names and versions no proof covers can be restated (still VERIFIED); inspect says whose word they are."""
    from tests.cli import zkinfer

    doc = _doc(receipt_file)
    doc["output"]["tensors"][0]["name"] = doc["fast"]["tensors"][0]["name"] = "probability_class_7"
    doc["model"]["name"], doc["model"]["ezkl_version"] = "bank-grade-model", "99.0.0"
    (tmp_path / "renamed.json").write_text(json.dumps(_resign(doc, node_key_file)))
    assert verify_file(tmp_path / "renamed.json").verified  # nothing the proof attests changed
    ran = zkinfer("inspect", tmp_path / "renamed.json")
    assert (
        ran.returncode == 0
        and "as the node states" in ran.stdout
        and "tensor names" in ran.stdout
        and "ezkl version" in ran.stdout
    )
    assert "(name and digest as the node states them)" in ran.stdout
    ran = zkinfer("inspect", tmp_path / "renamed.json", "--json")
    assert "tensor names" in json.loads(ran.stdout)["as_the_node_states"]
