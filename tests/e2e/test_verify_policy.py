"""Verification against an explicit policy: pins from options or a TOML file, each failure naming
the pin that failed, strict mode, and development SRSs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import zkinfer
from zkinfer.core.crypto import identity
from zkinfer.core.crypto.digest import circuit_digest, digest_bytes
from zkinfer.core.support.errors import PolicyError
from zkinfer.verify import Verdict, policy, verify_document, verify_file
from zkinfer.verify.policy import Policy


def _doc(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _detail(verdict: Verdict, name: str) -> str:
    return next(c.detail for c in verdict.checks if c.name == name)


def _pins(doc: dict[str, Any]) -> dict[str, Any]:
    """Everything an auditor who trusts this receipt's model, ceremony and node would pin."""
    return {
        "expect_circuit": circuit_digest(doc["model"]["vk_digest"], doc["model"]["settings"]),
        "expect_vk": doc["model"]["vk_digest"],
        "expect_model": doc["model"]["model_digest"],
        "trusted_srs": [doc["srs"]["fingerprint"]],
        "expect_signer": doc["signature"]["public_key"],
    }


def _toml(values: dict[str, Any]) -> str:
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())  # JSON strings/lists/bools are TOML too


def test_policy_is_still_importable_from_verify() -> None:
    from zkinfer import Policy as Exported
    from zkinfer.verify import Policy as FromVerify

    assert FromVerify is Policy is Exported


def test_without_pins_the_verdict_says_identity_is_unpinned(receipt_file: Path) -> None:
    verdict = verify_file(receipt_file)
    assert verdict.verified is True and verdict.identity_pinned is False
    assert "identity unpinned" in verdict.summary and "trusted_srs" in verdict.summary
    assert _detail(verdict, "identity").startswith("unpinned")


def test_strict_policy_file_accepts_a_ceremony_receipt(ceremony_receipt_file: Path, tmp_path: Path) -> None:
    doc = _doc(ceremony_receipt_file)
    assert doc["srs"]["development"] is False
    (tmp_path / "policy.toml").write_text("# the auditor's pins\n" + _toml({"strict": True, **_pins(doc)}))
    result = zkinfer("verify", ceremony_receipt_file, "--policy", tmp_path / "policy.toml", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["verified"] is True and verdict["identity_pinned"] is True
    assert verdict["summary"].startswith("VERIFIED: ")
    assert {c["name"]: c["status"] for c in verdict["checks"]}["signature"] == "pass"


def test_strict_policy_rejects_a_development_srs_with_the_reason(receipt_file: Path) -> None:
    doc = _doc(receipt_file)
    assert doc["srs"]["development"] is True
    verdict = verify_document(doc, Policy(strict=True, **_pins(doc)))
    assert verdict.failed() == ["identity"]
    assert "development SRS" in _detail(verdict, "identity") and "could forge proofs" in _detail(verdict, "identity")
    # the same receipt passes a policy that pins the same things but tolerates a development SRS
    assert verify_document(doc, Policy(**_pins(doc))).verified is True


@pytest.mark.parametrize(
    ("key", "wrong"),
    [
        ("expect_circuit", digest_bytes(b"other circuit")),
        ("expect_vk", digest_bytes(b"other key")),
        ("expect_model", digest_bytes(b"other model")),
        ("trusted_srs", [digest_bytes(b"other ceremony")]),
        ("expect_params_commitment", ["00" * 32]),
    ],
)
def test_identity_failure_names_exactly_the_pin_that_failed(receipt_file: Path, key: str, wrong: Any) -> None:
    doc = _doc(receipt_file)
    pins = {k: v for k, v in _pins(doc).items() if k != "expect_signer"} | {key: wrong}
    verdict = verify_document(doc, Policy(**pins))
    assert verdict.failed() == ["identity"]
    detail = _detail(verdict, "identity")
    assert detail.startswith(f"{key}:")
    assert [
        k
        for k in ("expect_circuit", "expect_vk", "expect_model", "trusted_srs", "expect_params_commitment")
        if f"{k}:" in detail
    ] == [key]


def test_signer_pin_failure_is_named(receipt_file: Path) -> None:
    doc = _doc(receipt_file)
    other = identity.new_key().public_hex
    verdict = verify_document(doc, Policy(expect_signer=other))
    assert verdict.failed() == ["signature"]
    assert _detail(verdict, "signature").startswith("expect_signer:") and other in _detail(verdict, "signature")


def test_partial_pins_say_what_is_not_pinned(receipt_file: Path) -> None:
    doc = _doc(receipt_file)
    verdict = verify_document(doc, Policy(expect_model=doc["model"]["model_digest"]))
    assert verdict.verified is True and verdict.identity_pinned is False
    detail = _detail(verdict, "identity")
    assert detail.startswith("unpinned") and "SRS ceremony" in detail  # the node's word on its model pins nothing
    assert "compares only the digest the receipt states" in detail  # a model digest is stated, not proven


def test_cli_pins_are_joined_with_the_policy_file(ceremony_receipt_file: Path, tmp_path: Path) -> None:
    doc = _doc(ceremony_receipt_file)
    (tmp_path / "p.toml").write_text(
        _toml({"trusted_srs": [digest_bytes(b"another trusted ceremony")], "expect_vk": doc["model"]["vk_digest"]})
    )
    built = policy.build(
        tmp_path / "p.toml", trusted_srs=[doc["srs"]["fingerprint"]], expect_signer=doc["signature"]["public_key"]
    )
    assert built.trusted_srs == [digest_bytes(b"another trusted ceremony"), doc["srs"]["fingerprint"]]
    assert built.expect_vk == doc["model"]["vk_digest"] and built.expect_signer == doc["signature"]["public_key"]
    assert verify_document(doc, built).identity_pinned is True
    wrong = zkinfer("verify", ceremony_receipt_file, "--policy", tmp_path / "p.toml", "--expect-vk", digest_bytes(b"x"))
    assert wrong.returncode == 1
    assert "expect_vk" in wrong.stdout


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('expect_vk = "sha256:abc', "not valid TOML"),
        ("expect_vk = 3\n", "'expect_vk'"),
        ('expect_vkey = "sha256:00"\n', "'expect_vkey'"),
        ('expect_vk = "sha256:1234"\n', "expect_vk: 'sha256:1234' is not a digest"),
        ('trusted_srs = ["md5:00"]\n', "trusted_srs"),
        ('expect_signer = "abcd"\n', "expect_signer"),
        ('expect_params_commitment = ["xyz"]\n', "expect_params_commitment"),
        ("strict = true\n", "missing expect_circuit or model_file"),
        ("allow_development_srs = false\n", "needs trusted_srs"),
        ('strict = "yes"\n', "'strict'"),
    ],
)
def test_bad_policy_file_is_a_policy_error_naming_file_and_key(tmp_path: Path, body: str, named: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(body)
    with pytest.raises(PolicyError) as caught:
        policy.build(path)
    assert str(path) in str(caught.value) and named in str(caught.value)


def test_bad_policy_exits_2_without_a_traceback(receipt_file: Path, tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text("strict = true\n")
    result = zkinfer("verify", receipt_file, "--policy", tmp_path / "policy.toml")
    assert result.returncode == 2
    assert "policy.toml" in result.stderr and "--trusted-srs" in result.stderr and "Traceback" not in result.stderr
    missing = zkinfer("verify", receipt_file, "--policy", tmp_path / "absent.toml")
    assert missing.returncode == 2 and "no such policy file" in missing.stderr


def test_strict_on_the_command_line_requires_every_pin(receipt_file: Path) -> None:
    result = zkinfer(
        "verify", receipt_file, "--strict", "--expect-circuit", _pins(_doc(receipt_file))["expect_circuit"]
    )
    assert result.returncode == 2
    assert (
        "--trusted-srs" in result.stderr
        and "--expect-signer" in result.stderr
        and "--expect-circuit" not in result.stderr.split("missing")[1]
    )
    vk_only = zkinfer("verify", receipt_file, "--strict", "--expect-vk", _doc(receipt_file)["model"]["vk_digest"])
    assert (
        vk_only.returncode == 2 and "--expect-circuit" in vk_only.stderr.split("missing")[1]
    )  # the key alone does not pin the scales


def test_pins_are_normalised(receipt_file: Path) -> None:
    doc = _doc(receipt_file)
    loose = Policy(
        expect_vk=doc["model"]["vk_digest"].upper().replace("SHA256", "sha256"),
        expect_signer="0x" + doc["signature"]["public_key"].upper(),
    )
    assert verify_document(doc, loose).verified is True
