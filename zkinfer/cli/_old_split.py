"""The command line's split-circuit paths: `compile --split/--cut`, `prove` and `inspect` of split circuits.

`zkinfer.cli` hands over to these when a command meets a split circuit or receipt; like the CLI,
they parse nothing of their own beyond what they are given, call the API and render.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast, get_args

from rich.table import Table

from zkinfer.cli import guarded, out, output_label, print_json, print_rows, step
from zkinfer.core.circuit import LinkKind
from zkinfer.core.errors import UsageError

if TYPE_CHECKING:
    from zkinfer.core.circuit import Visibility
    from zkinfer.core.identity import NodeKey
    from zkinfer.prover.executor import Executor
    from zkinfer.verify.inspect import SplitSummary


def _link_kind(link: str) -> LinkKind:
    if link not in get_args(LinkKind):
        raise UsageError(f"--link {link}: give one of {', '.join(get_args(LinkKind))}")
    return cast(LinkKind, link)


def compile_split(
    model: Path,
    data: Path,
    output: Path,
    *,
    name: str | None,
    visibility: Visibility,
    search: bool,
    setup: bool,
    srs_fingerprint: str | None,
    parts: int | None,
    cuts: list[str] | None,
    link: str = "polycommit",
) -> None:
    """`zkinfer compile --split K | --cut T`: compile the segments, set up their keys, print the chain's pin."""
    from zkinfer.core.digest import split_circuit_digest
    from zkinfer.prover import keys
    from zkinfer.prover.split import compile_split as compile_segments

    with step(f"compiling {model} into segments") as update:
        made = guarded(
            lambda: compile_segments(
                model,
                data,
                output,
                parts=parts,
                cuts=cuts,
                name=name,
                visibility=visibility,
                search=search,
                link=_link_kind(link),
                progress=update,
            )
        )
    m = made.manifest
    table = Table(
        "segment",
        "input -> output",
        "est. cost",
        "k",
        "rows",
        "max |error|",
        title=f"segments of {m.name} (cut at {', '.join(m.cuts)})",
    )
    for i, (segment, circuit) in enumerate(zip(m.segments, made.segments, strict=True)):
        chosen = next((c for c in circuit.manifest.search if c.chosen), None)
        error = f"{chosen.max_abs_error:.2e}" if chosen is not None and chosen.max_abs_error is not None else "-"
        table.add_row(
            str(i),
            f"{segment.inputs[0]} -> {segment.outputs[0]}",
            str(segment.estimated_cost),
            str(segment.logrows),
            str(segment.num_rows),
            error,
        )
    out.print(table)
    out.print(
        f"wrote {output} ({len(m.segments)} segments, {m.calibration_samples} calibration samples); end to end against onnxruntime "
        f"over {m.fidelity_samples} samples: max |error| {m.max_abs_error:.2e}, mean {m.mean_abs_error:.2e}"
    )
    if setup:
        digests = []
        for i, circuit in enumerate(made.segments):
            with step(f"setting up keys for segment {i} (k={circuit.manifest.logrows})"):
                found = guarded(lambda circuit=circuit: keys.ensure(circuit, srs_fingerprint))  # type: ignore[misc]
            digests.append(found.circuit_digest(circuit))
            dev = " [yellow](development SRS: not for production)[/]" if found.srs.development else ""
            out.print(f"segment {i}: vk {found.vk_digest}, SRS {found.srs.fingerprint}{dev}")
        out.print(
            f"circuit {split_circuit_digest(digests)} (the segments in order; auditors pin it with --expect-circuit)"
        )


def prove_split(
    circuit_dir: Path,
    input_path: Path,
    output: Path,
    *,
    srs_fingerprint: str | None,
    prefer_gpu: bool,
    signer: NodeKey | None,
    executor: Executor | None,
) -> None:
    """`zkinfer prove` on a split circuit: chained witnesses, the segments' proofs in parallel, one receipt."""
    from zkinfer.core.split_receipt import save
    from zkinfer.prover.split_prove import SplitProver

    with step("loading the split circuit and its segments' keys"):
        prover = guarded(
            lambda: SplitProver(
                circuit_dir, srs_fingerprint=srs_fingerprint, prefer_gpu=prefer_gpu, signer=signer, executor=executor
            )
        )
    try:
        sample = guarded(lambda: prover.load_input(input_path))
        with step(f"proving {len(prover.circuit.segments)} segments"):
            receipt = guarded(lambda: prover.prove(sample))
        if (
            executor is not None
        ):  # the segments' proofs came from other processes (Ray machines): checked before the receipt is written
            from zkinfer.verify.executor_check import check_executor_receipt

            guarded(lambda: check_executor_receipt(receipt, prover.circuit.name, executor.name))
    finally:
        prover.close()
    save(receipt, output)
    t = receipt.timings
    out.print(f"output {[round(v, 4) for v in receipt.output.tensors[0].values][:10]}")
    per_segment = ", ".join(f"{s.timings.prove_ms / 1000:.2f} s (k={s.srs.k})" for s in receipt.segments)
    out.print(
        f"fast path {t.fast_ms:.1f} ms on {receipt.fast.provider}; witnesses {t.witness_ms:.0f} ms; proofs {t.prove_ms / 1000:.2f} s wall, segments {per_segment}"
    )
    out.print(f"wrote {output}")


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
                f"{s.name}: k={s.k}, input {s.input_visibility}, output {s.output_visibility}, circuit {s.circuit_digest}, "
                f"SRS {s.srs_fingerprint}, proof {s.proof_bytes} bytes, {s.public_instances} public instances, proved in {s.prove_ms / 1000:.2f} s",
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
