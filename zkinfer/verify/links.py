"""The links of a chain of segments (a split receipt, `zkinfer.receipt/2`): segment i's output
commitment *as its proof states it* equals segment i+1's input commitment *as that proof states it*
(the receipt's own `links` are only checked against them, never trusted).

Hashed links are a Poseidon commitment among each proof's public instances. Polycommit links
(`link_kind: polycommit`) have no instances: each side's tensor is an unblinded advice column whose
KZG commitment is a point in its proof's transcript, at a position the segment's settings fix
(`zkinfer.core.crypto.polycommit`). The link holds when segment i's output point equals segment i+1's
input point, read from the proof bytes ezkl verifies, with both segments at one k and one SRS (KZG
commitments to different values under one basis differ unless the SRS is broken; under two bases
they prove nothing). ezkl copy-constrains those columns to the tensors the circuits compute, and a
point swapped into a proof changes its Fiat-Shamir challenges, so the proof no longer verifies.
"""

from __future__ import annotations

from zkinfer.core.crypto import polycommit
from zkinfer.core.formats.receipt import SegmentSection
from zkinfer.core.formats.split_receipt import AnyReceipt
from zkinfer.core.support.errors import ReceiptFormatError
from zkinfer.core.zkp.instance_layout import InstanceLayout, InstanceLayoutError
from zkinfer.verify.fields import CheckFailed


def layout_of(segment: SegmentSection) -> InstanceLayout:
    """A segment's instance layout from its settings alone (see `zkinfer.core.zkp.instance_layout`)."""
    return InstanceLayout.of(segment.model.settings_view)


def check_links(receipt: AnyReceipt) -> str:
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
        out_shape, in_shape = layout_of(before), layout_of(after)
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
                f"link {i}->{i + 1}: segment {i}'s proof commits to its output as {produced}, segment {i + 1}'s "
                f"proof to its input as {consumed}: "
                f"segment {i + 1} was not proven on segment {i}'s output"
            )
        if receipt.links[i].lower() != produced.lower():
            raise CheckFailed(
                f"field links[{i}] states {receipt.links[i]}, the proofs' shared commitment is {produced}"
            )
    return (
        f"all {n - 1} link(s) hold: each segment's output commitment is the next one's input commitment, in both proofs"
    )


def _check_polycommit_links(receipt: AnyReceipt) -> str:
    """Every link from the proofs' transcripts: segment i's output point equals segment i+1's input
    point, both segments at one k with one SRS ceremony; the receipt's stated link is checked against them."""
    n = len(receipt.segments)
    for i in range(n - 1):
        before, after = receipt.segments[i], receipt.segments[i + 1]
        if (before.srs.k, before.srs.fingerprint) != (after.srs.k, after.srs.fingerprint):
            raise CheckFailed(
                f"link {i}->{i + 1}: polycommit points compare only under one SRS at one k, but segment {i} has "
                f"k={before.srs.k} "
                f"(SRS {before.srs.fingerprint}) and segment {i + 1} k={after.srs.k} (SRS {after.srs.fingerprint})"
            )
        out_at = polycommit.positions(before.model.settings_view, f"field segments[{i}].model.settings").outputs
        in_at = polycommit.positions(after.model.settings_view, f"field segments[{i + 1}].model.settings").inputs
        if len(out_at) != 1 or len(in_at) != 1:
            raise CheckFailed(
                f"link {i}->{i + 1}: segment {i}'s output and segment {i + 1}'s input must each be one polycommit "
                f"tensor, their settings give {len(out_at)} and {len(in_at)}"
            )
        try:
            produced = polycommit.point(before.proof.hex, out_at[0], f"field segments[{i}].proof.hex")
            consumed = polycommit.point(after.proof.hex, in_at[0], f"field segments[{i + 1}].proof.hex")
        except ReceiptFormatError as exc:
            raise CheckFailed(str(exc)) from exc
        if produced != consumed:
            raise CheckFailed(
                f"link {i}->{i + 1}: segment {i}'s proof commits to its output as point 0x{produced.hex()[:16]}..., "
                f"segment {i + 1}'s proof to its input as "
                f"0x{consumed.hex()[:16]}...: segment {i + 1} was not proven on segment {i}'s output"
            )
        if receipt.links[i].lower() != "0x" + produced.hex():
            raise CheckFailed(
                f"field links[{i}] states {receipt.links[i][:24]}..., the proofs' shared commitment point is "
                f"0x{produced.hex()[:16]}..."
            )
    return (
        f"all {n - 1} polycommit link(s) hold: each segment's output commitment point is the next one's input point, "
        "read from both proofs (one k, one SRS)"
    )
