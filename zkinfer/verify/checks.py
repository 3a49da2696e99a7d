"""The checks a verdict reports, one function per check: each returns its reason when it passes
and raises `CheckFailed` (or `CheckSkipped`) with the reason when not.

ezkl.verify only checks a proof against the instances stored beside it; it neither knows what the
receipt *claims* nor which model the key belongs to. The `binding` check closes the first gap
(the proof's public instances must be exactly the stated input, or its commitment, and output)
and the policy's rules close the second (`zkinfer.verify.policy`). A verifier must give a
verdict, never a traceback: every field is checked before it reaches ezkl, which panics on
malformed field elements.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zkinfer.core import ezkl_adapter as _ezkl
from zkinfer.core import identity, srs
from zkinfer.core.digest import circuit_digest, digest_bytes, digest_json
from zkinfer.core.ezkl_views import Settings
from zkinfer.core.receipt import InputSection, Receipt, TensorData
from zkinfer.core.split_receipt import AnyReceipt
from zkinfer.verify.policy import Policy

FLOAT_TOLERANCE = 1e-9
MAX_SCALE = 64
# ezkl.verify reads files: write them to memory (tmpfs) where there is one, a millisecond less per verify.
_SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK | os.X_OK) else None


class CheckFailed(Exception):
    """A check's failure reason (turned into a failed Check by the verifier)."""


class CheckSkipped(Exception):
    """A check deliberately not run (turned into a skipped Check by the verifier)."""


def _settings(receipt: Receipt) -> Settings:
    return Settings(receipt.model.settings, "model.settings")


def check_vk(receipt: Receipt) -> str:
    vk = receipt.model.verifying_key
    actual = digest_bytes(vk)
    if actual != receipt.model.vk_digest:
        raise CheckFailed(f"embedded verifying key hashes to {actual}, receipt states {receipt.model.vk_digest}")
    return f"embedded key ({len(vk)} bytes) matches {receipt.model.vk_digest}"


def check_settings(receipt: Receipt) -> str:
    actual = digest_json(receipt.model.settings)
    if actual != receipt.model.settings_digest:
        raise CheckFailed(f"embedded settings hash to {actual}, receipt states {receipt.model.settings_digest}")
    settings = _settings(receipt)
    if settings.logrows != receipt.srs.k:
        raise CheckFailed(f"settings say k={settings.logrows} but srs.k={receipt.srs.k}")
    circuit = {part: settings.visibility(key) for part, key in (("input", "input"), ("params", "param"), ("output", "output"))}
    if circuit["params"] == "private":
        raise CheckFailed(
            "the circuit's weights are private (param_visibility Private): they are unconstrained witnesses, so any weights "
            "would pass as this model; a receipt for a model needs fixed or hashed weights"
        )
    stated = {"input": receipt.input.visibility, "params": receipt.params.visibility, "output": receipt.output.visibility}
    wrong = [f"{part} is {circuit[part]} in the circuit settings but {stated[part]} in the receipt" for part in stated if circuit[part] != stated[part]]
    if wrong:
        raise CheckFailed("visibility mismatch: " + "; ".join(wrong))
    return f"embedded settings match {receipt.model.settings_digest} (input {circuit['input']}, weights {circuit['params']}, output {circuit['output']})"


def check_srs(receipt: Receipt) -> str:
    fingerprint = srs.parse_reduced(receipt.srs.reduced, "field srs.reduced")
    if fingerprint != receipt.srs.fingerprint:
        raise CheckFailed(f"embedded SRS has fingerprint {fingerprint}, receipt states {receipt.srs.fingerprint}")
    kind = "admits it is a development SRS (its maker could forge proofs)" if receipt.srs.development else "calls it a ceremony SRS, which is only its word: your --trusted-srs list decides"
    return f"embedded reduced SRS is from ceremony {fingerprint}; the receipt {kind}"


def check_felts(felts: list[str], field: str) -> None:
    for j, felt in enumerate(felts):
        if not _ezkl.is_felt(felt):
            raise CheckFailed(f"field {field}[{j}] = {felt[:80]!r} is not a field element (64 hex digits, little-endian, below the BN254 modulus)")


def bounded_settings(receipt: Receipt) -> tuple[int, int]:
    """(logrows, num_inner_cols) once they are within what ezkl can be handed: it sizes its
    domain and allocates per column from them (0 columns divides by zero, 128 ran a rebuild
    for ten minutes and 12 GB). Checked before any ezkl work on the receipt's settings."""
    settings = _settings(receipt)
    return settings.logrows, settings.num_inner_cols


def check_proof(receipt: Receipt, on_sent: Callable[[], None] = lambda: None) -> str:
    proof_bytes = receipt.proof.hex
    bounded_settings(receipt)
    stated = sum(len(column) for column in receipt.proof.instances)
    implied = _statement_size(receipt)
    if stated != implied:  # before any per-element work: a hostile receipt may list millions
        raise CheckFailed(f"the proof lists {stated} public instances, the circuit settings' shapes and visibilities imply {implied}")
    verify_proof(proof_bytes, receipt.proof.instances, receipt.model.settings, receipt.model.verifying_key, receipt.srs.reduced, on_sent)
    return f"halo2/KZG proof ({len(proof_bytes)} bytes) verifies with the embedded key"


def verify_proof(
    proof_bytes: bytes, instances: list[list[str]], settings: dict[str, object], vk: bytes, reduced_srs: bytes,
    on_sent: Callable[[], None] = lambda: None, field: str = "proof",
) -> None:
    """ezkl.verify in the isolated worker on one proof, its instances (checked to be field elements
    first: ezkl panics on others), settings, key and reduced SRS; raises CheckFailed when it fails."""
    for i, column in enumerate(instances):
        check_felts(column, f"{field}.instances[{i}]")
    with tempfile.TemporaryDirectory(prefix="zkinfer-verify-", dir=_SCRATCH) as tmp:
        folder = Path(tmp)
        _ezkl.write_proof_file(folder / "proof.json", proof_bytes, instances)
        (folder / "settings.json").write_text(json.dumps(settings))
        (folder / "vk").write_bytes(vk)
        (folder / "srs").write_bytes(reduced_srs)
        ok, reason = _ezkl.verify(folder / "proof.json", folder / "settings.json", folder / "vk", folder / "srs", reduced_srs=True, on_sent=on_sent)
    if not ok:
        raise CheckFailed(f"the {field} does not verify with the embedded key: {reason}")


def _instance_shapes(receipt: Receipt) -> tuple[list[list[int]], list[list[int]]]:
    """(public input shapes, output shapes) as the circuit settings give them
    (`model_instance_shapes`: the public inputs' — none when the input is hashed — then the
    outputs'), checked to be shapes."""
    settings = _settings(receipt)
    shapes = settings.instance_shapes
    inputs_n = len(receipt.input.scales) if settings.visibility("input") == "public" else 0
    outputs_n = len(receipt.output.scales)
    if len(shapes) != inputs_n + outputs_n:
        raise CheckFailed(f"field model.settings.model_instance_shapes is not a list of {inputs_n} public input and {outputs_n} output shape(s)")
    return shapes[:inputs_n], shapes[inputs_n:]


def _statement_size(receipt: Receipt) -> int:
    """How many public instances the circuit's settings imply, computed from the shapes alone
    (no per-element work): one commitment per hashed input tensor, then the weights' commitments,
    then every public input value, then every output value."""
    settings = _settings(receipt)
    input_shapes, output_shapes = _instance_shapes(receipt)
    size = sum(math.prod(shape) for shape in (*input_shapes, *output_shapes))
    if settings.visibility("input") == "hashed":
        size += len(receipt.input.scales)
    if settings.visibility("param") == "hashed":
        size += len(receipt.params.commitment or [])
    return size


def check_shape(tensor: TensorData, field: str) -> None:
    if any(d < 0 for d in tensor.shape) or math.prod(tensor.shape) != len(tensor.values):
        raise CheckFailed(f"field {field}: shape {tensor.shape} does not hold its {len(tensor.values)} values")


def scale_of(scale: int, field: str) -> int:
    if not 0 <= scale <= MAX_SCALE:
        raise CheckFailed(f"field {field} = {scale} is not a fixed-point scale (0..{MAX_SCALE})")
    return scale


def _quantize(values: list[float], scale: int, field: str) -> list[str]:
    bad = [j for j, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        raise CheckFailed(f"field {field}[{bad[0]}] is {values[bad[0]]}, not a finite number")
    return [_ezkl.float_to_felt(v, scale) for v in values]


def expected_instances(receipt: Receipt) -> list[tuple[str, str]]:
    """(label, felt) for each public instance the receipt's statement implies, in ezkl's order:
    first the Poseidon commitments (the input's, one per input tensor; then the weights'), then
    the public input values, then the outputs. (Checked against real ezkl 23 proofs.)"""
    stated_input = input_instances(receipt.input)
    expected = [item for item in stated_input if item[0].startswith("input commitment")]
    if receipt.params.visibility == "hashed":
        if not receipt.params.commitment:
            raise CheckFailed("field params.commitment is missing but params.visibility is hashed")
        expected.extend((f"weights commitment[{j}]", c) for j, c in enumerate(receipt.params.commitment))
    expected.extend(item for item in stated_input if not item[0].startswith("input commitment"))
    for i, felts in enumerate(receipt.output.felts):
        expected.extend((f"output[{i}][{j}]", f) for j, f in enumerate(felts))
    return expected


def input_instances(section: InputSection) -> list[tuple[str, str]]:
    """(label, felt) for the public instances the stated input implies: one commitment per input
    tensor when hashed, else every value quantized at its stated scale."""
    expected: list[tuple[str, str]] = []
    if section.visibility == "hashed":
        if not section.commitment:
            raise CheckFailed("field input.commitment is missing but input.visibility is hashed")
        if len(section.commitment) != len(section.scales):
            raise CheckFailed(f"field input.commitment holds {len(section.commitment)} hashes for {len(section.scales)} input(s): ezkl commits to each input tensor with one hash")
        expected.extend((f"input commitment[{j}]", c) for j, c in enumerate(section.commitment))
    if section.visibility == "public":
        if section.tensors is None:
            raise CheckFailed("field input.tensors is missing but input.visibility is public")
        if len(section.tensors) != len(section.scales):
            raise CheckFailed(f"field input.tensors holds {len(section.tensors)} tensors for {len(section.scales)} input scales")
        for i, (tensor, scale) in enumerate(zip(section.tensors, section.scales, strict=True)):
            check_shape(tensor, f"input.tensors[{i}]")
            felts = _quantize(tensor.values, scale_of(scale, f"input.scales[{i}]"), f"input.tensors[{i}].values")
            expected.extend((f"input[{i}][{j}]={v}", f) for j, (v, f) in enumerate(zip(tensor.values, felts, strict=True)))
    return expected


def check_output_values(receipt: AnyReceipt) -> None:
    out = receipt.output
    if not (len(out.tensors) == len(out.felts) == len(out.scales)):
        raise CheckFailed("output.tensors, output.felts and output.scales differ in length")
    for i, (tensor, felts, scale) in enumerate(zip(out.tensors, out.felts, out.scales, strict=True)):
        check_felts(felts, f"output.felts[{i}]")
        check_shape(tensor, f"output.tensors[{i}]")
        scale_of(scale, f"output.scales[{i}]")
        if len(tensor.values) != len(felts):
            raise CheckFailed(f"output[{i}] states {len(tensor.values)} values for {len(felts)} proven field elements")
        for j, (value, felt) in enumerate(zip(tensor.values, felts, strict=True)):
            proven = _ezkl.felt_to_float(felt, scale)
            if not abs(proven - value) <= FLOAT_TOLERANCE * max(1.0, abs(proven)):  # `not <=` so NaN fails
                raise CheckFailed(f"output[{i}][{j}]: receipt states {value} but the proof attests {proven}")


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
            raise CheckFailed(f"field {part}.tensors holds {len(tensors)} tensors, the circuit settings have {len(shapes)}")
        for i, (tensor, shape) in enumerate(zip(tensors, shapes, strict=True)):
            if tensor.shape != shape:
                raise CheckFailed(f"field {part}.tensors[{i}].shape is {tensor.shape}, the circuit settings (model_instance_shapes) give {shape}")
            check_shape(tensor, f"{part}.tensors[{i}]")
    for i, felts in enumerate(receipt.output.felts):
        if i < len(output_shapes) and len(felts) != math.prod(output_shapes[i]):
            raise CheckFailed(f"field output.felts[{i}] holds {len(felts)} field elements for shape {output_shapes[i]}")


def check_binding(receipt: Receipt) -> str:
    settings = _settings(receipt)
    settings_scales = {"input": settings.input_scales, "output": settings.output_scales}
    if receipt.input.scales != settings_scales["input"] or receipt.output.scales != settings_scales["output"]:
        raise CheckFailed(f"stated scales (input {receipt.input.scales}, output {receipt.output.scales}) differ from the circuit settings {str(settings_scales)[:200]}")
    _check_stated_shapes(receipt)
    actual_count, implied = sum(len(column) for column in receipt.proof.instances), _statement_size(receipt)
    if actual_count != implied:
        raise CheckFailed(f"the proof has {actual_count} public instances, the receipt's statement implies {implied}")
    for field, commitment in (("input.commitment", receipt.input.commitment), ("params.commitment", receipt.params.commitment)):
        check_felts(commitment or [], field)
    check_output_values(receipt)
    expected = expected_instances(receipt)
    actual = [felt for column in receipt.proof.instances for felt in column]
    if len(actual) != len(expected):
        raise CheckFailed(f"the proof has {len(actual)} public instances, the receipt's statement implies {len(expected)}")
    for position, ((label, want), got) in enumerate(zip(expected, actual, strict=True)):
        if want.lower() != got.lower():
            raise CheckFailed(f"public instance {position} ({label}) is {got} in the proof, but the receipt's statement gives {want}")
    what = "the stated input" if receipt.input.visibility == "public" else "the input's commitment"
    weights = ", the weights' commitment" if receipt.params.visibility == "hashed" else ""
    return f"all {len(actual)} public instances equal {what}{weights} and the stated output"


def check_fast(receipt: AnyReceipt, policy: Policy) -> str:
    """The fast answer (what the client received at once) against the proven output: the stated
    deviation must be the true one, and within the policy's bound when it sets one. The proof
    attests the proven output only; this check is what ties the fast answer to it."""
    fast, proven = receipt.fast, receipt.output
    if len(fast.tensors) != len(proven.tensors):
        raise CheckFailed(f"the fast answer has {len(fast.tensors)} tensors, the proven output {len(proven.tensors)}")
    deviation = 0.0
    for i, (answer, output) in enumerate(zip(fast.tensors, proven.tensors, strict=True)):
        if answer.name != output.name or answer.shape != output.shape or len(answer.values) != len(output.values):
            raise CheckFailed(f"fast.tensors[{i}] ({answer.name!r}, shape {answer.shape}) is not shaped as the proven output[{i}] ({output.name!r}, shape {output.shape})")
        deviation = max(deviation, max((abs(a - b) for a, b in zip(answer.values, output.values, strict=True)), default=0.0))
    if not math.isclose(deviation, fast.max_abs_deviation, rel_tol=1e-9, abs_tol=1e-12):
        raise CheckFailed(f"field fast.max_abs_deviation states {fast.max_abs_deviation:.6g}, but the fast answer differs from the proven output by {deviation:.6g}")
    if policy.max_fast_deviation is not None and deviation > policy.max_fast_deviation:
        raise CheckFailed(f"max_fast_deviation: the fast answer differs from the proven output by {deviation:.6g}, over the policy's {policy.max_fast_deviation:g}")
    bound = f" (the policy allows {policy.max_fast_deviation:g})" if policy.max_fast_deviation is not None else ""
    return f"the fast answer ({fast.provider}) is within {deviation:.3g} of the proven output, as stated{bound}"


def check_input(receipt: AnyReceipt, given: list[np.ndarray]) -> str:
    """The auditor's own copy of the input is the one the proof is about (after quantization)."""
    section = receipt.input
    if len(given) != len(section.scales):
        raise CheckFailed(f"the receipt's model takes {len(section.scales)} input(s), the given input file has {len(given)}")
    felts = [_quantize([float(v) for v in array], scale_of(scale, f"input.scales[{i}]"), f"given input[{i}]") for i, (array, scale) in enumerate(zip(given, section.scales, strict=True))]
    if section.visibility == "hashed":
        stated = section.commitment or []
        for i, tensor_felts in enumerate(felts):
            mine = _ezkl.commit_tensor(tensor_felts)
            theirs = stated[i] if i < len(stated) else None
            if theirs is None or mine.lower() != theirs.lower():
                raise CheckFailed(f"input[{i}]: the given values' Poseidon commitment is {mine}, the receipt states {theirs}: the proof is about a different input")
        return f"the given input's Poseidon commitment equals the receipt's ({len(felts)} tensor(s)): the proof is about this input"
    for i, tensor_felts in enumerate(felts):
        tensors = section.tensors or []
        if i >= len(tensors) or len(tensors[i].values) != len(tensor_felts):
            raise CheckFailed(f"input[{i}]: the given input has {len(tensor_felts)} values, the receipt states {len(tensors[i].values) if i < len(tensors) else 'none'}")
        stated_felts = _quantize(tensors[i].values, section.scales[i], f"input.tensors[{i}].values")
        for j, (mine, theirs) in enumerate(zip(tensor_felts, stated_felts, strict=True)):
            if mine != theirs:
                raise CheckFailed(f"input[{i}][{j}]: the given value {float(given[i][j])} differs from the receipt's {tensors[i].values[j]} (at scale {section.scales[i]})")
    return f"the given input equals the receipt's stated input ({sum(len(f) for f in felts)} values, after quantization)"


def check_model(receipt: Receipt, model: Path) -> str:
    """The auditor's own copy of the model is the one the proof is about: compiled with the
    receipt's run args and set up with its SRS ceremony, it gives the embedded verifying key
    (and, for hashed weights, the stated weights commitment), and ezkl derives from it the same
    settings that decode the proof's field elements (scales, shapes): the key alone does not fix
    those, so a node could otherwise restate the output at another scale."""
    from zkinfer.verify import reproduce  # onnx and a setup: only when asked for

    logrows, columns = bounded_settings(receipt)
    hashed = receipt.params.visibility == "hashed"
    rebuilt = reproduce.rebuild(model, receipt.model.settings, receipt.srs.fingerprint, hashed_params=hashed, logrows=logrows, columns=columns)
    if rebuilt.vk != receipt.model.verifying_key:
        raise CheckFailed(f"{model} compiles, under the receipt's settings and SRS, to verifying key {digest_bytes(rebuilt.vk)}, not the receipt's {receipt.model.vk_digest}: the proof is not about this model")
    for key, derived in rebuilt.decoding.items():
        if receipt.model.settings.get(key) != derived:
            raise CheckFailed(f"{model} under the receipt's run args has {key} {derived}, the receipt's settings state {str(receipt.model.settings.get(key))[:80]}: the receipt misstates how to read the proof")
    if hashed and [c.lower() for c in rebuilt.params_commitment or []] != [c.lower() for c in receipt.params.commitment or []]:
        raise CheckFailed(f"{model}'s weights commit to {rebuilt.params_commitment}, the receipt states {receipt.params.commitment}: the proof is about other weights")
    what = "verifying key, settings and weights commitment" if hashed else "verifying key and settings"
    note = "" if rebuilt.model_digest == receipt.model.model_digest else f" (its bytes differ from the stated model {receipt.model.model_digest}: same circuit and weights, another file)"
    return f"{model} ({rebuilt.model_digest}) rebuilds the receipt's {what}: the proof is about this model{note}"


def actual_circuit_digest(receipt: Receipt) -> str:
    return circuit_digest(digest_bytes(receipt.model.verifying_key), receipt.model.settings)


def check_signature(receipt: AnyReceipt, policy: Policy, check: bool) -> str:
    signature = receipt.signature
    if signature is None:
        if policy.expect_signer:
            raise CheckFailed(f"expect_signer: the receipt is unsigned but the policy expects signer {policy.expect_signer}")
        return "unsigned: no node signature (who served this answer is not attested)"
    if policy.expect_signer and signature.public_key.lower().removeprefix("0x") != policy.expect_signer:
        raise CheckFailed(f"expect_signer: signed by {signature.public_key}, but the policy expects {policy.expect_signer}")
    if not check and not policy.expect_signer:  # a pinned signer is always checked
        raise CheckSkipped("not run (signature check disabled)")
    detail = identity.check_receipt_signature(receipt)
    return detail + (" (the pinned signer)" if policy.expect_signer else " (signer unpinned)")


