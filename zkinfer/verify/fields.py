"""What every receipt's checks share: the check outcomes, field-element and shape checks, one
proof through ezkl, and the checks of the statement's parts (the stated input, output and fast
answer, the auditor's own input, the signature), whatever chain of segments proved them.

A verifier must give a verdict, never a traceback: every field is checked before it reaches ezkl,
which panics on malformed field elements.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from zkinfer.core.crypto import identity
from zkinfer.core.formats.receipt import InputSection, TensorData
from zkinfer.core.formats.split_receipt import AnyReceipt
from zkinfer.core.support import scratch
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.core.zkp.instance_layout import MAX_SCALE, InstanceLayout, instance_shape, is_scale
from zkinfer.verify.policy import Policy

if TYPE_CHECKING:  # numpy only for the hints (see verifier)
    import numpy as np

FLOAT_TOLERANCE = 1e-9


class CheckFailed(Exception):
    """A check's failure reason (turned into a failed Check by the verifier)."""


class CheckSkipped(Exception):
    """A check deliberately not run (turned into a skipped Check by the verifier)."""


class CheckUnsigned(Exception):
    """The signature check found no signature and none was required: nothing failed, nothing was
    established (an UNSIGNED Check, not a PASS)."""


def check_felts(felts: list[str], field: str) -> None:
    for j, felt in enumerate(felts):
        if not _ezkl.is_felt(felt):
            raise CheckFailed(
                f"field {field}[{j}] = {felt[:80]!r} is not a field element (64 hex digits, little-endian, below the "
                "BN254 modulus)"
            )


def verify_proof(
    proof_bytes: bytes,
    instances: list[list[str]],
    settings: dict[str, object],
    vk: bytes,
    reduced_srs: bytes,
    on_sent: Callable[[], None] = lambda: None,
    field: str = "proof",
) -> None:
    """ezkl.verify in the isolated worker on one proof, its instances (checked to be field elements
    first: ezkl panics on others), settings, key and reduced SRS; raises CheckFailed when it fails."""
    for i, column in enumerate(instances):
        check_felts(column, f"{field}.instances[{i}]")
    with scratch.files("proof.json", "settings.json", "vk", "srs") as (proof, settings_file, vk_file, srs_file):
        _ezkl.write_proof_file(proof, proof_bytes, instances)
        settings_file.write_text(json.dumps(settings))
        vk_file.write_bytes(vk)
        srs_file.write_bytes(reduced_srs)
        ok, reason = _ezkl.verify(proof, settings_file, vk_file, srs_file, reduced_srs=True, on_sent=on_sent)
    if not ok:
        raise CheckFailed(f"the {field} does not verify with the embedded key: {reason}")


def check_shape(tensor: TensorData, field: str) -> None:
    if any(d < 0 for d in tensor.shape) or math.prod(tensor.shape) != len(tensor.values):
        raise CheckFailed(f"field {field}: shape {tensor.shape} does not hold its {len(tensor.values)} values")


def scale_of(scale: int, field: str) -> int:
    """`scale` once it is one a circuit may have (ezkl's may be negative: `core.instance_layout`)."""
    if not is_scale(scale):
        raise CheckFailed(f"field {field} = {scale} is not a fixed-point scale (-{MAX_SCALE}..{MAX_SCALE})")
    return scale


def check_instance_shape(tensor: TensorData, shape: tuple[int, ...], field: str) -> None:
    """The stated tensor has the shape the circuit settings give it (a scalar's is listed as [1])."""
    if instance_shape(tensor.shape) != shape:
        raise CheckFailed(
            f"field {field}.shape is {tensor.shape}, the circuit settings (model_instance_shapes) give {list(shape)}"
        )


def quantize(values: list[float], scale: int, field: str) -> list[str]:
    bad = [j for j, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        raise CheckFailed(f"field {field}[{bad[0]}] is {values[bad[0]]}, not a finite number")
    return [_ezkl.float_to_felt(v, scale) for v in values]


def stated_input(section: InputSection, layout: InstanceLayout) -> tuple[list[str] | None, list[list[str]] | None]:
    """(commitment felts, value felts per tensor) of the stated input, checked against the layout
    the circuit's settings give: a hashed input states its commitments and no values, a public one
    its values (quantized here) and no commitment. A stray field fails naming it: no proof covers it."""
    if section.visibility != layout.input_visibility:
        raise CheckFailed(
            f"field input.visibility is {section.visibility}, the circuit's input is {layout.input_visibility}"
        )
    if layout.input_visibility == "hashed":
        if section.tensors is not None:
            raise CheckFailed(
                "field input.tensors is stated, but the circuit's input is hashed: its values are no public "
                "instance, so no proof covers them (remove the field)"
            )
        if not section.commitment or len(section.commitment) != layout.n_input_commitments:
            raise CheckFailed(
                f"field input.commitment holds {len(section.commitment or [])} hash(es) for "
                f"{layout.n_input_commitments} input tensor(s): ezkl commits to each input tensor with one hash"
            )
        check_felts(section.commitment, "input.commitment")
        return [c.lower() for c in section.commitment], None
    if section.commitment is not None:
        raise CheckFailed(
            "field input.commitment is stated, but the circuit's input is public: it has no commitment, and no "
            "proof covers it (remove the field)"
        )
    if section.tensors is None:
        raise CheckFailed("field input.tensors is missing but the circuit's input is public")
    if len(section.tensors) != len(layout.input_shapes) or len(section.scales) != len(section.tensors):
        raise CheckFailed(
            f"field input.tensors holds {len(section.tensors)} tensors ({len(section.scales)} scales), the circuit "
            f"settings have {len(layout.input_shapes)}"
        )
    values = []
    for i, (tensor, scale, shape) in enumerate(zip(section.tensors, section.scales, layout.input_shapes, strict=True)):
        check_instance_shape(tensor, shape, f"input.tensors[{i}]")
        check_shape(tensor, f"input.tensors[{i}]")
        values.append(quantize(tensor.values, scale_of(scale, f"input.scales[{i}]"), f"input.tensors[{i}].values"))
    return None, values


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
            raise CheckFailed(
                f"fast.tensors[{i}] ({answer.name!r}, shape {answer.shape}) is not shaped as the proven output[{i}] "
                f"({output.name!r}, shape {output.shape})"
            )
        deviation = max(
            deviation, max((abs(a - b) for a, b in zip(answer.values, output.values, strict=True)), default=0.0)
        )
    if not math.isclose(deviation, fast.max_abs_deviation, rel_tol=1e-9, abs_tol=1e-12):
        raise CheckFailed(
            f"field fast.max_abs_deviation states {fast.max_abs_deviation:.6g}, but the fast answer differs from the "
            f"proven output by {deviation:.6g}"
        )
    if policy.max_fast_deviation is not None and deviation > policy.max_fast_deviation:
        raise CheckFailed(
            f"max_fast_deviation: the fast answer differs from the proven output by {deviation:.6g}, over the "
            f"policy's {policy.max_fast_deviation:g}"
        )
    bound = f" (the policy allows {policy.max_fast_deviation:g})" if policy.max_fast_deviation is not None else ""
    return f"the fast answer ({fast.provider}) is within {deviation:.3g} of the proven output, as stated{bound}"


def check_input(receipt: AnyReceipt, given: list[np.ndarray]) -> str:
    """The auditor's own copy of the input is the one the proof is about (after quantization)."""
    section = receipt.input
    if len(given) != len(section.scales):
        raise CheckFailed(
            f"the receipt's model takes {len(section.scales)} input(s), the given input file has {len(given)}"
        )
    felts = [
        quantize([float(v) for v in array], scale_of(scale, f"input.scales[{i}]"), f"given input[{i}]")
        for i, (array, scale) in enumerate(zip(given, section.scales, strict=True))
    ]
    if section.visibility == "hashed":
        stated = section.commitment or []
        for i, tensor_felts in enumerate(felts):
            mine = _ezkl.commit_tensor(tensor_felts)
            theirs = stated[i] if i < len(stated) else None
            if theirs is None or mine.lower() != theirs.lower():
                raise CheckFailed(
                    f"input[{i}]: the given values' Poseidon commitment is {mine}, the receipt states {theirs}: the "
                    "proof is about a different input"
                )
        return (
            f"the given input's Poseidon commitment equals the receipt's ({len(felts)} tensor(s)): the proof is "
            "about this input"
        )
    for i, tensor_felts in enumerate(felts):
        tensors = section.tensors or []
        if i >= len(tensors) or len(tensors[i].values) != len(tensor_felts):
            raise CheckFailed(
                f"input[{i}]: the given input has {len(tensor_felts)} values, the receipt states "
                f"{len(tensors[i].values) if i < len(tensors) else 'none'}"
            )
        stated_felts = quantize(tensors[i].values, section.scales[i], f"input.tensors[{i}].values")
        for j, (mine, theirs) in enumerate(zip(tensor_felts, stated_felts, strict=True)):
            if mine != theirs:
                raise CheckFailed(
                    f"input[{i}][{j}]: the given value {float(given[i][j])} differs from the receipt's "
                    f"{tensors[i].values[j]} (at scale {section.scales[i]})"
                )
    return (
        f"the given input equals the receipt's stated input ({sum(len(f) for f in felts)} values, after quantization)"
    )


def check_signature(receipt: AnyReceipt, policy: Policy, check: bool) -> str:
    signature = receipt.signature
    if signature is None:
        if policy.expect_signer:
            raise CheckFailed(
                f"expect_signer: the receipt is unsigned but the policy expects signer {policy.expect_signer}"
            )
        raise CheckUnsigned("unsigned: no node signature (who served this answer is not attested)")
    if policy.expect_signer and signature.public_key.lower().removeprefix("0x") != policy.expect_signer:
        raise CheckFailed(
            f"expect_signer: signed by {signature.public_key}, but the policy expects {policy.expect_signer}"
        )
    if not check and not policy.expect_signer:  # a pinned signer is always checked
        raise CheckSkipped("not run (signature check disabled)")
    detail = identity.check_receipt_signature(receipt)
    return detail + (" (the pinned signer)" if policy.expect_signer else " (signer unpinned)")
