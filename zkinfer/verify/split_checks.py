"""The checks of a split receipt (`zkinfer.receipt/2`), one function per check, as in `checks`.

A split receipt is a chain of proofs. What must hold, beyond each proof being valid: every
segment's circuit is the one its settings describe (first input as the user chose, inner links
hashed, last output public, weights fixed), segment i's output commitment *as its proof's public
instance* equals segment i+1's input commitment *as that proof's instance* (the receipt's own
`links` are only checked against them, never trusted), the first proof's instances are the stated
input (or its commitment) and the last proof's are the stated output, and the identity pin is one
digest over the segments' circuit digests in order, so no segment can be swapped, dropped, added
or moved without changing it.

Polycommit links (`link_kind: polycommit`) have no instances: each side's tensor is an unblinded
advice column whose KZG commitment is a point in its proof's transcript, at a position the
segment's settings fix (`zkinfer.core.polycommit`). The link holds when segment i's output point
equals segment i+1's input point, read from the proof bytes ezkl verifies, with both segments at
one k and one SRS (KZG commitments to different values under one basis differ unless the SRS is
broken; under two bases they prove nothing). ezkl copy-constrains those columns to the tensors the
circuits compute, and a point swapped into a proof changes its Fiat-Shamir challenges, so the
proof no longer verifies.
"""

from __future__ import annotations

from collections.abc import Callable

from zkinfer.core import polycommit, srs
from zkinfer.core.digest import circuit_digest, digest_bytes, digest_json, split_circuit_digest, split_vk_digest
from zkinfer.core.errors import ReceiptFormatError
from zkinfer.core.ezkl_views import Settings
from zkinfer.core.instance_layout import InstanceLayout, InstanceLayoutError, instance_shape
from zkinfer.core.split_receipt import SegmentSection, SplitReceipt
from zkinfer.verify.checks import CheckFailed, check_output_values, stated_input, verify_proof


def _settings(segment: SegmentSection, i: int) -> Settings:
    return Settings(segment.model.settings, f"segments[{i}].model.settings")


def _expected_visibility(receipt: SplitReceipt, i: int) -> dict[str, str]:
    """What segment i's circuit must be: the chain's first input and last output as stated, linked inside as the receipt says."""
    last, inner = len(receipt.segments) - 1, receipt.links_kind
    return {
        "input": receipt.input.visibility if i == 0 else inner,
        "param": "fixed",
        "output": "public" if i == last else inner,
    }


def layout(segment: SegmentSection, i: int) -> InstanceLayout:
    """Segment i's instance layout from its settings alone (`zkinfer.core.instance_layout`)."""
    return InstanceLayout.of(_settings(segment, i))


def check_vk(receipt: SplitReceipt) -> str:
    digests = []
    for i, segment in enumerate(receipt.segments):
        actual = digest_bytes(segment.model.verifying_key)
        if actual != segment.model.vk_digest:
            raise CheckFailed(
                f"segment {i}: embedded verifying key hashes to {actual}, the receipt states {segment.model.vk_digest}"
            )
        digests.append(actual)
    chain = split_vk_digest(digests)
    if chain != receipt.model.vk_digest:
        raise CheckFailed(
            f"field model.vk_digest states {receipt.model.vk_digest}, the segments' keys in order give {chain}"
        )
    return f"{len(digests)} embedded keys match their digests; in order they give {chain}"


def check_settings(receipt: SplitReceipt) -> str:
    if receipt.params.visibility != "fixed":
        raise CheckFailed(
            "field params.visibility is hashed, but split circuits take fixed weights (each segment's are baked into its key)"
        )
    previous: Settings | None = None
    for i, segment in enumerate(receipt.segments):
        actual = digest_json(segment.model.settings)
        if actual != segment.model.settings_digest:
            raise CheckFailed(
                f"segment {i}: embedded settings hash to {actual}, the receipt states {segment.model.settings_digest}"
            )
        settings = _settings(segment, i)
        if settings.logrows != segment.srs.k:
            raise CheckFailed(f"segment {i}: settings say k={settings.logrows} but its srs.k={segment.srs.k}")
        settings.num_inner_cols  # noqa: B018 - bounded before ezkl is handed these settings
        want = _expected_visibility(receipt, i)
        wrong = [
            f"{part} is {settings.visibility(part)}, the chain needs {need}"
            for part, need in want.items()
            if settings.visibility(part) != need
        ]
        if wrong:
            raise CheckFailed(f"segment {i}: visibility mismatch: " + "; ".join(wrong))
        if previous is not None and (
            len(previous.output_scales) != 1 or previous.output_scales != settings.input_scales
        ):
            raise CheckFailed(
                f"segment {i - 1}'s output scales {previous.output_scales} and segment {i}'s input scales {settings.input_scales} differ "
                "(a link is one tensor read at the scale it was written at)"
            )
        previous = settings
    return f"{len(receipt.segments)} segments' settings match their digests; inner links {receipt.links_kind} at equal scales, first input {receipt.input.visibility}, last output public"


def check_srs(receipt: SplitReceipt) -> str:
    fingerprints = []
    for i, segment in enumerate(receipt.segments):
        fingerprint = srs.parse_reduced(segment.srs.reduced, f"field segments[{i}].srs.reduced")
        if fingerprint != segment.srs.fingerprint:
            raise CheckFailed(
                f"segment {i}: embedded SRS has fingerprint {fingerprint}, the receipt states {segment.srs.fingerprint}"
            )
        fingerprints.append(fingerprint)
    development = [i for i, s in enumerate(receipt.segments) if s.srs.development]
    kind = (
        f"segments {development} admit a development SRS"
        if development
        else "the receipt calls them ceremony SRSs, which is only its word: your --trusted-srs list decides"
    )
    return f"embedded reduced SRSs are from ceremonies {sorted(set(fingerprints))}; {kind}"


def check_proof(receipt: SplitReceipt, on_sent: Callable[[], None] = lambda: None) -> str:
    total = 0
    for i, segment in enumerate(receipt.segments):
        settings = _settings(segment, i)
        settings.logrows, settings.num_inner_cols  # noqa: B018 - within what ezkl can be handed (it sizes and allocates from them)
        shape = layout(segment, i)
        stated = sum(len(column) for column in segment.proof.instances)
        if stated != shape.size:  # before any per-element work
            raise CheckFailed(
                f"segment {i}: its proof lists {stated} public instances, its settings' shapes and visibilities imply {shape.size}"
            )
        verify_proof(
            segment.proof.hex,
            segment.proof.instances,
            segment.model.settings,
            segment.model.verifying_key,
            segment.srs.reduced,
            on_sent if i == 0 else (lambda: None),
            field=f"segments[{i}].proof",
        )
        total += len(segment.proof.hex)
    return f"all {len(receipt.segments)} halo2/KZG proofs ({total} bytes) verify with their embedded keys"


def check_binding(receipt: SplitReceipt) -> str:
    """The first proof's input instances are the stated input (or its commitment) and the last
    proof's output instances the stated output, exactly as for an unsplit receipt."""
    first, last = receipt.segments[0], receipt.segments[-1]
    head, tail = layout(first, 0), layout(last, len(receipt.segments) - 1)
    first_settings, last_settings = _settings(first, 0), _settings(last, len(receipt.segments) - 1)
    if receipt.input.scales != first_settings.input_scales or receipt.output.scales != last_settings.output_scales:
        raise CheckFailed(
            f"stated scales (input {receipt.input.scales}, output {receipt.output.scales}) differ from the first segment's input scales "
            f"{first_settings.input_scales} or the last one's output scales {last_settings.output_scales}"
        )
    if [instance_shape(t.shape) for t in receipt.output.tensors] != list(tail.output_shapes):
        raise CheckFailed(
            f"field output.tensors' shapes {[t.shape for t in receipt.output.tensors]} are not the last segment's {[list(s) for s in tail.output_shapes]}"
        )
    check_output_values(receipt)
    try:
        head_proven, tail_proven = head.decode(first.proof.instances), tail.decode(last.proof.instances)
    except InstanceLayoutError as exc:
        raise CheckFailed(f"the first or last segment's proof: {exc}") from exc
    commitment, values = stated_input(receipt.input, head)
    expected = [*(commitment or []), *(f for t in values or [] for f in t)]
    head_actual = [*(head_proven.input_commitment or ()), *(f for t in head_proven.inputs or () for f in t)]
    for position, (label, want, got) in enumerate(zip(head.input_labels(), expected, head_actual, strict=True)):
        if want != got:
            raise CheckFailed(
                f"segment 0's public instance {position} ({label}) is {got} in its proof, but the receipt's stated input gives {want}"
            )
    stated_output = [felt.lower() for felts in receipt.output.felts for felt in felts]
    tail_actual = [f for t in tail_proven.output_felts() for f in t]
    if len(stated_output) != len(tail_actual):
        raise CheckFailed(
            f"the last proof has {len(tail_actual)} output instances, the receipt states {len(stated_output)}"
        )
    for j, (want, got) in enumerate(zip(stated_output, tail_actual, strict=True)):
        if want != got:
            raise CheckFailed(
                f"the last segment's output instance {j} is {got} in its proof, but the receipt states {want}"
            )
    what = "the stated input" if receipt.input.visibility == "public" else "the input's commitment"
    return f"the first proof's {len(head_actual)} input instances equal {what}, the last proof's {len(tail_actual)} output instances the stated output"


def check_links(receipt: SplitReceipt) -> str:
    """Every link, from the proofs' own instances: segment i's output commitment (the first of its
    output instances) equals segment i+1's input commitment (the first of its instances)."""
    n = len(receipt.segments)
    if len(receipt.links) != n - 1:
        raise CheckFailed(
            f"field links holds {len(receipt.links)} commitments for {n} segments (one per link: {n - 1})"
        )
    if receipt.links_kind == "polycommit":
        return _check_polycommit_links(receipt)
    for i in range(n - 1):
        before, after = receipt.segments[i], receipt.segments[i + 1]
        out_shape, in_shape = layout(before, i), layout(after, i + 1)
        if (
            out_shape.n_output_commitments,
            out_shape.output_values,
            in_shape.n_input_commitments,
            in_shape.input_values,
        ) != (1, 0, 1, 0):
            raise CheckFailed(
                f"link {i}->{i + 1}: segment {i}'s output and segment {i + 1}'s input must each be one commitment, "
                f"their settings give {out_shape.output_visibility} and {in_shape.input_visibility}"
            )
        try:
            produced = (out_shape.decode(before.proof.instances).output_commitment or ("",))[0]
            consumed = (in_shape.decode(after.proof.instances).input_commitment or ("",))[0]
        except InstanceLayoutError as exc:
            raise CheckFailed(f"link {i}->{i + 1}: {exc}") from exc
        if produced != consumed:
            raise CheckFailed(
                f"link {i}->{i + 1}: segment {i}'s proof commits to its output as {produced}, segment {i + 1}'s proof to its input as {consumed}: "
                f"segment {i + 1} was not proven on segment {i}'s output"
            )
        if receipt.links[i].lower() != produced.lower():
            raise CheckFailed(
                f"field links[{i}] states {receipt.links[i]}, the proofs' shared commitment is {produced}"
            )
    return (
        f"all {n - 1} link(s) hold: each segment's output commitment is the next one's input commitment, in both proofs"
    )


def _check_polycommit_links(receipt: SplitReceipt) -> str:
    """Every link from the proofs' transcripts: segment i's output point equals segment i+1's input
    point, both segments at one k with one SRS ceremony; the receipt's stated link is checked against them."""
    n = len(receipt.segments)
    for i in range(n - 1):
        before, after = receipt.segments[i], receipt.segments[i + 1]
        if (before.srs.k, before.srs.fingerprint) != (after.srs.k, after.srs.fingerprint):
            raise CheckFailed(
                f"link {i}->{i + 1}: polycommit points compare only under one SRS at one k, but segment {i} has k={before.srs.k} "
                f"(SRS {before.srs.fingerprint}) and segment {i + 1} k={after.srs.k} (SRS {after.srs.fingerprint})"
            )
        out_at = polycommit.positions(_settings(before, i), f"field segments[{i}].model.settings").outputs
        in_at = polycommit.positions(_settings(after, i + 1), f"field segments[{i + 1}].model.settings").inputs
        if len(out_at) != 1 or len(in_at) != 1:
            raise CheckFailed(
                f"link {i}->{i + 1}: segment {i}'s output and segment {i + 1}'s input must each be one polycommit tensor, their settings give {len(out_at)} and {len(in_at)}"
            )
        try:
            produced = polycommit.point(before.proof.hex, out_at[0], f"field segments[{i}].proof.hex")
            consumed = polycommit.point(after.proof.hex, in_at[0], f"field segments[{i + 1}].proof.hex")
        except ReceiptFormatError as exc:
            raise CheckFailed(str(exc)) from exc
        if produced != consumed:
            raise CheckFailed(
                f"link {i}->{i + 1}: segment {i}'s proof commits to its output as point 0x{produced.hex()[:16]}..., segment {i + 1}'s proof to its input as "
                f"0x{consumed.hex()[:16]}...: segment {i + 1} was not proven on segment {i}'s output"
            )
        if receipt.links[i].lower() != "0x" + produced.hex():
            raise CheckFailed(
                f"field links[{i}] states {receipt.links[i][:24]}..., the proofs' shared commitment point is 0x{produced.hex()[:16]}..."
            )
    return f"all {n - 1} polycommit link(s) hold: each segment's output commitment point is the next one's input point, read from both proofs (one k, one SRS)"


def actual_circuit_digest(receipt: SplitReceipt) -> str:
    """The chain's circuit digest from the embedded keys and settings (never the receipt's word)."""
    return split_circuit_digest(segment_circuit_digests(receipt))


def segment_circuit_digests(receipt: SplitReceipt) -> list[str]:
    return [circuit_digest(digest_bytes(s.model.verifying_key), s.model.settings) for s in receipt.segments]
