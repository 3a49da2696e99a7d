"""Receipt + policy → `Verdict`: every check run and reported by name, even after one fails.

ezkl.verify only checks a proof against the instances stored beside it; it neither knows what the
receipt *claims* nor which model the key belongs to. The `binding` check closes the first gap
(the proof's public instances must be exactly the stated input, or its commitment, and output)
and the policy checks close the second (pinned verifying key / model / weights / SRS ceremony /
signer; see `zkinfer.policy`). A verifier must give a verdict, never a traceback: every field
is checked before it reaches ezkl, which panics on malformed field elements.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, field_validator

from zkinfer import _ezkl, identity, inputs, srs
from zkinfer.digest import circuit_digest, digest_bytes, digest_json
from zkinfer.errors import ReceiptFormatError, ZkinferError
from zkinfer.policy import Policy
from zkinfer.receipt import Receipt, TensorData, b64decode, parse, read_document
from zkinfer.text import visible

__all__ = ["CHECK_NAMES", "Check", "Policy", "Verdict", "expected_instances", "verify_document", "verify_file", "verify_receipt"]

Status = Literal["pass", "fail", "skip"]
CHECK_NAMES = ("well-formed", "verifying-key", "settings", "srs", "proof", "binding", "fast", "identity", "signature")
INPUT_CHECK = "input"  # only present when the auditor supplies the input
MODEL_CHECK = "model"  # only present when the auditor supplies the model file
FLOAT_TOLERANCE = 1e-9
MAX_PROOF_BYTES = 1 << 24
MAX_SCALE = 64
MAX_INNER_COLS = 64
_MAX_TENSOR_VALUES = 1 << 24
# ezkl.verify reads files: write them to memory (tmpfs) where there is one, a millisecond less per verify.
_SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK | os.X_OK) else None


class Check(BaseModel):
    name: str
    status: Status
    detail: str

    @field_validator("detail")
    @classmethod
    def _shown_safely(cls, detail: str) -> str:
        """Details quote the receipt, which is hostile: no control characters reach a terminal."""
        return visible(detail)


class Verdict(BaseModel):
    verified: bool
    identity_pinned: bool
    summary: str
    checks: list[Check]
    source: str = "receipt"

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.status == "fail"]


class _Failed(Exception):
    """A check's failure reason (internal: turned into a failed Check)."""


class _Skipped(Exception):
    """A check deliberately not run (internal: turned into a skipped Check)."""


def _run(name: str, checks: list[Check], body: Callable[[], str]) -> bool:
    try:
        checks.append(Check(name=name, status="pass", detail=body()))
        return True
    except _Skipped as exc:
        checks.append(Check(name=name, status="skip", detail=str(exc)))
        return True
    except (_Failed, ZkinferError) as exc:
        checks.append(Check(name=name, status="fail", detail=str(exc)))
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # incl. pyo3's PanicException: a verifier gives a verdict, never a traceback
        checks.append(Check(name=name, status="fail", detail=f"{type(exc).__name__}: {exc}"))
    return False


def _run_args(receipt: Receipt) -> dict[str, Any]:
    run_args = receipt.model.settings.get("run_args")
    if not isinstance(run_args, dict):
        raise _Failed("field model.settings.run_args is missing or not an object")
    return run_args


def _logrows(receipt: Receipt) -> int:
    logrows = _run_args(receipt).get("logrows")
    if type(logrows) is not int or not 1 <= logrows <= srs.MAX_K:
        raise _Failed(f"field model.settings.run_args.logrows is {logrows!r}, not a circuit size between 1 and {srs.MAX_K}")
    return logrows


def _visibility_name(value: Any) -> str:
    """ezkl's settings spell visibility "Public" / "Fixed" / "Private" / {"Hashed": {...}}."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, dict) and list(value) == ["Hashed"]:
        hashed = value["Hashed"]
        return "hashed" if isinstance(hashed, dict) and hashed.get("hash_is_public") is True else "hashed (commitment not public)"
    return repr(value)


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
    if _logrows(receipt) != receipt.srs.k:
        raise _Failed(f"settings say k={_logrows(receipt)} but srs.k={receipt.srs.k}")
    run_args = _run_args(receipt)
    circuit = {part: _visibility_name(run_args.get(f"{key}_visibility")) for part, key in (("input", "input"), ("params", "param"), ("output", "output"))}
    if circuit["params"] == "private":
        raise _Failed(
            "the circuit's weights are private (param_visibility Private): they are unconstrained witnesses, so any weights "
            "would pass as this model; a receipt for a model needs fixed or hashed weights"
        )
    stated = {"input": receipt.input.visibility, "params": receipt.params.visibility, "output": receipt.output.visibility}
    wrong = [f"{part} is {circuit[part]} in the circuit settings but {stated[part]} in the receipt" for part in stated if circuit[part] != stated[part]]
    if wrong:
        raise _Failed("visibility mismatch: " + "; ".join(wrong))
    return f"embedded settings match {receipt.model.settings_digest} (input {circuit['input']}, weights {circuit['params']}, output {circuit['output']})"


def _check_srs(receipt: Receipt) -> str:
    fingerprint = srs.parse_reduced(b64decode(receipt.srs.reduced, "srs.reduced"), "field srs.reduced")
    if fingerprint != receipt.srs.fingerprint:
        raise _Failed(f"embedded SRS has fingerprint {fingerprint}, receipt states {receipt.srs.fingerprint}")
    kind = "admits it is a development SRS (its maker could forge proofs)" if receipt.srs.development else "calls it a ceremony SRS, which is only its word: your --trusted-srs list decides"
    return f"embedded reduced SRS is from ceremony {fingerprint}; the receipt {kind}"


def _proof_bytes(receipt: Receipt) -> bytes:
    text = receipt.proof.hex
    if len(text) > 2 * MAX_PROOF_BYTES:
        raise _Failed(f"field proof.hex: {len(text) // 2} bytes is over the {MAX_PROOF_BYTES}-byte limit")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise _Failed(f"field proof.hex is not hex: {exc}") from exc


def _check_felts(felts: list[str], field: str) -> None:
    for j, felt in enumerate(felts):
        if not _ezkl.is_felt(felt):
            raise _Failed(f"field {field}[{j}] = {felt[:80]!r} is not a field element (64 hex digits, little-endian, below the BN254 modulus)")


def _bounded_settings(receipt: Receipt) -> tuple[int, int]:
    """(logrows, num_inner_cols) once they are within what ezkl can be handed: it sizes its
    domain and allocates per column from them (0 columns divides by zero, 128 ran a rebuild
    for ten minutes and 12 GB). Checked before any ezkl work on the receipt's settings."""
    logrows = _logrows(receipt)
    columns = _run_args(receipt).get("num_inner_cols")
    if type(columns) is not int or not 1 <= columns <= MAX_INNER_COLS:
        raise _Failed(f"field model.settings.run_args.num_inner_cols is {columns!r}, not between 1 and {MAX_INNER_COLS}")
    return logrows, columns


def _check_proof(receipt: Receipt, on_sent: Callable[[], None] = lambda: None) -> str:
    proof_bytes = _proof_bytes(receipt)
    _bounded_settings(receipt)
    stated = sum(len(column) for column in receipt.proof.instances)
    implied = _statement_size(receipt)
    if stated != implied:  # before any per-element work: a hostile receipt may list millions
        raise _Failed(f"the proof lists {stated} public instances, the circuit settings' shapes and visibilities imply {implied}")
    for i, column in enumerate(receipt.proof.instances):
        _check_felts(column, f"proof.instances[{i}]")
    with tempfile.TemporaryDirectory(prefix="zkinfer-verify-", dir=_SCRATCH) as tmp:
        folder = Path(tmp)
        _ezkl.write_proof_file(folder / "proof.json", proof_bytes, receipt.proof.instances)
        (folder / "settings.json").write_text(json.dumps(receipt.model.settings))
        (folder / "vk").write_bytes(b64decode(receipt.model.verifying_key, "model.verifying_key"))
        (folder / "srs").write_bytes(b64decode(receipt.srs.reduced, "srs.reduced"))
        ok, reason = _ezkl.verify(folder / "proof.json", folder / "settings.json", folder / "vk", folder / "srs", reduced_srs=True, on_sent=on_sent)
    if not ok:
        raise _Failed(f"the proof does not verify with the embedded key: {reason}")
    return f"halo2/KZG proof ({len(proof_bytes)} bytes) verifies with the embedded key"


def _instance_shapes(receipt: Receipt) -> tuple[list[list[int]], list[list[int]]]:
    """(public input shapes, output shapes) as the circuit settings give them
    (`model_instance_shapes`: the public inputs' — none when the input is hashed — then the
    outputs'), checked to be shapes."""
    shapes = receipt.model.settings.get("model_instance_shapes")
    public_input = _visibility_name(_run_args(receipt).get("input_visibility")) == "public"
    inputs_n, outputs_n = len(receipt.input.scales) if public_input else 0, len(receipt.output.scales)
    if not (isinstance(shapes, list) and len(shapes) == inputs_n + outputs_n):
        raise _Failed(f"field model.settings.model_instance_shapes is not a list of {inputs_n} public input and {outputs_n} output shape(s)")
    for i, shape in enumerate(shapes):
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape) and math.prod(shape) <= _MAX_TENSOR_VALUES):
            raise _Failed(f"field model.settings.model_instance_shapes[{i}] = {str(shape)[:80]} is not a tensor shape (at most {_MAX_TENSOR_VALUES} values)")
    return shapes[:inputs_n], shapes[inputs_n:]


def _statement_size(receipt: Receipt) -> int:
    """How many public instances the circuit's settings imply, computed from the shapes alone
    (no per-element work): one commitment per hashed input tensor, then the weights' commitments,
    then every public input value, then every output value."""
    run_args = _run_args(receipt)
    input_shapes, output_shapes = _instance_shapes(receipt)
    size = sum(math.prod(shape) for shape in (*input_shapes, *output_shapes))
    if _visibility_name(run_args.get("input_visibility")) == "hashed":
        size += len(receipt.input.scales)
    if _visibility_name(run_args.get("param_visibility")) == "hashed":
        size += len(receipt.params.commitment or [])
    return size


def _check_shape(tensor: TensorData, field: str) -> None:
    if any(d < 0 for d in tensor.shape) or math.prod(tensor.shape) != len(tensor.values):
        raise _Failed(f"field {field}: shape {tensor.shape} does not hold its {len(tensor.values)} values")


def _scale(scale: int, field: str) -> int:
    if not 0 <= scale <= MAX_SCALE:
        raise _Failed(f"field {field} = {scale} is not a fixed-point scale (0..{MAX_SCALE})")
    return scale


def _quantize(values: list[float], scale: int, field: str) -> list[str]:
    bad = [j for j, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        raise _Failed(f"field {field}[{bad[0]}] is {values[bad[0]]}, not a finite number")
    return [_ezkl.float_to_felt(v, scale) for v in values]


def expected_instances(receipt: Receipt) -> list[tuple[str, str]]:
    """(label, felt) for each public instance the receipt's statement implies, in ezkl's order:
    first the Poseidon commitments (the input's, one per input tensor; then the weights'), then
    the public input values, then the outputs. (Checked against real ezkl 23 proofs.)"""
    expected: list[tuple[str, str]] = []
    section = receipt.input
    if section.visibility == "hashed":
        if not section.commitment:
            raise _Failed("field input.commitment is missing but input.visibility is hashed")
        if len(section.commitment) != len(section.scales):
            raise _Failed(f"field input.commitment holds {len(section.commitment)} hashes for {len(section.scales)} input(s): ezkl commits to each input tensor with one hash")
        expected.extend((f"input commitment[{j}]", c) for j, c in enumerate(section.commitment))
    if receipt.params.visibility == "hashed":
        if not receipt.params.commitment:
            raise _Failed("field params.commitment is missing but params.visibility is hashed")
        expected.extend((f"weights commitment[{j}]", c) for j, c in enumerate(receipt.params.commitment))
    if section.visibility == "public":
        if section.tensors is None:
            raise _Failed("field input.tensors is missing but input.visibility is public")
        if len(section.tensors) != len(section.scales):
            raise _Failed(f"field input.tensors holds {len(section.tensors)} tensors for {len(section.scales)} input scales")
        for i, (tensor, scale) in enumerate(zip(section.tensors, section.scales, strict=True)):
            _check_shape(tensor, f"input.tensors[{i}]")
            felts = _quantize(tensor.values, _scale(scale, f"input.scales[{i}]"), f"input.tensors[{i}].values")
            expected.extend((f"input[{i}][{j}]={v}", f) for j, (v, f) in enumerate(zip(tensor.values, felts, strict=True)))
    for i, felts in enumerate(receipt.output.felts):
        expected.extend((f"output[{i}][{j}]", f) for j, f in enumerate(felts))
    return expected


def _check_output_values(receipt: Receipt) -> None:
    out = receipt.output
    if not (len(out.tensors) == len(out.felts) == len(out.scales)):
        raise _Failed("output.tensors, output.felts and output.scales differ in length")
    for i, (tensor, felts, scale) in enumerate(zip(out.tensors, out.felts, out.scales, strict=True)):
        _check_felts(felts, f"output.felts[{i}]")
        _check_shape(tensor, f"output.tensors[{i}]")
        _scale(scale, f"output.scales[{i}]")
        if len(tensor.values) != len(felts):
            raise _Failed(f"output[{i}] states {len(tensor.values)} values for {len(felts)} proven field elements")
        for j, (value, felt) in enumerate(zip(tensor.values, felts, strict=True)):
            proven = _ezkl.felt_to_float(felt, scale)
            if not abs(proven - value) <= FLOAT_TOLERANCE * max(1.0, abs(proven)):  # `not <=` so NaN fails
                raise _Failed(f"output[{i}][{j}]: receipt states {value} but the proof attests {proven}")


def _check_stated_shapes(receipt: Receipt) -> None:
    """The stated tensors have the shapes the circuit settings give them, and hold that many values:
    cheap checks on counts, before any per-element work. With the settings pinned, a node cannot
    relabel a [1, 10] output as [2, 5]."""
    input_shapes, output_shapes = _instance_shapes(receipt)
    stated = [("input", receipt.input.tensors or [], input_shapes), ("output", receipt.output.tensors, output_shapes)]
    for part, tensors, shapes in stated:
        if part == "input" and receipt.input.tensors is None:
            continue
        if len(tensors) != len(shapes):
            raise _Failed(f"field {part}.tensors holds {len(tensors)} tensors, the circuit settings have {len(shapes)}")
        for i, (tensor, shape) in enumerate(zip(tensors, shapes, strict=True)):
            if tensor.shape != shape:
                raise _Failed(f"field {part}.tensors[{i}].shape is {tensor.shape}, the circuit settings (model_instance_shapes) give {shape}")
            _check_shape(tensor, f"{part}.tensors[{i}]")
    for i, felts in enumerate(receipt.output.felts):
        if i < len(output_shapes) and len(felts) != math.prod(output_shapes[i]):
            raise _Failed(f"field output.felts[{i}] holds {len(felts)} field elements for shape {output_shapes[i]}")


def _check_binding(receipt: Receipt) -> str:
    settings = receipt.model.settings
    settings_scales = {"input": settings.get("model_input_scales"), "output": settings.get("model_output_scales")}
    if receipt.input.scales != settings_scales["input"] or receipt.output.scales != settings_scales["output"]:
        raise _Failed(f"stated scales (input {receipt.input.scales}, output {receipt.output.scales}) differ from the circuit settings {str(settings_scales)[:200]}")
    _check_stated_shapes(receipt)
    actual_count, implied = sum(len(column) for column in receipt.proof.instances), _statement_size(receipt)
    if actual_count != implied:
        raise _Failed(f"the proof has {actual_count} public instances, the receipt's statement implies {implied}")
    for field, commitment in (("input.commitment", receipt.input.commitment), ("params.commitment", receipt.params.commitment)):
        _check_felts(commitment or [], field)
    _check_output_values(receipt)
    expected = expected_instances(receipt)
    actual = [felt for column in receipt.proof.instances for felt in column]
    if len(actual) != len(expected):
        raise _Failed(f"the proof has {len(actual)} public instances, the receipt's statement implies {len(expected)}")
    for position, ((label, want), got) in enumerate(zip(expected, actual, strict=True)):
        if want.lower() != got.lower():
            raise _Failed(f"public instance {position} ({label}) is {got} in the proof, but the receipt's statement gives {want}")
    what = "the stated input" if receipt.input.visibility == "public" else "the input's commitment"
    weights = ", the weights' commitment" if receipt.params.visibility == "hashed" else ""
    return f"all {len(actual)} public instances equal {what}{weights} and the stated output"


def _check_fast(receipt: Receipt, policy: Policy) -> str:
    """The fast answer (what the client received at once) against the proven output: the stated
    deviation must be the true one, and within the policy's bound when it sets one. The proof
    attests the proven output only; this check is what ties the fast answer to it."""
    fast, proven = receipt.fast, receipt.output
    if len(fast.tensors) != len(proven.tensors):
        raise _Failed(f"the fast answer has {len(fast.tensors)} tensors, the proven output {len(proven.tensors)}")
    deviation = 0.0
    for i, (answer, output) in enumerate(zip(fast.tensors, proven.tensors, strict=True)):
        if answer.name != output.name or answer.shape != output.shape or len(answer.values) != len(output.values):
            raise _Failed(f"fast.tensors[{i}] ({answer.name!r}, shape {answer.shape}) is not shaped as the proven output[{i}] ({output.name!r}, shape {output.shape})")
        deviation = max(deviation, max((abs(a - b) for a, b in zip(answer.values, output.values, strict=True)), default=0.0))
    if not math.isclose(deviation, fast.max_abs_deviation, rel_tol=1e-9, abs_tol=1e-12):
        raise _Failed(f"field fast.max_abs_deviation states {fast.max_abs_deviation:.6g}, but the fast answer differs from the proven output by {deviation:.6g}")
    if policy.max_fast_deviation is not None and deviation > policy.max_fast_deviation:
        raise _Failed(f"max_fast_deviation: the fast answer differs from the proven output by {deviation:.6g}, over the policy's {policy.max_fast_deviation:g}")
    bound = f" (the policy allows {policy.max_fast_deviation:g})" if policy.max_fast_deviation is not None else ""
    return f"the fast answer ({fast.provider}) is within {deviation:.3g} of the proven output, as stated{bound}"


def _check_input(receipt: Receipt, given: list[np.ndarray]) -> str:
    """The auditor's own copy of the input is the one the proof is about (after quantization)."""
    section = receipt.input
    if len(given) != len(section.scales):
        raise _Failed(f"the receipt's model takes {len(section.scales)} input(s), the given input file has {len(given)}")
    felts = [_quantize([float(v) for v in array], _scale(scale, f"input.scales[{i}]"), f"given input[{i}]") for i, (array, scale) in enumerate(zip(given, section.scales, strict=True))]
    if section.visibility == "hashed":
        stated = section.commitment or []
        for i, tensor_felts in enumerate(felts):
            mine = _ezkl.commit_tensor(tensor_felts)
            theirs = stated[i] if i < len(stated) else None
            if theirs is None or mine.lower() != theirs.lower():
                raise _Failed(f"input[{i}]: the given values' Poseidon commitment is {mine}, the receipt states {theirs}: the proof is about a different input")
        return f"the given input's Poseidon commitment equals the receipt's ({len(felts)} tensor(s)): the proof is about this input"
    for i, tensor_felts in enumerate(felts):
        tensors = section.tensors or []
        if i >= len(tensors) or len(tensors[i].values) != len(tensor_felts):
            raise _Failed(f"input[{i}]: the given input has {len(tensor_felts)} values, the receipt states {len(tensors[i].values) if i < len(tensors) else 'none'}")
        stated_felts = _quantize(tensors[i].values, section.scales[i], f"input.tensors[{i}].values")
        for j, (mine, theirs) in enumerate(zip(tensor_felts, stated_felts, strict=True)):
            if mine != theirs:
                raise _Failed(f"input[{i}][{j}]: the given value {float(given[i][j])} differs from the receipt's {tensors[i].values[j]} (at scale {section.scales[i]})")
    return f"the given input equals the receipt's stated input ({sum(len(f) for f in felts)} values, after quantization)"


def _check_model(receipt: Receipt, model: Path) -> str:
    """The auditor's own copy of the model is the one the proof is about: compiled with the
    receipt's run args and set up with its SRS ceremony, it gives the embedded verifying key
    (and, for hashed weights, the stated weights commitment), and ezkl derives from it the same
    settings that decode the proof's field elements (scales, shapes): the key alone does not fix
    those, so a node could otherwise restate the output at another scale."""
    from zkinfer import reproduce  # onnx and a setup: only when asked for

    logrows, columns = _bounded_settings(receipt)
    hashed = receipt.params.visibility == "hashed"
    rebuilt = reproduce.rebuild(model, receipt.model.settings, receipt.srs.fingerprint, hashed_params=hashed, logrows=logrows, columns=columns)
    if rebuilt.vk != b64decode(receipt.model.verifying_key, "model.verifying_key"):
        raise _Failed(f"{model} compiles, under the receipt's settings and SRS, to verifying key {digest_bytes(rebuilt.vk)}, not the receipt's {receipt.model.vk_digest}: the proof is not about this model")
    for key, derived in rebuilt.decoding.items():
        if receipt.model.settings.get(key) != derived:
            raise _Failed(f"{model} under the receipt's run args has {key} {derived}, the receipt's settings state {str(receipt.model.settings.get(key))[:80]}: the receipt misstates how to read the proof")
    if hashed and [c.lower() for c in rebuilt.params_commitment or []] != [c.lower() for c in receipt.params.commitment or []]:
        raise _Failed(f"{model}'s weights commit to {rebuilt.params_commitment}, the receipt states {receipt.params.commitment}: the proof is about other weights")
    what = "verifying key, settings and weights commitment" if hashed else "verifying key and settings"
    note = "" if rebuilt.model_digest == receipt.model.model_digest else f" (its bytes differ from the stated model {receipt.model.model_digest}: same circuit and weights, another file)"
    return f"{model} ({rebuilt.model_digest}) rebuilds the receipt's {what}: the proof is about this model{note}"


def _actual_circuit_digest(receipt: Receipt) -> str:
    return circuit_digest(digest_bytes(b64decode(receipt.model.verifying_key, "model.verifying_key")), receipt.model.settings)


def _identity_status(receipt: Receipt, policy: Policy, model_rebuilt: bool = False) -> tuple[list[str], list[str], list[str]]:
    """(failed pins, pinned parts, unpinned parts) for this receipt under this policy.
    `model_rebuilt`: the auditor's model file rebuilt the receipt's key, settings (and weights commitment).

    What counts as pinning the circuit: the circuit digest (key and settings) or the rebuilt model
    file, both cryptographic; or a verifying key / model digest pin with a pinned signer, who then
    vouches for the rest of what it signed. A model digest alone is only what the receipt states,
    and a verifying key alone leaves the outputs' scale and shape to the receipt's word."""
    problems: list[str] = []
    pinned: list[str] = ["circuit (rebuilt from your model file)"] if model_rebuilt else []
    unpinned: list[str] = []
    model = receipt.model
    if policy.expect_circuit:
        pinned.append("circuit (verifying key and settings)")
        actual = _actual_circuit_digest(receipt)
        if actual != policy.expect_circuit:
            problems.append(f"expect_circuit: the receipt's circuit (verifying key and settings) is {actual}, the policy pins {policy.expect_circuit} (another key, or settings that read the proof differently)")
    cryptographic = model_rebuilt or policy.expect_circuit is not None
    vouched = policy.expect_signer is not None and not cryptographic  # the signature check holds it to that key
    if policy.expect_vk:
        pinned.append("verifying key")
        if model.vk_digest.lower() != policy.expect_vk:
            problems.append(f"expect_vk: the receipt's verifying key is {model.vk_digest}, the policy pins {policy.expect_vk} (a different circuit)")
    if policy.expect_model:
        if cryptographic or vouched:
            pinned.append("model digest" + (" (as the pinned signer states it)" if vouched else ""))
        if model.model_digest.lower() != policy.expect_model:
            problems.append(f"expect_model: the receipt's model is {model.model_digest}, the policy pins {policy.expect_model}")
    if not cryptographic:
        if vouched and (policy.expect_vk or policy.expect_model):
            pinned.append("circuit settings (scales, shapes), as the pinned signer states them")
        elif policy.expect_vk:
            unpinned.append("circuit settings (--expect-vk pins the key alone: the outputs' scale and shape are the receipt's word; pin --expect-circuit or --model)")
        elif policy.expect_model:
            unpinned.append("circuit (--expect-model compares only the digest the receipt states; pin --expect-circuit, --model or the signer)")
        else:
            unpinned.append("circuit (--expect-circuit / --model)")
    weights = receipt.params
    if policy.expect_params_commitment is not None:
        pinned.append("weights commitment")
        if weights.visibility != "hashed":
            problems.append("expect_params_commitment: the policy pins a weights commitment, but this receipt's weights are fixed in the circuit, not committed")
        elif [c.lower() for c in weights.commitment or []] != policy.expect_params_commitment:
            problems.append(f"expect_params_commitment: the weights commitment is {weights.commitment}, the policy pins {policy.expect_params_commitment} (different weights)")
    elif weights.visibility == "hashed" and not model_rebuilt:
        unpinned.append("weights (hashed: the verifying key does not fix them; pin --expect-params-commitment)")
        if policy.strict:
            problems.append("expect_params_commitment: the weights are hashed, so the verifying key alone does not fix them; a strict policy needs the weights commitment the model owner publishes")
    if policy.trusted_srs:
        pinned.append("SRS ceremony")
        if receipt.srs.fingerprint.lower() not in policy.trusted_srs:
            problems.append(f"trusted_srs: SRS ceremony {receipt.srs.fingerprint} is not among the trusted ones ({', '.join(policy.trusted_srs)})")
    else:
        unpinned.append("SRS ceremony (--trusted-srs)")
    if receipt.srs.development and not policy.allow_development_srs:  # the node's own admission; `false` is never evidence
        problems.append(
            f"development SRS: the receipt was made with a development SRS {receipt.srs.fingerprint} (whoever made it knows tau and could forge proofs); "
            "a strict policy needs a ceremony SRS: prove with one imported by `zkinfer srs import`"
        )
    return problems, pinned, unpinned


def _check_identity(receipt: Receipt, policy: Policy, model_rebuilt: bool) -> str:
    problems, pinned, unpinned = _identity_status(receipt, policy, model_rebuilt)
    if problems:
        raise _Failed("; ".join(problems))
    if not pinned:
        return f"unpinned: any circuit would pass ({'; '.join(unpinned)})"
    if unpinned:
        return f"partly pinned: {', '.join(pinned)} as pinned; not pinned: {', '.join(unpinned)}"
    return f"pinned: {', '.join(pinned)} match the policy"


def _check_signature(receipt: Receipt, policy: Policy, check: bool) -> str:
    signature = receipt.signature
    if signature is None:
        if policy.expect_signer:
            raise _Failed(f"expect_signer: the receipt is unsigned but the policy expects signer {policy.expect_signer}")
        return "unsigned: no node signature (who served this answer is not attested)"
    if policy.expect_signer and signature.public_key.lower().removeprefix("0x") != policy.expect_signer:
        raise _Failed(f"expect_signer: signed by {signature.public_key}, but the policy expects {policy.expect_signer}")
    if not check and not policy.expect_signer:  # a pinned signer is always checked
        raise _Skipped("not run (signature check disabled)")
    detail = identity.check_receipt_signature(receipt)
    return detail + (" (the pinned signer)" if policy.expect_signer else " (signer unpinned)")


def verify_receipt(
    receipt: Receipt,
    policy: Policy | None = None,
    source: str = "receipt",
    *,
    given_input: list[np.ndarray] | None = None,
    check_signature: bool = True,
) -> Verdict:
    """Run every check on a parsed receipt.

    `given_input`: the auditor's own copy of the input (one flat array per input tensor); adds the
    `input` check. `policy.model_file` (the auditor's own copy of the ONNX model) adds the `model`
    check: a compile and key setup, seconds to minutes, with the SRS ceremony's full file cached.
    `check_signature=False` skips the (pure-Python, ~0.3 s) BLS pairing unless the
    policy pins a signer.
    """
    policy = policy or Policy()
    # The proof check waits on ezkl in the worker process; the other checks run meanwhile, so a
    # verify costs about one ezkl.verify rather than ezkl.verify plus zkinfer's own checks.
    # The proof is handed to the worker first, with no other Python work competing for the GIL.
    proof: list[Check] = []
    sent = threading.Event()

    def check_proof() -> None:
        try:
            _run("proof", proof, lambda: _check_proof(receipt, on_sent=sent.set))
        finally:
            sent.set()  # also when the check failed before reaching ezkl

    proving = threading.Thread(target=check_proof, name="zkinfer-verify-proof", daemon=True)
    proving.start()
    sent.wait()
    checks = [Check(name="well-formed", status="pass", detail=f"schema {receipt.schema_version}, all fields present and typed")]
    _run("verifying-key", checks, lambda: _check_vk(receipt))
    _run("settings", checks, lambda: _check_settings(receipt))
    _run("srs", checks, lambda: _check_srs(receipt))
    bound: list[Check] = []
    _run("binding", bound, lambda: _check_binding(receipt))
    _run("fast", bound, lambda: _check_fast(receipt, policy))
    if given_input is not None:
        _run(INPUT_CHECK, bound, lambda: _check_input(receipt, given_input))
    signature: list[Check] = []
    _run("signature", signature, lambda: _check_signature(receipt, policy, check_signature))
    proving.join()
    rebuild: list[Check] = []
    model_file = policy.model_file
    if model_file is not None:
        # A rebuild is a compile and a key setup (seconds to minutes): only for a receipt that is
        # otherwise sound, so a hostile one cannot make the auditor pay for it.
        unsound = [c.name for c in (*checks, *proof, *bound[:1]) if c.status == "fail"]
        if unsound:
            rebuild.append(Check(name=MODEL_CHECK, status="skip", detail=f"not run: {', '.join(unsound)} already failed, so no model can make this receipt valid"))
        else:
            _run(MODEL_CHECK, rebuild, lambda: _check_model(receipt, Path(model_file)))
    model_rebuilt = bool(rebuild) and rebuild[0].status == "pass"
    identity_check: list[Check] = []
    _run("identity", identity_check, lambda: _check_identity(receipt, policy, model_rebuilt))
    _, pinned, unpinned = _identity_status(receipt, policy, model_rebuilt)
    return _verdict([*checks, *proof, *bound, *rebuild, *identity_check, *signature], unpinned, source, vouched=any("pinned signer" in p for p in pinned))


def _verdict(checks: list[Check], unpinned: list[str], source: str, vouched: bool = False) -> Verdict:
    failed = [c.name for c in checks if c.status == "fail"]
    verified = not failed
    if not verified:
        summary = f"NOT VERIFIED: {', '.join(failed)} failed"
    elif not unpinned:
        basis = "the circuit as the pinned signer states it" if vouched else "the pinned circuit"
        summary = f"VERIFIED: valid proof, bound to the stated input and output, from {basis} and the trusted SRS"
    else:
        summary = (
            "VERIFIED (identity unpinned): the proof is valid and bound to the stated input and output, but "
            f"{'; '.join(unpinned)} {'is' if len(unpinned) == 1 else 'are'} not pinned"
        )
    return Verdict(verified=verified, identity_pinned=verified and not unpinned, summary=summary, checks=checks, source=source)


def verify_document(
    document: Any,
    policy: Policy | None = None,
    source: str = "receipt",
    *,
    given_input: list[np.ndarray] | None = None,
    check_signature: bool = True,
) -> Verdict:
    """Verify a parsed JSON document: a malformed one fails the well-formed check (exit 1)."""
    try:
        receipt = parse(document, source)
    except ReceiptFormatError as exc:
        checks = [Check(name="well-formed", status="fail", detail=str(exc))]
        optional = [*([INPUT_CHECK] if given_input is not None else []), *([MODEL_CHECK] if policy is not None and policy.model_file else [])]
        names = [*CHECK_NAMES[1:7], *optional, *CHECK_NAMES[7:]]
        checks += [Check(name=n, status="skip", detail="not run: the receipt is malformed") for n in names]
        return _verdict(checks, [], source)
    return verify_receipt(receipt, policy, source, given_input=given_input, check_signature=check_signature)


def verify_file(path: Path, policy: Policy | None = None, *, input_path: Path | None = None, check_signature: bool = True, max_receipt_bytes: int | None = None) -> Verdict:
    """Verify a receipt file; an unreadable receipt (or one over `max_receipt_bytes`), input or
    pinned model file raises a ZkinferError (exit 2)."""
    document = read_document(path, max_receipt_bytes)
    given = inputs.load_flat(input_path) if input_path is not None else None
    if policy is not None and policy.model_file:
        from zkinfer import onnx_model

        onnx_model.load(Path(policy.model_file))  # ModelError naming the file when it is missing or not ONNX
    return verify_document(document, policy, str(path), given_input=given, check_signature=check_signature)
