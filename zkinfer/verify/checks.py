"""The checks a verdict reports, one function per check, for any receipt: a chain of segments, each
a circuit with its key, settings, SRS and proof (a /1 receipt is a chain of one; a split /2 receipt
links several, `zkinfer.verify.links`). Each returns its reason when it passes and raises
`CheckFailed` (or `CheckSkipped`) with the reason when not.

ezkl.verify only checks a proof against the instances stored beside it; it neither knows what the
receipt *claims* nor which model the key belongs to. The `binding` check closes the first gap (the
first proof's public instances are exactly the stated input, or its commitment, and the last one's
the stated output) and the policy's rules close the second (`zkinfer.verify.policy`): the identity
pin is one digest over the segments' circuit digests in order, so no segment can be swapped,
dropped, added or moved without changing it.
"""

from __future__ import annotations

from collections.abc import Callable

from zkinfer.core.crypto import srs
from zkinfer.core.crypto.digest import circuit_digest, digest_bytes, digest_json, split_circuit_digest, split_vk_digest
from zkinfer.core.formats.receipt import SegmentSection
from zkinfer.core.formats.split_receipt import AnyReceipt
from zkinfer.core.zkp.ezkl_views import Settings
from zkinfer.verify.fields import (
    FLOAT_TOLERANCE,
    CheckFailed,
    CheckSkipped,
    CheckUnsigned,
    check_fast,
    check_felts,
    check_input,
    check_instance_shape,
    check_output_values,
    check_signature,
    stated_input,
    verify_proof,
)
from zkinfer.verify.links import check_links, layout_of
from zkinfer.verify.policy import Policy

__all__ = [
    "FLOAT_TOLERANCE",
    "CheckFailed",
    "CheckSkipped",
    "CheckUnsigned",
    "actual_circuit_digest",
    "check_binding",
    "check_fast",
    "check_input",
    "check_links",
    "check_proof",
    "check_settings",
    "check_signature",
    "check_srs",
    "check_statement",
    "check_vk",
    "expected_instances",
    "segment_circuit_digests",
]


def _who(i: int, receipt: AnyReceipt) -> str:
    """How a reason names segment i: not at all when it is the only one."""
    return "" if len(receipt.segments) == 1 else f"segment {i}: "


def check_vk(receipt: AnyReceipt) -> str:
    digests = []
    for i, segment in enumerate(receipt.segments):
        actual = digest_bytes(segment.model.verifying_key)
        if actual != segment.model.vk_digest:
            raise CheckFailed(
                f"{_who(i, receipt)}embedded verifying key hashes to {actual}, "
                f"the receipt states {segment.model.vk_digest}"
            )
        digests.append(actual)
    if len(digests) == 1:
        return f"embedded key ({len(receipt.segments[0].model.verifying_key)} bytes) matches {digests[0]}"
    chain = split_vk_digest(digests)
    if chain != receipt.model.vk_digest:
        raise CheckFailed(
            f"field model.vk_digest states {receipt.model.vk_digest}, the segments' keys in order give {chain}"
        )
    return f"{len(digests)} embedded keys match their digests; in order they give {chain}"


def _visibilities(receipt: AnyReceipt, i: int) -> dict[str, str]:
    """What segment i's circuit must be: the chain's first input and last output as stated, the
    weights as stated, linked inside as the receipt says."""
    last, inner = len(receipt.segments) - 1, receipt.links_kind or "hashed"
    return {
        "input": receipt.input.visibility if i == 0 else inner,
        "param": receipt.params.visibility,
        "output": receipt.output.visibility if i == last else inner,
    }


def check_settings(receipt: AnyReceipt) -> str:
    n = len(receipt.segments)
    if n > 1 and receipt.params.visibility != "fixed":
        raise CheckFailed(
            "field params.visibility is hashed, but split circuits take fixed weights "
            "(each segment's are baked into its key)"
        )
    previous: Settings | None = None
    for i, segment in enumerate(receipt.segments):
        who = _who(i, receipt)
        actual = digest_json(segment.model.settings)
        if actual != segment.model.settings_digest:
            raise CheckFailed(
                f"{who}embedded settings hash to {actual}, the receipt states {segment.model.settings_digest}"
            )
        settings = segment.model.settings_view
        if settings.logrows != segment.srs.k:
            raise CheckFailed(f"{who}settings say k={settings.logrows} but srs.k={segment.srs.k}")
        if n > 1:  # bounded before ezkl is handed these settings (a /1 receipt's proof check names it)
            settings.num_inner_cols  # noqa: B018
        if settings.visibility("param") == "private":
            raise CheckFailed(
                f"{who}the circuit's weights are private (param_visibility Private): they are unconstrained "
                "witnesses, so any weights would pass as this model; a receipt for a model needs fixed or hashed "
                "weights"
            )
        wrong = [
            f"{'params' if part == 'param' else part} is {settings.visibility(part)} in the circuit settings "
            f"but {need} in the receipt"
            for part, need in _visibilities(receipt, i).items()
            if settings.visibility(part) != need
        ]
        if wrong:
            raise CheckFailed(f"{who}visibility mismatch: " + "; ".join(wrong))
        if previous is not None and (
            len(previous.output_scales) != 1 or previous.output_scales != settings.input_scales
        ):
            raise CheckFailed(
                f"segment {i - 1}'s output scales {previous.output_scales} and segment {i}'s input scales "
                f"{settings.input_scales} differ (a link is one tensor read at the scale it was written at)"
            )
        previous = settings
    if n > 1:
        return (
            f"{n} segments' settings match their digests; inner links {receipt.links_kind} at equal scales, "
            f"first input {receipt.input.visibility}, last output public"
        )
    only = receipt.segments[0].model
    return (
        f"embedded settings match {only.settings_digest} (input {receipt.input.visibility}, "
        f"weights {receipt.params.visibility}, output {receipt.output.visibility})"
    )


def check_srs(receipt: AnyReceipt) -> str:
    fingerprints = []
    for i, segment in enumerate(receipt.segments):
        field = "srs.reduced" if len(receipt.segments) == 1 else f"segments[{i}].srs.reduced"
        fingerprint = srs.parse_reduced(segment.srs.reduced, f"field {field}")
        if fingerprint != segment.srs.fingerprint:
            raise CheckFailed(
                f"{_who(i, receipt)}embedded SRS has fingerprint {fingerprint}, "
                f"the receipt states {segment.srs.fingerprint}"
            )
        fingerprints.append(fingerprint)
    development = [i for i, s in enumerate(receipt.segments) if s.srs.development]
    if len(fingerprints) == 1:
        kind = (
            "admits it is a development SRS (its maker could forge proofs)"
            if development
            else "calls it a ceremony SRS, which is only its word: your --trusted-srs list decides"
        )
        return f"embedded reduced SRS is from ceremony {fingerprints[0]}; the receipt {kind}"
    kind = (
        f"segments {development} admit a development SRS"
        if development
        else "the receipt calls them ceremony SRSs, which is only its word: your --trusted-srs list decides"
    )
    return f"embedded reduced SRSs are from ceremonies {sorted(set(fingerprints))}; {kind}"


def bounded_settings(segment: SegmentSection) -> tuple[int, int]:
    """(logrows, num_inner_cols) once they are within what ezkl can be handed: it sizes its
    domain and allocates per column from them (0 columns divides by zero, 128 ran a rebuild
    for ten minutes and 12 GB). Checked before any ezkl work on a receipt's settings."""
    settings = segment.model.settings_view
    return settings.logrows, settings.num_inner_cols


def check_proof(receipt: AnyReceipt, on_sent: Callable[[], None] = lambda: None) -> str:
    total, n = 0, len(receipt.segments)
    for i, segment in enumerate(receipt.segments):
        bounded_settings(segment)
        stated = sum(len(column) for column in segment.proof.instances)
        implied = layout_of(segment).size
        if stated != implied:  # before any per-element work: a hostile receipt may list millions
            raise CheckFailed(
                f"{'the' if n == 1 else f'segment {i}: its'} proof lists {stated} public instances, "
                f"the circuit settings' shapes and visibilities imply {implied}"
            )
        verify_proof(
            segment.proof.hex,
            segment.proof.instances,
            segment.model.settings,
            segment.model.verifying_key,
            segment.srs.reduced,
            on_sent if i == 0 else (lambda: None),
            field="proof" if n == 1 else f"segments[{i}].proof",
        )
        total += len(segment.proof.hex)
    if n == 1:
        return f"halo2/KZG proof ({total} bytes) verifies with the embedded key"
    return f"all {n} halo2/KZG proofs ({total} bytes) verify with their embedded keys"


def stated_instances(receipt: AnyReceipt, i: int) -> list[tuple[str, str | None]]:
    """(label, felt) for each public instance of segment i's proof, in the order its layout gives
    (`zkinfer.core.zkp.instance_layout`): the felt the receipt's statement implies (the first segment's
    input or its commitment, the weights' commitment, the last segment's output), None for what
    only the links state. A stated part the circuit does not have, or lacks, raises CheckFailed."""
    segment, last = receipt.segments[i], len(receipt.segments) - 1
    layout = layout_of(segment)
    if i == 0:
        commitment, values = stated_input(receipt.input, layout)
        input_commitment: list[str | None] = list(commitment or [])
        input_values: list[str | None] = [f for t in values or [] for f in t]
    else:
        input_commitment, input_values = [None] * layout.n_input_commitments, [None] * layout.input_values
    weights = receipt.params.commitment
    if layout.param_visibility == "fixed" and weights is not None:
        raise CheckFailed(
            "field params.commitment is stated, but the circuit's weights are fixed: they have no commitment, "
            "and no proof covers it (remove the field)"
        )
    if layout.param_visibility == "hashed" and (not weights or len(weights) != layout.n_weights_commitments):
        raise CheckFailed(
            f"field params.commitment holds {len(weights or [])} hash(es), "
            f"the circuit's hashed weights have {layout.n_weights_commitments}"
        )
    if weights is not None:
        check_felts(weights, "params.commitment")
    outputs: list[str | None] = (
        [f for t in receipt.output.felts for f in t] if i == last else [None] * layout.output_values
    )
    felts = [*input_commitment, *(weights or []), *input_values, *outputs, *[None] * layout.n_output_commitments]
    labels = layout.labels()
    if len(felts) != len(labels):
        raise CheckFailed(
            f"{_who(i, receipt)}the receipt's statement gives {len(felts)} public instances, "
            f"the circuit settings imply {len(labels)}"
        )
    return list(zip(labels, felts, strict=True))


def expected_instances(receipt: AnyReceipt) -> list[tuple[str, str]]:
    """(label, felt) for each public instance a one-segment receipt's statement implies, in order."""
    return [(label, felt) for label, felt in stated_instances(receipt, 0) if felt is not None]


def check_binding(receipt: AnyReceipt) -> str:
    first, last = receipt.segments[0].model.settings_view, receipt.segments[-1].model.settings_view
    if receipt.input.scales != first.input_scales or receipt.output.scales != last.output_scales:
        raise CheckFailed(
            f"stated scales (input {receipt.input.scales}, output {receipt.output.scales}) differ from the "
            f"circuit settings' (input {first.input_scales}, output {last.output_scales})"[:400]
        )
    layouts = [layout_of(s) for s in receipt.segments]
    proofs = [[felt for column in s.proof.instances for felt in column] for s in receipt.segments]
    for i, (layout, actual) in enumerate(zip(layouts, proofs, strict=True)):
        if len(actual) != layout.size:  # before any per-element work
            raise CheckFailed(
                f"{_who(i, receipt)}the proof has {len(actual)} public instances, the circuit settings imply "
                f"{layout.size}"
            )
    tail = layouts[-1]
    if len(receipt.output.tensors) != len(tail.output_shapes):
        raise CheckFailed(
            f"field output.tensors holds {len(receipt.output.tensors)} tensors, "
            f"the circuit settings have {len(tail.output_shapes)}"
        )
    for j, (tensor, shape) in enumerate(zip(receipt.output.tensors, tail.output_shapes, strict=True)):
        check_instance_shape(tensor, shape, f"output.tensors[{j}]")
    check_output_values(receipt)
    bound = 0
    for i, actual in enumerate(proofs):
        for position, ((label, want), got) in enumerate(zip(stated_instances(receipt, i), actual, strict=True)):
            if want is not None and want.lower() != got.lower():
                raise CheckFailed(
                    f"{_who(i, receipt)}public instance {position} ({label}) is {got} in the proof, "
                    f"but the receipt's statement gives {want}"
                )
            bound += want is not None
    what = "the stated input" if receipt.input.visibility == "public" else "the input's commitment"
    weights = ", the weights' commitment" if receipt.params.visibility == "hashed" else ""
    return f"all {bound} stated public instances equal {what}{weights} and the stated output"


def check_statement(receipt: AnyReceipt) -> None:
    """What the prover checks of a receipt it just built, as the verifier would (settings, binding,
    links, the fast answer; not the proofs): raises CheckFailed with the check's name."""
    steps: list[tuple[str, Callable[[], str]]] = [
        ("settings", lambda: check_settings(receipt)),
        ("binding", lambda: check_binding(receipt)),
        *([("links", lambda: check_links(receipt))] if len(receipt.segments) > 1 else []),
        ("fast", lambda: check_fast(receipt, Policy())),
    ]
    for name, check in steps:
        try:
            check()
        except CheckFailed as exc:
            raise CheckFailed(f"{name}: {exc}") from exc


def segment_circuit_digests(receipt: AnyReceipt) -> list[str]:
    return [circuit_digest(digest_bytes(s.model.verifying_key), s.model.settings) for s in receipt.segments]


def actual_circuit_digest(receipt: AnyReceipt) -> str:
    """The circuit digest from the embedded keys and settings (never the receipt's word): a chain's
    is one digest over its segments' in order."""
    digests = segment_circuit_digests(receipt)
    return digests[0] if len(digests) == 1 else split_circuit_digest(digests)
