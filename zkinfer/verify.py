"""Receipt + policy → `Verdict`: every check run and reported by name, even after one fails.

ezkl.verify only checks a proof against the instances stored beside it; it neither knows what the
receipt *claims* nor which model the key belongs to. The `binding` check closes the first gap
(the proof's public instances must be exactly the stated input and output) and the policy checks
close the second (pinned model / verifying key / SRS ceremony / signer).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from zkinfer import _ezkl, identity, srs
from zkinfer.digest import digest_bytes, digest_json
from zkinfer.errors import ReceiptFormatError, ZkinferError
from zkinfer.receipt import Receipt, b64decode, parse, read_document

Status = Literal["pass", "fail", "skip"]
CHECK_NAMES = ("well-formed", "verifying-key", "settings", "srs", "proof", "binding", "identity", "signature")
FLOAT_TOLERANCE = 1e-9


class Check(BaseModel):
    name: str
    status: Status
    detail: str


class Policy(BaseModel):
    """What the auditor pins. Empty = check the proof and binding only, identity unpinned."""

    expect_model: str | None = None
    expect_vk: str | None = None
    trusted_srs: list[str] = []
    expect_signer: str | None = None
    allow_development_srs: bool = True

    @property
    def pins_identity(self) -> bool:
        return bool(self.expect_model or self.expect_vk) and bool(self.trusted_srs)


class Verdict(BaseModel):
    verified: bool
    identity_pinned: bool
    summary: str
    checks: list[Check]
    source: str = "receipt"


class _Failed(Exception):
    """A check's failure reason (internal: turned into a failed Check)."""


def _run(name: str, checks: list[Check], body: Callable[[], str]) -> bool:
    try:
        checks.append(Check(name=name, status="pass", detail=body()))
        return True
    except (_Failed, ZkinferError) as exc:
        checks.append(Check(name=name, status="fail", detail=str(exc)))
    except Exception as exc:  # a verifier must give a verdict, never a traceback
        checks.append(Check(name=name, status="fail", detail=f"{type(exc).__name__}: {exc}"))
    return False


def _check_vk(receipt: Receipt) -> str:
    vk = b64decode(receipt.model.verifying_key, "model.verifying_key")
    actual = digest_bytes(vk)
    if actual != receipt.model.vk_digest:
        raise _Failed(f"embedded verifying key hashes to {actual}, receipt states {receipt.model.vk_digest}")
    return f"embedded key ({len(vk)} bytes) matches {receipt.model.vk_digest}"


def _check_settings(receipt: Receipt) -> str:
    actual = digest_json(receipt.model.settings)
    if actual != receipt.model.settings_digest:
        raise _Failed(f"embedded settings hash to {actual}, receipt states {receipt.model.settings_digest}")
    if int(receipt.model.settings.get("run_args", {}).get("logrows", -1)) != receipt.srs.k:
        raise _Failed(f"settings say k={receipt.model.settings.get('run_args', {}).get('logrows')} but srs.k={receipt.srs.k}")
    return f"embedded settings match {receipt.model.settings_digest}"


def _check_srs(receipt: Receipt) -> str:
    fingerprint = srs.parse_reduced(b64decode(receipt.srs.reduced, "srs.reduced"), "field srs.reduced")
    if fingerprint != receipt.srs.fingerprint:
        raise _Failed(f"embedded SRS has fingerprint {fingerprint}, receipt states {receipt.srs.fingerprint}")
    return f"embedded reduced SRS is from ceremony {fingerprint}"


def _check_proof(receipt: Receipt) -> str:
    try:
        proof_bytes = bytes.fromhex(receipt.proof.hex)
    except ValueError as exc:
        raise _Failed(f"field proof.hex is not hex: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="zkinfer-verify-") as tmp:
        folder = Path(tmp)
        _ezkl.write_proof_file(folder / "proof.json", proof_bytes, receipt.proof.instances)
        (folder / "settings.json").write_text(json.dumps(receipt.model.settings))
        (folder / "vk").write_bytes(b64decode(receipt.model.verifying_key, "model.verifying_key"))
        (folder / "srs").write_bytes(b64decode(receipt.srs.reduced, "srs.reduced"))
        ok, reason = _ezkl.verify(folder / "proof.json", folder / "settings.json", folder / "vk", folder / "srs", reduced_srs=True)
    if not ok:
        raise _Failed(f"the proof does not verify with the embedded key: {reason}")
    return f"halo2/KZG proof ({len(proof_bytes)} bytes) verifies with the embedded key"


def expected_instances(receipt: Receipt) -> list[tuple[str, str]]:
    """(label, felt) for each public instance the receipt's statement implies, in ezkl's order:
    inputs (or their commitment), weight commitment, outputs."""
    expected: list[tuple[str, str]] = []
    section = receipt.input
    if section.visibility == "public":
        if section.tensors is None:
            raise _Failed("field input.tensors is missing but input.visibility is public")
        for i, (tensor, scale) in enumerate(zip(section.tensors, section.scales, strict=True)):
            expected.extend((f"input[{i}][{j}]={v}", _ezkl.float_to_felt(v, scale)) for j, v in enumerate(tensor.values))
    else:
        if not section.commitment:
            raise _Failed("field input.commitment is missing but input.visibility is hashed")
        expected.extend((f"input commitment[{j}]", c) for j, c in enumerate(section.commitment))
    if receipt.params.visibility == "hashed":
        if not receipt.params.commitment:
            raise _Failed("field params.commitment is missing but params.visibility is hashed")
        expected.extend((f"weights commitment[{j}]", c) for j, c in enumerate(receipt.params.commitment))
    for i, felts in enumerate(receipt.output.felts):
        expected.extend((f"output[{i}][{j}]", f) for j, f in enumerate(felts))
    return expected


def _check_output_values(receipt: Receipt) -> None:
    out = receipt.output
    if not (len(out.tensors) == len(out.felts) == len(out.scales)):
        raise _Failed("output.tensors, output.felts and output.scales differ in length")
    for i, (tensor, felts, scale) in enumerate(zip(out.tensors, out.felts, out.scales, strict=True)):
        if len(tensor.values) != len(felts):
            raise _Failed(f"output[{i}] states {len(tensor.values)} values for {len(felts)} proven field elements")
        for j, (value, felt) in enumerate(zip(tensor.values, felts, strict=True)):
            proven = _ezkl.felt_to_float(felt, scale)
            if abs(proven - value) > FLOAT_TOLERANCE * max(1.0, abs(proven)):
                raise _Failed(f"output[{i}][{j}]: receipt states {value} but the proof attests {proven}")


def _check_binding(receipt: Receipt) -> str:
    settings_scales = {
        "input": [int(s) for s in receipt.model.settings.get("model_input_scales", [])],
        "output": [int(s) for s in receipt.model.settings.get("model_output_scales", [])],
    }
    if receipt.input.scales != settings_scales["input"] or receipt.output.scales != settings_scales["output"]:
        raise _Failed(f"stated scales (input {receipt.input.scales}, output {receipt.output.scales}) differ from the circuit settings {settings_scales}")
    _check_output_values(receipt)
    expected = expected_instances(receipt)
    actual = [felt for column in receipt.proof.instances for felt in column]
    if len(actual) != len(expected):
        raise _Failed(f"the proof has {len(actual)} public instances, the receipt's statement implies {len(expected)}")
    for position, ((label, want), got) in enumerate(zip(expected, actual, strict=True)):
        if want.lower() != got.lower():
            raise _Failed(f"public instance {position} ({label}) is {got} in the proof, but the receipt's statement gives {want}")
    return f"all {len(actual)} public instances equal the stated input ({receipt.input.visibility}) and output"


def _check_identity(receipt: Receipt, policy: Policy) -> str:
    problems = []
    if policy.expect_model and receipt.model.model_digest != policy.expect_model:
        problems.append(f"model digest {receipt.model.model_digest} is not the pinned {policy.expect_model}")
    if policy.expect_vk and receipt.model.vk_digest != policy.expect_vk:
        problems.append(f"verifying key {receipt.model.vk_digest} is not the pinned {policy.expect_vk}")
    if policy.trusted_srs and receipt.srs.fingerprint not in policy.trusted_srs:
        problems.append(f"SRS ceremony {receipt.srs.fingerprint} is not among the trusted ones")
    if receipt.srs.development and not policy.allow_development_srs:
        problems.append("the receipt was made with a development SRS (its maker knows tau and could forge proofs)")
    if problems:
        raise _Failed("; ".join(problems))
    if not (policy.expect_model or policy.expect_vk or policy.trusted_srs):
        return "unpinned: no expected model, verifying key or SRS was given, so any circuit would pass"
    return "model/verifying key and SRS match the pinned ones" if policy.pins_identity else "partly pinned: " + ", ".join(
        name for name, value in (("model", policy.expect_model), ("vk", policy.expect_vk), ("srs", policy.trusted_srs)) if value
    )


def _check_signature(receipt: Receipt, policy: Policy) -> str:
    if receipt.signature is None:
        if policy.expect_signer:
            raise _Failed(f"the receipt is unsigned but the policy expects signer {policy.expect_signer}")
        return "unsigned: no node signature (who served this answer is not attested)"
    detail = identity.check_receipt_signature(receipt)
    if policy.expect_signer and receipt.signature.public_key.lower() != policy.expect_signer.lower().removeprefix("0x"):
        raise _Failed(f"signed by {receipt.signature.public_key}, but the policy expects {policy.expect_signer}")
    return detail + (" (the pinned signer)" if policy.expect_signer else " (signer unpinned)")


def verify_receipt(receipt: Receipt, policy: Policy | None = None, source: str = "receipt") -> Verdict:
    """Run every check on a parsed receipt."""
    policy = policy or Policy()
    checks = [Check(name="well-formed", status="pass", detail=f"schema {receipt.schema_version}, all fields present and typed")]
    _run("verifying-key", checks, lambda: _check_vk(receipt))
    _run("settings", checks, lambda: _check_settings(receipt))
    _run("srs", checks, lambda: _check_srs(receipt))
    _run("proof", checks, lambda: _check_proof(receipt))
    _run("binding", checks, lambda: _check_binding(receipt))
    _run("identity", checks, lambda: _check_identity(receipt, policy))
    _run("signature", checks, lambda: _check_signature(receipt, policy))
    return _verdict(checks, policy, source)


def _verdict(checks: list[Check], policy: Policy, source: str) -> Verdict:
    failed = [c.name for c in checks if c.status == "fail"]
    verified = not failed
    if not verified:
        summary = f"NOT VERIFIED: {', '.join(failed)} failed"
    elif policy.pins_identity:
        summary = "VERIFIED: valid proof, bound to the stated input and output, from the pinned model and SRS"
    else:
        summary = "VERIFIED (identity unpinned): the proof is valid and bound to the stated input and output, but the model identity and SRS are not pinned (use --expect-vk/--expect-model and --trusted-srs)"
    return Verdict(verified=verified, identity_pinned=verified and policy.pins_identity, summary=summary, checks=checks, source=source)


def verify_document(document: Any, policy: Policy | None = None, source: str = "receipt") -> Verdict:
    """Verify a parsed JSON document: a malformed one fails the well-formed check (exit 1)."""
    try:
        receipt = parse(document, source)
    except ReceiptFormatError as exc:
        checks = [Check(name="well-formed", status="fail", detail=str(exc))]
        checks += [Check(name=n, status="skip", detail="not run: the receipt is malformed") for n in CHECK_NAMES[1:]]
        return _verdict(checks, policy or Policy(), source)
    return verify_receipt(receipt, policy, source)


def verify_file(path: Path, policy: Policy | None = None) -> Verdict:
    """Verify a receipt file; an unreadable file raises ReceiptFormatError (exit 2)."""
    return verify_document(read_document(path), policy, str(path))
