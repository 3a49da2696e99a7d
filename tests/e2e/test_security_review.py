"""The outside review's attacks on receipts and `verify` (issue 8), each kept as a test.

The worst one: a *consistent* forgery. The verifying key does not fix the settings that give the
proof's field elements their meaning, so a node (holding its own signing key) can restate the
output at another scale, or reshape it, keeping every digest and signature self-consistent.
Only a pin that covers the settings (`--expect-circuit`) or the auditor's own model (`--model`,
which re-derives them) catches it; a verifying-key pin alone must not call the identity pinned.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli import zkinfer
from zkinfer.core.crypto import identity
from zkinfer.core.crypto.digest import circuit_digest, digest_bytes, digest_json
from zkinfer.core.formats.receipt import parse, read_document
from zkinfer.core.support.errors import PolicyError, ReceiptFormatError
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.verify import Verdict, verify_document
from zkinfer.verify.policy import Policy

Doc = dict[str, Any]


def _doc(path: Path) -> Doc:
    return dict(json.loads(path.read_text()))


def _detail(verdict: Verdict, name: str) -> str:
    return next(c.detail for c in verdict.checks if c.name == name)


def _status(verdict: Verdict, name: str) -> str:
    return next(c.status for c in verdict.checks if c.name == name)


def _circuit(doc: Doc) -> str:
    return circuit_digest(doc["model"]["vk_digest"], doc["model"]["settings"])


def _resign(doc: Doc, key_file: Path | None) -> Doc:
    """What a cheating node does last: sign the edited receipt with its own (pinned) key."""
    if key_file is None:
        return {**doc, "signature": None}
    return identity.sign_receipt(parse({**doc, "signature": None}), identity.load_key(key_file)).model_dump(mode="json")


def _restate_output(doc: Doc, values: list[float]) -> None:
    """Make the stated output `values`, with a fast answer equal to it (deviation 0, true)."""
    doc["output"]["tensors"][0]["values"] = values
    doc["fast"]["tensors"][0]["values"] = list(values)
    doc["fast"]["max_abs_deviation"] = 0.0


def rescale_output(doc: Doc, shift: int = 3) -> None:
    """The review's forgery: output scale lowered by `shift`, values restated from the same felts (×2^shift)."""
    settings = doc["model"]["settings"]
    scale = settings["model_output_scales"][0] - shift
    settings["model_output_scales"] = [scale]
    doc["output"]["scales"] = [scale]
    _restate_output(doc, [_ezkl.felt_to_float(f, scale) for f in doc["output"]["felts"][0]])
    doc["model"]["settings_digest"] = digest_json(settings)


def rescale_input(doc: Doc) -> None:
    """Input scale raised by one, stated input halved: the same felts, a different claimed input."""
    settings = doc["model"]["settings"]
    settings["model_input_scales"] = [settings["model_input_scales"][0] + 1]
    doc["input"]["scales"] = list(settings["model_input_scales"])
    doc["input"]["tensors"][0]["values"] = [v / 2 for v in doc["input"]["tensors"][0]["values"]]
    doc["model"]["settings_digest"] = digest_json(settings)


def reshape_output(doc: Doc) -> None:
    """[1, 3] relabelled [3, 1] in the settings, the output and the fast answer."""
    settings = doc["model"]["settings"]
    shape = list(reversed(settings["model_instance_shapes"][-1]))
    settings["model_instance_shapes"][-1] = shape
    doc["output"]["tensors"][0]["shape"] = shape
    doc["fast"]["tensors"][0]["shape"] = list(shape)
    doc["model"]["settings_digest"] = digest_json(settings)


FORGERIES: dict[str, Callable[[Doc], None]] = {
    "output scale": rescale_output,
    "input scale": rescale_input,
    "output shape": reshape_output,
}


@pytest.fixture(scope="module")
def genuine(receipt_file: Path) -> Doc:
    return _doc(receipt_file)


def _forged(genuine: Doc, name: str, key_file: Path | None) -> Doc:
    doc = copy.deepcopy(genuine)
    FORGERIES[name](doc)
    return _resign(doc, key_file)


def test_rescaled_output_really_restates_the_answer(genuine: Doc, node_key_file: Path) -> None:
    forged = _forged(genuine, "output scale", node_key_file)
    assert forged["output"]["tensors"][0]["values"] == pytest.approx(
        [8 * v for v in genuine["output"]["tensors"][0]["values"]]
    )
    # every check but identity passes: the proof, its binding and the node's signature are all consistent
    assert verify_document(forged).verified is True


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_verifying_key_pin_alone_does_not_call_the_identity_pinned(genuine: Doc, name: str) -> None:
    forged = _forged(genuine, name, None)
    verdict = verify_document(
        forged, Policy(expect_vk=genuine["model"]["vk_digest"], trusted_srs=[genuine["srs"]["fingerprint"]])
    )
    assert verdict.identity_pinned is False
    assert "circuit settings" in verdict.summary and "expect_circuit" in verdict.summary


@pytest.mark.parametrize("name", list(FORGERIES))
def test_the_circuit_pin_rejects_the_forgery_even_from_the_pinned_signer(
    genuine: Doc, node_key_file: Path, name: str
) -> None:
    pins = Policy(
        expect_circuit=_circuit(genuine),
        expect_vk=genuine["model"]["vk_digest"],
        trusted_srs=[genuine["srs"]["fingerprint"]],
        expect_signer=genuine["signature"]["public_key"],
    )
    assert verify_document(copy.deepcopy(genuine), pins).identity_pinned is True
    verdict = verify_document(_forged(genuine, name, node_key_file), pins)
    assert verdict.failed() == ["identity"]
    assert _detail(verdict, "identity").startswith("expect_circuit:")


def test_strict_policy_with_every_pin_rejects_the_node_resigned_forgery(
    ceremony_receipt_file: Path, node_key_file: Path, tiny_dir: Path
) -> None:
    genuine = _doc(ceremony_receipt_file)
    pins = {
        "expect_circuit": _circuit(genuine),
        "trusted_srs": [genuine["srs"]["fingerprint"]],
        "expect_signer": genuine["signature"]["public_key"],
    }
    assert verify_document(copy.deepcopy(genuine), Policy(strict=True, **pins)).verified is True
    forged = _forged(genuine, "output scale", node_key_file)
    assert verify_document(forged, Policy(strict=True, **pins)).failed() == ["identity"]
    with_model = verify_document(
        forged,
        Policy(
            strict=True,
            model_file=str(tiny_dir / "model.onnx"),
            trusted_srs=pins["trusted_srs"],
            expect_signer=pins["expect_signer"],
        ),
    )
    assert with_model.failed() == ["model"]


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("output scale", "model_output_scales"),
        ("input scale", "model_input_scales"),
        ("output shape", "model_instance_shapes"),
    ],
)
def test_the_auditors_model_file_rederives_the_settings(
    genuine: Doc, node_key_file: Path, tiny_dir: Path, name: str, field: str
) -> None:
    forged = _forged(genuine, name, node_key_file)
    verdict = verify_document(forged, Policy(model_file=str(tiny_dir / "model.onnx")))
    assert verdict.failed() == ["model"]  # the key is the same: only the derived settings differ
    assert field in _detail(verdict, "model")


def test_a_strict_policy_needs_a_cryptographic_circuit_pin(genuine: Doc) -> None:
    with pytest.raises(PolicyError, match="expect_circuit or model_file"):
        Policy(
            strict=True,
            expect_vk=genuine["model"]["vk_digest"],
            trusted_srs=[genuine["srs"]["fingerprint"]],
            expect_signer=genuine["signature"]["public_key"],
        )


# 1. duplicate keys


def _with_leading_key(doc: Doc, key: str, value: Any) -> str:
    """JSON text where `key` appears first with `value` and again, later, with the genuine value."""
    return "{" + json.dumps(key) + ": " + json.dumps(value) + ", " + json.dumps(doc)[1:]


def test_a_receipt_with_a_duplicate_key_is_refused(genuine: Doc, tmp_path: Path) -> None:
    forged_output = copy.deepcopy(genuine["output"])
    forged_output["tensors"][0]["values"][0] += 5.0
    path = tmp_path / "dup.json"
    path.write_text(_with_leading_key(genuine, "output", forged_output))
    assert json.loads(path.read_text())["output"] == genuine["output"]  # a last-key-wins reader sees the genuine one
    with pytest.raises(ReceiptFormatError, match="'output' appears twice"):
        read_document(path)
    for command in ("verify", "inspect"):
        result = zkinfer(command, path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "'output' appears twice" in result.stderr and "Traceback" not in result.stderr


def test_an_input_file_with_a_duplicate_key_is_refused(receipt_file: Path, tmp_path: Path) -> None:
    (tmp_path / "input.json").write_text(
        '{"input_data": [[0, 0, 0, 0, 0, 0, 0, 0]], "input_data": [[0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]]}'
    )
    result = zkinfer("verify", receipt_file, "--input", tmp_path / "input.json")
    assert result.returncode == 2 and "appears twice" in result.stderr, result.stdout + result.stderr


def test_a_policy_with_a_duplicate_key_is_refused(receipt_file: Path, tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(
        'expect_vk = "sha256:' + "0" * 64 + '"\nexpect_vk = "sha256:' + "1" * 64 + '"\n'
    )
    result = zkinfer("verify", receipt_file, "--policy", tmp_path / "policy.toml")
    assert result.returncode == 2 and "policy.toml" in result.stderr


# 2. terminal injection


def test_control_characters_and_markup_from_a_receipt_never_reach_the_terminal(genuine: Doc, tmp_path: Path) -> None:
    doc = copy.deepcopy(genuine)
    doc["fast"]["provider"] = "\r\x1b[2K[green]PASS[/] \u202e"
    doc["model"]["name"] = "\x1b[2J[/]"
    doc["signature"] = None
    (tmp_path / "r.json").write_text(json.dumps(doc))
    for args in (("verify",), ("verify", "--json"), ("inspect",), ("inspect", "--json")):
        result = zkinfer(*args, tmp_path / "r.json")
        assert result.returncode == 0, result.stdout + result.stderr
        for shown in (result.stdout, result.stderr):
            assert "\x1b" not in shown and "\r" not in shown and "\u202e" not in shown
        assert "\\x1b" in result.stdout or "\\u001b" in result.stdout  # shown, escaped, not swallowed


def test_markup_in_a_digest_is_a_verdict_not_a_crash(genuine: Doc, tmp_path: Path) -> None:
    doc = copy.deepcopy(genuine)
    doc["model"]["vk_digest"] = "x[/]"
    (tmp_path / "r.json").write_text(json.dumps(doc))
    result = zkinfer("verify", tmp_path / "r.json")
    assert (
        result.returncode == 1
        and "Traceback" not in result.stderr
        and "MarkupError" not in result.stdout + result.stderr
    )
    assert "model.vk_digest" in result.stdout


# 3. oversized numbers


@pytest.mark.parametrize(
    ("field", "token"),
    [("timings.prove_ms", "9" * 5000), ("output.tensors[0].values[0]", "1e39"), ("fast.max_abs_deviation", "-1e400")],
)
def test_numbers_beyond_float32_are_refused_naming_the_field(
    genuine: Doc, tmp_path: Path, field: str, token: str
) -> None:
    doc = copy.deepcopy(genuine)
    section, rest = field.split(".", 1)
    if section == "output":
        doc["output"]["tensors"][0]["values"][0] = "@@"
    else:
        doc[section][rest] = "@@"
    (tmp_path / "r.json").write_text(json.dumps(doc).replace('"@@"', token))
    for command in ("verify", "inspect"):
        result = zkinfer(command, tmp_path / "r.json")
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"$.{field}" in result.stderr and "Traceback" not in result.stderr


def test_a_python_value_beyond_float32_fails_well_formed(genuine: Doc) -> None:
    doc = copy.deepcopy(genuine)
    doc["input"]["tensors"][0]["values"][1] = 1e39
    verdict = verify_document(doc)
    assert verdict.failed() == ["well-formed"] and "input.tensors.0.values" in _detail(verdict, "well-formed")


# 4. the fast answer


def test_a_node_signed_receipt_with_the_fast_answer_negated_fails_the_fast_check(
    genuine: Doc, node_key_file: Path
) -> None:
    doc = copy.deepcopy(genuine)
    doc["fast"]["tensors"][0]["values"] = [-v for v in doc["fast"]["tensors"][0]["values"]]
    verdict = verify_document(_resign(doc, node_key_file), Policy(expect_signer=genuine["signature"]["public_key"]))
    assert verdict.failed() == ["fast"]
    assert "fast.max_abs_deviation" in _detail(verdict, "fast")


def test_a_true_but_large_deviation_fails_the_policy_bound(genuine: Doc, node_key_file: Path) -> None:
    doc = copy.deepcopy(genuine)
    fast, proven = doc["fast"]["tensors"][0]["values"], doc["output"]["tensors"][0]["values"]
    doc["fast"]["tensors"][0]["values"] = [-v for v in fast]
    doc["fast"]["max_abs_deviation"] = max(abs(-f - p) for f, p in zip(fast, proven, strict=True))
    signed = _resign(doc, node_key_file)
    assert verify_document(signed).verified is True  # the deviation is stated truly
    assert "is within" in _detail(verify_document(signed), "fast")
    bounded = verify_document(signed, Policy(max_fast_deviation=0.01))
    assert bounded.failed() == ["fast"] and "max_fast_deviation" in _detail(bounded, "fast")
    assert verify_document(copy.deepcopy(genuine), Policy(max_fast_deviation=0.01)).verified is True


# 5. identity from a claim


def test_a_stated_model_digest_alone_does_not_pin_the_identity(genuine: Doc) -> None:
    unsigned = {**copy.deepcopy(genuine), "signature": None}
    pins = {"expect_model": genuine["model"]["model_digest"], "trusted_srs": [genuine["srs"]["fingerprint"]]}
    verdict = verify_document(unsigned, Policy(**pins))
    assert verdict.verified is True and verdict.identity_pinned is False
    assert "compares only the digest the receipt states" in verdict.summary
    vouched = verify_document(copy.deepcopy(genuine), Policy(**pins, expect_signer=genuine["signature"]["public_key"]))
    assert vouched.identity_pinned is True and "pinned signer" in vouched.summary


# 6. development SRS


def test_a_receipt_calling_its_development_srs_a_ceremony_is_not_believed(genuine: Doc, node_key_file: Path) -> None:
    doc = copy.deepcopy(genuine)
    doc["srs"]["development"] = False
    lying = _resign(doc, node_key_file)
    with pytest.raises(PolicyError, match="needs trusted_srs"):
        Policy(allow_development_srs=False)
    assert "only its word" in _detail(verify_document(copy.deepcopy(lying)), "srs")
    ceremony = digest_bytes(b"the ceremony this auditor trusts")
    verdict = verify_document(
        lying, Policy(expect_circuit=_circuit(genuine), trusted_srs=[ceremony], allow_development_srs=False)
    )
    assert verdict.failed() == ["identity"] and "trusted_srs" in _detail(verdict, "identity")


# 7. --model on hostile settings


def test_hostile_settings_never_reach_a_rebuild(genuine: Doc, tiny_dir: Path) -> None:
    doc = copy.deepcopy(genuine)
    doc["model"]["settings"]["run_args"]["num_inner_cols"] = 128  # ran a rebuild for 10 min and 12 GB
    doc["model"]["settings_digest"] = digest_json(doc["model"]["settings"])
    verdict = verify_document(doc, Policy(model_file=str(tiny_dir / "model.onnx")))
    assert _status(verdict, "proof") == "fail" and "num_inner_cols" in _detail(verdict, "proof")
    assert _status(verdict, "model") == "skip" and "proof" in _detail(verdict, "model")


def test_no_rebuild_for_a_receipt_whose_binding_failed(genuine: Doc, tiny_dir: Path) -> None:
    doc = copy.deepcopy(genuine)
    doc["output"]["tensors"][0]["values"][0] += 1.0
    verdict = verify_document(doc, Policy(model_file=str(tiny_dir / "model.onnx")), check_signature=False)
    assert _status(verdict, "binding") == "fail" and _status(verdict, "model") == "skip"


def test_rebuild_limits_grow_with_the_circuit_and_stay_within_the_machine() -> None:
    from zkinfer.verify import reproduce

    small, large, wide = reproduce.limits(12, 2), reproduce.limits(19, 2), reproduce.limits(12, 64)
    assert small[0] < large[0] and small[1] < large[1] and small[0] < wide[0]
    assert reproduce.limits(26, 64)[0] <= reproduce.limits(27, 64)[0] and reproduce.limits(26, 64)[0] < 1 << 50


# 8. size


def test_an_oversized_receipt_is_refused_before_parsing(receipt_file: Path, tmp_path: Path) -> None:
    size = receipt_file.stat().st_size
    small = zkinfer("verify", receipt_file, "--max-receipt-bytes", str(size - 1))
    assert small.returncode == 2 and "size limit" in small.stderr
    assert zkinfer("verify", receipt_file, "--max-receipt-bytes", str(size)).returncode == 0
    with pytest.raises(ReceiptFormatError, match="size limit"):
        read_document(receipt_file, max_bytes=100)


def test_stated_values_are_counted_against_the_settings_before_per_element_work(genuine: Doc) -> None:
    doc = copy.deepcopy(genuine)
    doc["input"]["tensors"][0]["values"] = [0.5] * 200_000
    doc["input"]["tensors"][0]["shape"] = [1, 200_000]
    verdict = verify_document(doc, check_signature=False)
    assert _status(verdict, "binding") == "fail" and "model_instance_shapes" in _detail(verdict, "binding")


# found by the fuzzer: bytes.fromhex skips whitespace, so one signer key or proof had many spellings


@pytest.mark.parametrize(
    ("section", "field", "at"), [("signature", "public_key", 40), ("signature", "signature", 100), ("proof", "hex", 64)]
)
def test_hex_fields_with_whitespace_are_malformed(genuine: Doc, section: str, field: str, at: int) -> None:
    doc = copy.deepcopy(genuine)
    text = doc[section][field]
    doc[section][field] = text[:at] + "\n\n" + text[at:]
    verdict = verify_document(doc)
    assert verdict.failed() == ["well-formed"] and f"{section}.{field}" in _detail(verdict, "well-formed")
