"""`verify --model`: an auditor holding the ONNX model rebuilds the receipt's verifying key (and,
for hashed weights, the weights commitment) and so learns whether the proof is about that model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import tiny
from tests.cli import REPO, zkinfer
from zkinfer.verify import Verdict, verify_file
from zkinfer.verify.policy import Policy


def _check(verdict: Verdict, name: str) -> tuple[str, str]:
    check = next(c for c in verdict.checks if c.name == name)
    return check.status, check.detail


def test_own_copy_of_the_model_pins_the_circuit(receipt_file: Path, tiny_dir: Path) -> None:
    result = zkinfer("verify", receipt_file, "--model", tiny_dir / "model.onnx", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = json.loads(result.stdout)
    checks = {c["name"]: c for c in verdict["checks"]}
    assert checks["model"]["status"] == "pass" and "the proof is about this model" in checks["model"]["detail"]
    assert "circuit (rebuilt from your model file)" in checks["identity"]["detail"]
    assert "circuit" not in verdict["summary"]  # only the SRS ceremony is left unpinned
    assert "SRS ceremony" in verdict["summary"]


def test_other_weights_fail_the_model_check(receipt_file: Path, tmp_path: Path) -> None:
    other = tiny.mlp(tmp_path / "other.onnx", seed=5)  # same architecture, other weights
    result = zkinfer("verify", receipt_file, "--model", other)
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = verify_file(receipt_file, Policy(model_file=str(other)))
    assert verdict.failed() == ["model"]
    assert "not about this model" in _check(verdict, "model")[1]


def test_other_architecture_fails_the_model_check(receipt_file: Path, tmp_path: Path) -> None:
    wider = tiny.mlp(tmp_path / "wider.onnx", sizes=(8, 7, 3))
    verdict = verify_file(receipt_file, Policy(model_file=str(wider)))
    assert verdict.verified is False and verdict.failed() == ["model"]


def test_hashed_weights_are_checked_against_the_commitment(
    hashed_receipt_file: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    same = verify_file(hashed_receipt_file, Policy(model_file=str(tiny_dir / "model.onnx")))
    assert same.verified is True, same.checks
    assert "weights commitment" in _check(same, "model")[1]
    assert "weights" not in same.summary  # the rebuilt commitment pins them: no --expect-params-commitment needed

    other = tiny.mlp(tmp_path / "other.onnx", seed=5)  # same circuit (hashed weights leave the key open), other weights
    verdict = verify_file(hashed_receipt_file, Policy(model_file=str(other)))
    assert verdict.failed() == ["model"]
    assert "other weights" in _check(verdict, "model")[1]


def test_without_the_receipts_srs_the_check_fails_naming_the_fix(
    receipt_file: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "ZKINFER_HOME": str(tmp_path / "empty-home")}  # an auditor's machine with no SRS cached
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "zkinfer",
            "verify",
            str(receipt_file),
            "--model",
            str(tiny_dir / "model.onnx"),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["model"]["status"] == "fail" and "zkinfer srs import" in checks["model"]["detail"]
    assert checks["proof"]["status"] == "pass"  # the proof itself needs only the receipt's reduced SRS


def test_missing_or_corrupt_model_file_is_a_usage_error(receipt_file: Path, tmp_path: Path) -> None:
    missing = zkinfer("verify", receipt_file, "--model", tmp_path / "nope.onnx")
    assert missing.returncode == 2 and "nope.onnx" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    corrupt = zkinfer("verify", receipt_file, "--model", tmp_path / "junk.onnx")
    assert corrupt.returncode == 2 and "junk.onnx" in corrupt.stderr and "Traceback" not in corrupt.stderr


def test_model_file_satisfies_a_strict_policy_and_is_relative_to_the_policy_file(
    ceremony_receipt_file: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    document = json.loads(ceremony_receipt_file.read_text())
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "model.onnx").write_bytes((tiny_dir / "model.onnx").read_bytes())
    (tmp_path / "audit" / "policy.toml").write_text(
        f'strict = true\nmodel_file = "model.onnx"\ntrusted_srs = "{document["srs"]["fingerprint"]}"\n'
        f'expect_signer = "{document["signature"]["public_key"]}"\n'
    )
    result = zkinfer("verify", ceremony_receipt_file, "--policy", tmp_path / "audit" / "policy.toml", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["identity_pinned"] is True
    assert {c["name"]: c["status"] for c in verdict["checks"]}["model"] == "pass"

    other = tiny.mlp(tmp_path / "other.onnx", seed=5)
    swapped = zkinfer(
        "verify", ceremony_receipt_file, "--policy", tmp_path / "audit" / "policy.toml", "--model", other, "--json"
    )
    assert swapped.returncode == 1  # the command line's --model replaces the file's
    assert [c["name"] for c in json.loads(swapped.stdout)["checks"] if c["status"] == "fail"] == ["model"]
