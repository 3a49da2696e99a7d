"""`zkinfer export` and `zkinfer compile` (one circuit, or with --split/--cut linked segments)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast, get_args

import typer
from rich.table import Table

from zkinfer.cli.output import (
    err,
    fail,
    guarded,
    out,
    shown,
    step,
)
from zkinfer.core.support.errors import UsageError, ZkinferError

if TYPE_CHECKING:
    from zkinfer.core.formats.circuit import LinkKind, Visibility


def register(app: typer.Typer) -> None:
    app.command()(export)
    app.command(name="compile")(compile_cmd)


def export(
    factory: Annotated[
        str, typer.Argument(help="MODULE:FACTORY returning a torch.nn.Module, e.g. models.digits_mlp:build")
    ],
    example_input: Annotated[
        Path, typer.Option("--example-input", help="An input sample (JSON or .npy) to trace with")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the .onnx file")],
) -> None:
    """Export a torch model to ONNX (opset 18) and check it matches torch in onnxruntime."""
    from zkinfer.core.formats.inputs import Sample, load_example
    from zkinfer.prover import export as export_mod

    def run() -> export_mod.ExportReport:
        module = export_mod.load_factory(factory)
        sample: Sample = load_example(example_input)
        return export_mod.export(module, sample, output)

    with step(f"exporting {factory}"):
        report = guarded(run)
    out.print(
        f"wrote {report.path} (opset {report.opset}); onnxruntime matches torch within {report.max_abs_difference:.2e}"
    )


def compile_cmd(
    model: Annotated[Path, typer.Argument(help="The ONNX model")],
    data: Annotated[
        Path,
        typer.Option("--data", help='Calibration samples: {"input_data": [[...]]}, a JSON array of samples, or .npy'),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Circuit directory to write, e.g. circuits/NAME")],
    name: Annotated[str | None, typer.Option(help="Circuit name (default: the directory name)")] = None,
    input_visibility: Annotated[
        str, typer.Option(help="public | hashed (Poseidon commitment: the input stays private)")
    ] = "public",
    param_visibility: Annotated[str, typer.Option(help="fixed | hashed (weights committed, not baked in)")] = "fixed",
    search: Annotated[bool, typer.Option(help="Search run args for the smallest circuit at equal fidelity")] = True,
    setup: Annotated[bool, typer.Option(help="Set up (and cache) proving keys now")] = True,
    srs_fingerprint: Annotated[
        str | None,
        typer.Option(
            "--srs",
            help="SRS ceremony fingerprint to set up with (default: a ceremony SRS if imported, else a development "
            "one)",
        ),
    ] = None,
    split: Annotated[
        int | None,
        typer.Option(
            "--split",
            min=2,
            help="Split into K segments (balanced cuts where one tensor crosses), proven in parallel and linked by "
            "commitments",
        ),
    ] = None,
    cut: Annotated[
        list[str] | None,
        typer.Option("--cut", help="Split at this tensor (repeatable, in graph order) instead of --split K"),
    ] = None,
    link: Annotated[
        str,
        typer.Option(
            "--link",
            help="How split segments commit to the tensor between them: polycommit (KZG point in the proofs; every "
            "segment at one k) | hashed (Poseidon)",
        ),
    ] = "polycommit",
    input_scale: Annotated[
        int | None,
        typer.Option(
            "--input-scale",
            min=0,
            max=32,
            help="The input's fixed-point scale (x 2^scale) instead of the calibrated one: larger is finer",
        ),
    ] = None,
) -> None:
    """Compile an ONNX model into a calibrated circuit (or, with --split/--cut, linked segments);
    set up its keys once (cached)."""
    from zkinfer.prover import keys
    from zkinfer.prover.compile import compile_model

    visibility = guarded(lambda: _visibility(input_visibility, param_visibility))
    if link != "polycommit" and split is None and not cut:
        fail(f"--link {link}: links join the segments of a split circuit; give --split K or --cut TENSOR", 2)
    if split is not None or cut:
        if input_scale is not None:
            fail(
                "--input-scale: a split circuit's segments are calibrated one after another; compile it without "
                "--input-scale",
                2,
            )
        with coarse_outputs_caught() as coarse:
            compile_split(
                model,
                data,
                output,
                name=name,
                visibility=visibility,
                search=search,
                setup=setup,
                srs_fingerprint=srs_fingerprint,
                parts=split,
                cuts=cut or None,
                link=link,
            )
        show_coarse(coarse)
        return
    with coarse_outputs_caught() as coarse, step(f"compiling {model}") as update:
        circuit = guarded(
            lambda: compile_model(
                model,
                data,
                output,
                name=name,
                visibility=visibility,
                search=search,
                input_scale=input_scale,
                progress=update,
            )
        )
    m = circuit.manifest
    table = Table("decomp base", "legs", "k", "rows", "max |error|", "", title=f"run-args search for {m.name}")
    for c in m.search:
        table.add_row(
            str(c.decomp_base),
            str(c.decomp_legs),
            str(c.logrows or "-"),
            str(c.num_rows or "-"),
            f"{c.max_abs_error:.2e}" if c.max_abs_error is not None else (c.failed or "")[:40],
            "chosen" if c.chosen else "",
        )
    out.print(table)
    out.print(f"wrote {output} (k={m.logrows}, {m.calibration_samples} calibration samples)")
    show_coarse(coarse)
    if setup:
        with step(f"setting up keys for k={m.logrows}"):
            found = guarded(lambda: keys.ensure(circuit, srs_fingerprint))
        dev = " [yellow](development SRS: not for production)[/]" if found.srs.development else ""
        out.print(f"keys ready: vk {found.vk_digest}, SRS {found.srs.fingerprint}{dev}")
        out.print(f"circuit {found.circuit_digest(circuit)} (auditors pin it with --expect-circuit)")


@contextmanager
def coarse_outputs_caught() -> Iterator[list[str]]:
    """Collect compile's warnings about outputs the circuit computes coarsely (each names the output
    and how to get a finer circuit), to show with `show_coarse` after the compile's table."""
    import warnings

    from zkinfer.prover.compile import CoarseOutputWarning

    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CoarseOutputWarning)
        try:
            yield messages
        finally:
            for warning in caught:
                if issubclass(warning.category, CoarseOutputWarning):
                    messages.append(str(warning.message))
                else:
                    warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


def show_coarse(messages: list[str]) -> None:
    for message in messages:
        err.print(f"[yellow]warning:[/] {shown(message)}", highlight=False)


def _visibility(input_visibility: str, param_visibility: str) -> Any:
    from pydantic import ValidationError

    from zkinfer.core.formats.circuit import Visibility

    if param_visibility == "private":
        raise ZkinferError(
            "--param-visibility private leaves the weights unconstrained, so any model would pass as 'this model'; "
            "use fixed (weights baked into the circuit) or hashed (weights committed)"
        )
    try:
        return Visibility(input=input_visibility, params=param_visibility)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ZkinferError(
            f"--input-visibility must be public|hashed and --param-visibility fixed|hashed ({exc.errors()[0]['msg']})"
        ) from exc


def _link_kind(link: str) -> LinkKind:
    from zkinfer.core.formats.circuit import LinkKind

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
    from zkinfer.core.crypto.digest import split_circuit_digest
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
        f"wrote {output} ({len(m.segments)} segments, {m.calibration_samples} calibration samples); end to end "
        f"against onnxruntime "
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
