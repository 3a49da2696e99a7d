"""Private input and private weights: the receipt carries Poseidon commitments, not the values,
and an auditor holding the input (or the weights' published commitment) can still check them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import ezkl
import pytest

from tests import tiny
from tests.cli import zkinfer
from tests.conftest import SMALL_DECOMPOSITION, prove_signed
from zkinfer.core.crypto.digest import circuit_digest
from zkinfer.verify import Verdict, verify_document, verify_file
from zkinfer.verify.inspect import disclosed_words
from zkinfer.verify.policy import Policy

pytestmark = pytest.mark.e2e  # compiles models and proves: not in the quick loop

INPUT = [0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]  # tiny_dir/input.json


def _compile(model: Path, calibration: Path, out: Path, input_visibility: str, params_visibility: str) -> Path:
    from zkinfer import Visibility, compile_model

    visibility = Visibility(input=input_visibility, params=params_visibility)  # type: ignore[arg-type]
    return compile_model(model, calibration, out, decomposition=SMALL_DECOMPOSITION, visibility=visibility).path


@pytest.fixture(scope="module")
def other_weights_receipt(
    hashed_circuit: Path, tiny_dir: Path, node_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A node's genuine receipt from the published hashed-weights circuit (same settings) compiled
    with its own weights: what a vk pin alone cannot tell apart."""
    from zkinfer.core.crypto.digest import digest_file
    from zkinfer.core.formats.circuit import COMPILED_FILE, MANIFEST_FILE, MODEL_FILE, SETTINGS_FILE
    from zkinfer.core.zkp import ezkl_adapter as _ezkl

    folder = tmp_path_factory.mktemp("other-weights")
    shutil.copytree(hashed_circuit, folder / "circuit")
    circuit = folder / "circuit"
    tiny.mlp(circuit / MODEL_FILE, seed=5)
    _ezkl.compile_circuit(circuit / MODEL_FILE, circuit / COMPILED_FILE, circuit / SETTINGS_FILE)
    manifest = json.loads((circuit / MANIFEST_FILE).read_text())
    manifest.update(
        model_digest=digest_file(circuit / MODEL_FILE), compiled_digest=digest_file(circuit / COMPILED_FILE)
    )
    (circuit / MANIFEST_FILE).write_text(json.dumps(manifest))
    return prove_signed(circuit, tiny_dir / "input.json", folder / "receipt.json", node_key_file)


@pytest.fixture(scope="module")
def public_input_receipt(tiny_dir: Path, node_key_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Public input, hashed weights: ezkl puts the weights' commitment *before* the input values."""
    folder = tmp_path_factory.mktemp("public-input-hashed-weights")
    circuit = _compile(tiny_dir / "model.onnx", tiny_dir / "calibration.json", folder / "circuit", "public", "hashed")
    return prove_signed(circuit, tiny_dir / "input.json", folder / "receipt.json", node_key_file)


def _doc(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _check(verdict: Verdict, name: str) -> tuple[str, str]:
    check = next(c for c in verdict.checks if c.name == name)
    return check.status, check.detail


def test_hashed_input_receipt_carries_the_commitment_not_the_input(hashed_receipt_file: Path) -> None:
    doc = _doc(hashed_receipt_file)
    scale = doc["input"]["scales"][0]
    felts = [ezkl.float_to_felt(v, scale, ezkl.PyInputType.F32) for v in INPUT]
    assert doc["input"]["tensors"] is None
    assert doc["input"]["commitment"] == ezkl.poseidon_hash(felts)  # one Poseidon hash over the quantized tensor
    public_output = {f for row in doc["output"]["felts"] for f in row}
    leaked = {f for f in felts if int(f, 16)} & (disclosed_words(doc) - public_output)
    assert not leaked, "an input value leaked into the receipt"
    verdict = verify_file(hashed_receipt_file)
    assert verdict.verified is True
    assert "commitment" in _check(verdict, "binding")[1]


def test_the_leak_check_finds_a_public_input_in_its_receipt(receipt_file: Path) -> None:
    """The control for the test above: with a public input, every non-zero quantized value is a disclosed word."""
    doc = _doc(receipt_file)
    felts = {ezkl.float_to_felt(v, doc["input"]["scales"][0], ezkl.PyInputType.F32) for v in INPUT if v}
    assert felts <= disclosed_words(doc)


def test_auditor_with_the_input_checks_it_against_the_commitment(
    hashed_receipt_file: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    same = zkinfer("verify", hashed_receipt_file, "--input", tiny_dir / "input.json", "--json")
    assert same.returncode == 0, same.stdout + same.stderr
    checks = {c["name"]: c for c in json.loads(same.stdout)["checks"]}
    assert checks["input"]["status"] == "pass" and "Poseidon commitment" in checks["input"]["detail"]

    (tmp_path / "other.json").write_text(json.dumps({"input_data": [[0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.5]]}))
    other = verify_file(hashed_receipt_file, input_path=tmp_path / "other.json")
    assert other.verified is False and other.failed() == ["input"]
    assert "different input" in _check(other, "input")[1]

    (tmp_path / "short.json").write_text(json.dumps([0.1, 0.5]))
    assert verify_file(hashed_receipt_file, input_path=tmp_path / "short.json").failed() == ["input"]


def test_auditor_with_the_input_checks_a_public_input_too(receipt_file: Path, tiny_dir: Path, tmp_path: Path) -> None:
    assert _check(verify_file(receipt_file, input_path=tiny_dir / "input.json"), "input")[0] == "pass"
    (tmp_path / "other.json").write_text(json.dumps([[0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.41]]))
    status, detail = _check(verify_file(receipt_file, input_path=tmp_path / "other.json"), "input")
    assert status == "fail" and "input[0][7]" in detail


def test_unreadable_input_file_is_a_usage_error(hashed_receipt_file: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    result = zkinfer("verify", hashed_receipt_file, "--input", tmp_path / "bad.json")
    assert result.returncode == 2
    assert "bad.json" in result.stderr and "Traceback" not in result.stderr


def test_weights_commitment_pins_hashed_weights(hashed_receipt_file: Path, other_weights_receipt: Path) -> None:
    mine, theirs = _doc(hashed_receipt_file), _doc(other_weights_receipt)
    # With hashed weights the circuit, and so its verifying key, is the same for any weights:
    assert mine["model"]["vk_digest"] == theirs["model"]["vk_digest"]
    assert mine["model"]["model_digest"] != theirs["model"]["model_digest"]
    assert mine["params"]["commitment"] != theirs["params"]["commitment"]
    assert mine["output"]["tensors"][0]["values"] != theirs["output"]["tensors"][0]["values"]
    vk_only = verify_document(
        theirs, Policy(expect_vk=mine["model"]["vk_digest"], trusted_srs=[mine["srs"]["fingerprint"]])
    )
    assert vk_only.verified is True and vk_only.identity_pinned is False
    assert "weights" in vk_only.summary and "expect_params_commitment" in vk_only.summary

    pins = Policy(
        expect_circuit=circuit_digest(mine["model"]["vk_digest"], mine["model"]["settings"]),
        trusted_srs=[mine["srs"]["fingerprint"]],
        expect_params_commitment=mine["params"]["commitment"],
    )
    rejected = verify_document(theirs, pins)
    assert rejected.failed() == ["identity"]
    assert "expect_params_commitment" in _check(rejected, "identity")[1]
    accepted = verify_document(mine, pins)
    assert accepted.verified is True and accepted.identity_pinned is True


def test_strict_policy_needs_the_weights_commitment(hashed_receipt_file: Path) -> None:
    doc = _doc(hashed_receipt_file)
    strict = Policy(
        strict=True,
        expect_circuit=circuit_digest(doc["model"]["vk_digest"], doc["model"]["settings"]),
        trusted_srs=[doc["srs"]["fingerprint"]],
        expect_signer=doc["signature"]["public_key"],
    )
    verdict = verify_document(doc, strict)
    status, detail = _check(verdict, "identity")
    assert status == "fail"
    assert "expect_params_commitment" in detail and "development SRS" in detail


def test_public_input_with_hashed_weights(
    public_input_receipt: Path, hashed_receipt_file: Path, tiny_dir: Path
) -> None:
    doc = _doc(public_input_receipt)
    verdict = verify_file(public_input_receipt, input_path=tiny_dir / "input.json")
    assert verdict.verified is True, verdict.summary
    instances = doc["proof"]["instances"][0]
    assert instances[0] == doc["params"]["commitment"][0]  # commitments first, then the input values
    assert len(instances) == 1 + len(INPUT) + 3
    # the commitment depends on the weights only, so a model owner can publish one value for all circuits
    assert doc["params"]["commitment"] == _doc(hashed_receipt_file)["params"]["commitment"]


def test_private_weights_are_refused_for_a_model_claim(tiny_dir: Path, tmp_path: Path) -> None:
    result = zkinfer(
        "compile",
        tiny_dir / "model.onnx",
        "--data",
        tiny_dir / "calibration.json",
        "-o",
        tmp_path / "c",
        "--param-visibility",
        "private",
    )
    assert result.returncode == 2
    assert "unconstrained" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "c").exists()
