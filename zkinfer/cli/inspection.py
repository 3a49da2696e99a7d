"""`zkinfer inspect`: what a receipt (or a split receipt) states; verifies nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zkinfer.cli.output import (
    guarded,
    output_label,
    print_json,
    print_rows,
)

if TYPE_CHECKING:
    from zkinfer.verify.inspect import SplitSummary


def register(app: typer.Typer) -> None:
    app.command(name="inspect")(inspect_cmd)


def inspect_cmd(
    receipt_path: Annotated[Path, typer.Argument(help="The receipt JSON")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Summarize what a receipt states (model, output, visibility, sizes, signer; a split receipt's
    segments and links); verifies nothing."""
    from zkinfer.verify.inspect import SplitSummary, inspect_any

    any_summary = guarded(lambda: inspect_any(receipt_path), as_json)
    if isinstance(any_summary, SplitSummary):
        print_split_summary(any_summary, as_json)
        return
    summary = any_summary
    if as_json:
        print_json(summary)
        return
    rows = [
        ("model", f"{summary.model_name}  {summary.model_digest}  (name and digest as the node states them)"),
        ("circuit", f"{summary.circuit_digest} (pin with --expect-circuit)"),
        ("verifying key", f"{summary.vk_digest} ({summary.vk_bytes} bytes)"),
        ("SRS", f"k={summary.k} {summary.srs_fingerprint} [{summary.srs_kind}]"),
        (
            "input",
            summary.input_visibility
            + (
                f": {[t.values for t in summary.input]}"
                if summary.input
                else f", commitment {summary.input_commitment}"
            ),
        ),
        (
            "weights",
            summary.params_visibility
            + (
                f", commitment {summary.params_commitment}"
                if summary.params_commitment
                else " (baked into the circuit)"
            ),
        ),
        *(
            (
                output_label(i, len(summary.outputs), t.name),
                f"{[round(v, 6) for v in t.values]} argmax {t.argmax} shape {t.shape}",
            )
            for i, t in enumerate(summary.outputs)
        ),
        ("fast path", f"{summary.fast_provider}, max |fast - proven| {summary.fast_max_abs_deviation:.3g}"),
        (
            "proof",
            f"{summary.proof_bytes} bytes, {summary.public_instances} public instances, proved in "
            f"{summary.prove_ms / 1000:.2f} s",
        ),
        ("signed by", f"{summary.signer} ({summary.signature_scheme})" if summary.signer else "unsigned"),
        ("issued at", summary.issued_at),
    ]
    print_rows(rows, summary.as_the_node_states, "the proof")


def print_split_summary(summary: SplitSummary, as_json: bool) -> None:
    """`zkinfer inspect` of a split receipt: the chain's pin, each segment, the links; verifies nothing."""
    if as_json:
        print_json(summary)
        return
    rows = [
        ("model", f"{summary.model_name}  {summary.model_digest}  (name and digest as the node states them)"),
        (
            "circuit",
            f"{summary.circuit_digest} (the {len(summary.segments)} segments in order; pin with --expect-circuit)",
        ),
        ("verifying keys", f"{summary.vk_digest} (the segments' keys in order)"),
        *(
            (
                f"segment {s.index}",
                f"{s.name}: k={s.k}, input {s.input_visibility}, output {s.output_visibility}, circuit "
                f"{s.circuit_digest}, "
                f"SRS {s.srs_fingerprint}, proof {s.proof_bytes} bytes, {s.public_instances} public instances, "
                f"proved in {s.prove_ms / 1000:.2f} s",
            )
            for s in summary.segments
        ),
        *((f"link {i}->{i + 1}", commitment) for i, commitment in enumerate(summary.links)),
        (
            "input",
            summary.input_visibility
            + (
                f": {[t.values for t in summary.input]}"
                if summary.input
                else f", commitment {summary.input_commitment}"
            ),
        ),
        *(
            (
                output_label(i, len(summary.outputs), t.name),
                f"{[round(v, 6) for v in t.values]} argmax {t.argmax} shape {t.shape}",
            )
            for i, t in enumerate(summary.outputs)
        ),
        ("fast path", f"{summary.fast_provider}, max |fast - proven| {summary.fast_max_abs_deviation:.3g}"),
        ("proofs", f"{summary.prove_ms / 1000:.2f} s wall (segments in parallel)"),
        ("signed by", f"{summary.signer} ({summary.signature_scheme})" if summary.signer else "unsigned"),
        ("issued at", summary.issued_at),
    ]
    print_rows(rows, summary.as_the_node_states, "every proof and link")
