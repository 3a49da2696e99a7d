"""The `zkinfer` command line: parses, calls the API, renders with rich. No logic of its own.

Exit codes: 0 success / verified, 1 verification failed, 2 bad usage or unreadable input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.table import Table

from zkinfer import chain_cli, network_cli
from zkinfer.core import logs
from zkinfer.core.errors import ZkinferError

VERBOSE_HELP = "Show ezkl's own logs (before or after the command's name)."


def _turn_on_verbose(value: bool) -> None:
    if value:
        logs.configure(True)


def _verbose_option() -> Any:
    """The `--verbose` option every command accepts after its name, as typer builds it (a probe command
    declares it, so it is the same kind of parameter as every other option)."""
    probe = typer.Typer()

    @probe.command()
    def _probe(
        verbose: Annotated[
            bool,
            typer.Option(
                "--verbose", "-v", help=VERBOSE_HELP, callback=_turn_on_verbose, expose_value=False, is_eager=True
            ),
        ] = False,
    ) -> None:
        """Only declares the option."""

    return typer.main.get_command(probe).params[0]


class _VerboseEverywhere(typer.core.TyperGroup):
    """The top-level group: every command below it, at any depth, also takes `--verbose` after its
    name (`zkinfer verify r.json --verbose`), as `zkinfer --verbose verify r.json` does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        option = _verbose_option()
        pending = list(self.commands.values())
        while pending:
            command = pending.pop()
            sub = getattr(command, "commands", None)
            if isinstance(sub, dict):  # a group (srs, keys, network, chain): its commands take it
                pending.extend(sub.values())
            elif not any(option.name == p.name for p in command.params):
                command.params.append(option)


app = typer.Typer(
    help="Zero-knowledge verifiable inference: every answer carries a receipt.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_VerboseEverywhere,
)
srs_app = typer.Typer(help="Structured reference strings (KZG setup parameters).", no_args_is_help=True)
keys_app = typer.Typer(help="Node identity keys (BLS12-381) that sign receipts.", no_args_is_help=True)
app.add_typer(srs_app, name="srs")
app.add_typer(keys_app, name="keys")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


@app.callback()
def _global(verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False) -> None:
    logs.configure(verbose)


def shown(text: str) -> str:
    """Text from a receipt, file or error, safe to print as rich markup: no markup, no control characters."""
    from rich.markup import escape

    from zkinfer.core.text import visible

    return escape(visible(text))


# The verify command's options for each policy key: the library names pins by key only, the CLI adds the flag.
POLICY_FLAGS = {
    "expect_circuit": "--expect-circuit",
    "expect_vk": "--expect-vk",
    "expect_model": "--expect-model",
    "model_file": "--model",
    "expect_params_commitment": "--expect-params-commitment",
    "trusted_srs": "--trusted-srs",
    "expect_signer": "--expect-signer",
    "max_fast_deviation": "--max-fast-deviation",
}


def with_flags(text: str) -> str:
    """Name the command-line option beside each policy key a message mentions: `expect_circuit/--expect-circuit`
    (no parentheses: messages put their lists of pins in parentheses already)."""
    import re

    return re.sub(
        r"\b(" + "|".join(POLICY_FLAGS) + r")\b(?! \(--)", lambda m: f"{m.group(1)}/{POLICY_FLAGS[m.group(1)]}", text
    )


# How each check status shows in the terminal; UNPINNED and UNSIGNED ran, found nothing wrong and
# established nothing, so they are neither a green PASS nor a failure.
STATUS_MARKS = {
    "pass": ("PASS", "green"),
    "fail": ("FAIL", "red"),
    "skip": ("SKIP", "dim"),
    "unpinned": ("UNPINNED", "yellow"),
    "unsigned": ("UNSIGNED", "yellow"),
}
MARK_WIDTH = max(len(word) for word, _ in STATUS_MARKS.values())


def status_mark(status: str) -> str:
    """A check's status as rich markup, padded so the check names line up."""
    word, style = STATUS_MARKS[status]
    return f"[{style}]{word}[/]" + " " * (MARK_WIDTH - len(word))


def fail(message: str, code: int = 2, as_json: bool = False) -> None:
    """Report an error and exit; with `as_json` (a command's --json) the error is JSON on stdout, so a
    script reading that stdout gets JSON whatever happened."""
    if as_json:
        import json

        sys.stdout.write(json.dumps({"error": message, "exit_code": code}, indent=2, ensure_ascii=True) + "\n")
        raise typer.Exit(code)
    err.print(f"[bold red]error:[/] {shown(with_flags(message))}", highlight=False)
    raise typer.Exit(code)


def print_json(model: Any) -> None:
    """A pydantic model as JSON, every non-ASCII character escaped (nothing raw reaches the terminal)."""
    import json

    sys.stdout.write(json.dumps(model.model_dump(mode="json"), indent=2, ensure_ascii=True) + "\n")


def guarded(action: Callable[[], T], as_json: bool = False) -> T:
    """Run an API call; a ZkinferError becomes a one-line message (JSON with `as_json`) and the exit
    code of its branch (2 usage, 1 verification failed, 3 infrastructure: `core.errors`)."""
    try:
        return action()
    except ZkinferError as exc:
        fail(str(exc), exc.exit_code, as_json)
        raise  # unreachable: fail() raises


@contextmanager
def step(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner for a step that may take over a second; yields a callback to update its text."""
    with err.status(message) as status:
        yield lambda text: status.update(f"{message}: {text}")


@app.command()
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
    from zkinfer.core.inputs import Sample, load_example
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


@app.command(name="compile")
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
            help="SRS ceremony fingerprint to set up with (default: a ceremony SRS if imported, else a development one)",
        ),
    ] = None,
    split: Annotated[
        int | None,
        typer.Option(
            "--split",
            min=2,
            help="Split into K segments (balanced cuts where one tensor crosses), proven in parallel and linked by commitments",
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
            help="How split segments commit to the tensor between them: polycommit (KZG point in the proofs; every segment at one k) | hashed (Poseidon)",
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
    """Compile an ONNX model into a calibrated circuit (or, with --split/--cut, linked segments); set up its keys once (cached)."""
    from zkinfer.prover import keys
    from zkinfer.prover.compile import compile_model

    visibility = guarded(lambda: _visibility(input_visibility, param_visibility))
    if link != "polycommit" and split is None and not cut:
        fail(f"--link {link}: links join the segments of a split circuit; give --split K or --cut TENSOR", 2)
    if split is not None or cut:
        from zkinfer import split_cli

        if input_scale is not None:
            fail(
                "--input-scale: a split circuit's segments are calibrated one after another; compile it without --input-scale",
                2,
            )
        with coarse_outputs_caught() as coarse:
            split_cli.compile_split(
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

    from zkinfer.core.circuit import Visibility

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


@app.command()
def prove(
    circuit_dir: Annotated[Path, typer.Argument(help="A compiled circuit directory")],
    input_path: Annotated[Path, typer.Option("--input", help='Input: {"input_data": [[...]]}, a JSON array, or .npy')],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the receipt")] = Path("receipt.json"),
    srs_fingerprint: Annotated[str | None, typer.Option("--srs", help="SRS ceremony fingerprint to prove with")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Run the fast path on the CPU even if a GPU is present")] = False,
    key: Annotated[
        Path | None, typer.Option("--key", help="Node key file (from `zkinfer keys new`) to sign the receipt with")
    ] = None,
    executor_name: Annotated[
        str, typer.Option("--executor", help="Where proofs run: local (this machine's processes) or ray (Ray actors)")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Ray cluster to prove on (default: a local Ray started for this command)"),
    ] = None,
    max_prove_memory: Annotated[
        str | None,
        typer.Option(
            "--max-prove-memory",
            help="Memory ceiling of each proving process, e.g. 2GiB (over it: an error suggesting --split)",
        ),
    ] = None,
) -> None:
    """Answer an input fast (onnxruntime) and prove it (ezkl); write the receipt."""
    from zkinfer.core import identity
    from zkinfer.core.receipt import save
    from zkinfer.core.split_circuit import is_split
    from zkinfer.prover.prove import Prover

    signer = guarded(lambda: identity.load_key(key)) if key else None
    with step(f"starting the {executor_name} executor"):
        executor = guarded(lambda: chosen_executor(executor_name, ray_address, max_prove_memory))
    try:
        if is_split(circuit_dir):  # segments proven in parallel, one zkinfer.receipt/2
            from zkinfer import split_cli

            split_cli.prove_split(
                circuit_dir,
                input_path,
                output,
                srs_fingerprint=srs_fingerprint,
                prefer_gpu=not cpu,
                signer=signer,
                executor=executor,
            )
            return
        with step("loading circuit and keys"):
            prover = guarded(
                lambda: Prover(
                    circuit_dir, srs_fingerprint=srs_fingerprint, prefer_gpu=not cpu, signer=signer, executor=executor
                )
            )
        sample = guarded(lambda: prover.load_input(input_path))
        with step("proving"):
            receipt = guarded(lambda: prover.prove(sample))
        if executor is not None:  # a proof made in another process (a Ray machine): checked before it is written
            from zkinfer.verify.executor_check import check_executor_receipt

            guarded(lambda: check_executor_receipt(receipt, prover.circuit.name, executor.name))
    finally:
        if executor is not None:
            executor.close()
    save(receipt, output)
    t = receipt.timings
    out.print(f"output {[round(v, 4) for v in receipt.output.tensors[0].values][:10]}")
    out.print(
        f"fast path {t.fast_ms:.1f} ms on {receipt.fast.provider}; witness {t.witness_ms:.0f} ms; proof {t.prove_ms / 1000:.2f} s (k={receipt.srs.k})"
    )
    out.print(f"wrote {output}")


def chosen_executor(name: str, ray_address: str | None, max_prove_memory: str | None) -> Any:
    """The executor `--executor`, `--ray-address` and `--max-prove-memory` ask for; None: prove in this
    process, as without these options (no worker process to start for one unbounded local proof)."""
    from zkinfer.prover.executor import open_executor, parse_memory

    max_memory = parse_memory(max_prove_memory) if max_prove_memory is not None else None
    if name == "local" and ray_address is None and max_memory is None:
        return None
    return open_executor(name, ray_address=ray_address, max_memory=max_memory)


@app.command()
def verify(
    receipt_path: Annotated[Path, typer.Argument(help="The receipt JSON, or a quorum certificate (with --nodes)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON")] = False,
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy", help="TOML policy file with the pins below (options given here add to it)"),
    ] = None,
    expect_circuit: Annotated[
        str | None,
        typer.Option(
            "--expect-circuit",
            help="Circuit digest (verifying key and settings, as `zkinfer compile` / `inspect` print it)",
        ),
    ] = None,
    expect_vk: Annotated[
        str | None,
        typer.Option(
            "--expect-vk", help="Verifying-key digest (pins the key alone: scales and shapes stay the receipt's word)"
        ),
    ] = None,
    expect_model: Annotated[
        str | None, typer.Option("--expect-model", help="Model digest the receipt must state (sha256:...)")
    ] = None,
    expect_params_commitment: Annotated[
        list[str] | None,
        typer.Option(
            "--expect-params-commitment", help="Weights commitment (hashed weights), as the model owner publishes it"
        ),
    ] = None,
    trusted_srs: Annotated[
        list[str] | None, typer.Option("--trusted-srs", help="Trusted SRS ceremony fingerprint (repeatable)")
    ] = None,
    expect_signer: Annotated[
        str | None, typer.Option("--expect-signer", help="Node public key that must have signed the receipt")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Require circuit, SRS and signer pins, and refuse development SRSs (`srs new`): prove with a ceremony SRS imported by `zkinfer srs import`",
        ),
    ] = False,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="Your copy of the input: checked against the receipt's input or its commitment (a certificate's input digest, with --receipt)",
        ),
    ] = None,
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Your copy of the ONNX model: rebuilt with the receipt's settings, it must give the receipt's verifying key",
        ),
    ] = None,
    max_fast_deviation: Annotated[
        float | None,
        typer.Option(
            "--max-fast-deviation", help="Fail if the fast answer differs from the proven output by more than this"
        ),
    ] = None,
    max_receipt_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-receipt-bytes",
            min=1,
            help="Refuse larger receipt files (default 32 MiB, or $ZKINFER_MAX_RECEIPT_BYTES)",
        ),
    ] = None,
    nodes_path: Annotated[
        Path | None,
        typer.Option("--nodes", help="Certificate: the pinned node set (nodes.toml) its signers must belong to"),
    ] = None,
    threshold: Annotated[
        int | None,
        typer.Option(
            "--threshold", min=1, help="Certificate: signers' weight needed (default: the node set's threshold)"
        ),
    ] = None,
    cert_receipts: Annotated[
        list[str] | None,
        typer.Option(
            "--receipt",
            help="Certificate: a receipt that must attest its statement (PATH, or PATH@ROW/ROWS for a batch row); repeatable",
        ),
    ] = None,
) -> None:
    """Check a receipt offline against an optional policy, or a quorum certificate against a pinned
    node set (--nodes); exit 0 verified, 1 not verified, 2 unreadable."""
    from zkinfer.llm import is_llm_receipt

    if is_llm_receipt(receipt_path):
        verify_llm_receipt(receipt_path, model_path, expect_signer, expect_model, as_json)
    if nodes_path is not None or names_certificate(receipt_path):
        receipt_only = {
            "--policy": policy_file,
            "--expect-vk": expect_vk,
            "--expect-model": expect_model,
            "--expect-params-commitment": expect_params_commitment,
            "--trusted-srs": trusted_srs,
            "--expect-signer": expect_signer,
            "--strict": strict,
            "--model": model_path,
            "--max-fast-deviation": max_fast_deviation,
            "--max-receipt-bytes": max_receipt_bytes,
        }
        given = [flag for flag, value in receipt_only.items() if value]
        if given:
            fail(
                f"{', '.join(given)}: receipt options; a certificate takes --nodes, --threshold, --receipt, --input and --expect-circuit",
                2,
                as_json,
            )
        verify_certificate(
            receipt_path, nodes_path, threshold, cert_receipts or [], expect_circuit, input_path, as_json
        )
    from zkinfer.core import ezkl_worker as _ezkl_isolated

    _ezkl_isolated.prestart()  # the proof check's ezkl worker starts while the verifier's modules load
    from zkinfer.verify import policy, verify_file

    pins = guarded(
        lambda: policy.build(
            policy_file,
            expect_circuit=expect_circuit,
            expect_vk=expect_vk,
            expect_model=expect_model,
            expect_params_commitment=expect_params_commitment,
            trusted_srs=trusted_srs,
            expect_signer=expect_signer,
            strict=strict,
            model_file=None if model_path is None else str(model_path),
            max_fast_deviation=max_fast_deviation,
        ),
        as_json,
    )
    verdict = guarded(
        lambda: verify_file(receipt_path, pins, input_path=input_path, max_receipt_bytes=max_receipt_bytes), as_json
    )
    if as_json:
        print_json(verdict)
    else:
        for check in verdict.checks:
            out.print(
                f"{status_mark(check.status)} {check.name:<14} {shown(with_flags(check.detail))}", highlight=False
            )
        out.print(
            ("[bold green]" if verdict.verified else "[bold red]") + shown(with_flags(verdict.summary)) + "[/]",
            highlight=False,
        )
    raise typer.Exit(0 if verdict.verified else 1)


def verify_llm_receipt(
    path: Path, model_dir: Path | None, expect_signer: str | None, expect_model: str | None, as_json: bool
) -> None:
    """An LLM receipt: re-executed with --model DIR (a model directory), else form and signature only."""
    from zkinfer.llm.verify import verify_file as verify_llm

    if model_dir is not None:
        from transformers.utils import logging as transformers_logging

        cast(Any, transformers_logging).disable_progress_bar()  # transformers leaves it untyped
    verdict = guarded(
        lambda: verify_llm(path, model_dir=model_dir, expect_signer=expect_signer, expect_model=expect_model), as_json
    )
    print_verdict(verdict, as_json)
    raise typer.Exit(0 if verdict.verified else 1)


def print_verdict(verdict: Any, as_json: bool) -> None:
    """A verdict's checks, one a line, and its summary (green when `verified`)."""
    if as_json:
        print_json(verdict)
        return
    for check in verdict.checks:
        out.print(f"{status_mark(check.status)} {check.name:<14} {shown(with_flags(check.detail))}", highlight=False)
    out.print(
        ("[bold green]" if verdict.verified else "[bold red]") + shown(with_flags(verdict.summary)) + "[/]",
        highlight=False,
    )


def names_certificate(path: Path) -> bool:
    """Whether a file is a quorum certificate; a receipt (which never names that schema) costs one
    read and no import, so verify's ezkl worker still starts first."""
    try:
        with open(path, "rb") as file:
            if b"zkinfer.certificate/1" not in file.read(1 << 26):
                return False
    except OSError:
        return False
    from zkinfer.network import certificate

    return certificate.is_certificate(path)


def verify_certificate(
    path: Path,
    nodes_path: Path | None,
    threshold: int | None,
    receipts: list[str],
    expect_circuit: str | None,
    input_path: Path | None,
    as_json: bool,
) -> None:
    from zkinfer.network import certificate

    if nodes_path is None:
        fail(
            f"{path} is a quorum certificate: check it against the pinned node set with --nodes nodes.toml", 2, as_json
        )
        return
    verdict = guarded(
        lambda: certificate.verify_file(path, nodes_path, threshold, receipts, expect_circuit, input_path), as_json
    )
    if as_json:
        print_json(verdict)
    else:
        for reason in verdict.reasons:
            out.print(f"[red]FAIL[/] {shown(reason)}", highlight=False)
        out.print(("[bold green]" if verdict.ok else "[bold red]") + shown(verdict.summary()) + "[/]", highlight=False)
    raise typer.Exit(0 if verdict.ok else 1)


@app.command(name="verify-evidence")
def verify_evidence(
    evidence_path: Annotated[Path, typer.Argument(help="The evidence JSON (zkinfer.evidence/1)")],
    rebuttal: Annotated[
        Path | None,
        typer.Option(
            "--rebuttal", help="The accused's receipt proving the statement (clears an 'unproven' accusation)"
        ),
    ] = None,
    model_dir: Annotated[
        Path | None, typer.Option("--model", help="LLM evidence: the model directory to re-execute its receipt with")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON")] = False,
) -> None:
    """Check evidence against a node offline; exit 0 it holds, 1 it does not (forged, rebutted, inconsistent), 2 unreadable."""
    from zkinfer.network import evidence
    from zkinfer.verify import llm_evidence

    if llm_evidence.is_llm_evidence(evidence_path) or model_dir is not None:
        llm_verdict = guarded(lambda: llm_evidence.check_file(evidence_path, model_dir), as_json)
        print_verdict(llm_verdict, as_json)
        raise typer.Exit(0 if llm_verdict.holds else 1)

    verdict = guarded(lambda: evidence.check_file(evidence_path, rebuttal), as_json)
    if as_json:
        print_json(verdict)
    else:
        for reason in verdict.reasons:
            out.print(("[red]EVIDENCE[/] " if verdict.holds else "[yellow]NO[/] ") + shown(reason), highlight=False)
        out.print(
            ("[bold red]" if verdict.holds else "[bold green]") + shown(verdict.summary()) + "[/]", highlight=False
        )
    raise typer.Exit(0 if verdict.holds else 1)


@app.command(name="inspect")
def inspect_cmd(
    receipt_path: Annotated[Path, typer.Argument(help="The receipt JSON")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Summarize what a receipt states (model, output, visibility, sizes, signer; a split receipt's segments and links); verifies nothing."""
    from zkinfer.verify.inspect import SplitSummary, inspect_any

    any_summary = guarded(lambda: inspect_any(receipt_path), as_json)
    if isinstance(any_summary, SplitSummary):
        from zkinfer import split_cli

        split_cli.print_split_summary(any_summary, as_json)
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
            f"{summary.proof_bytes} bytes, {summary.public_instances} public instances, proved in {summary.prove_ms / 1000:.2f} s",
        ),
        ("signed by", f"{summary.signer} ({summary.signature_scheme})" if summary.signer else "unsigned"),
        ("issued at", summary.issued_at),
    ]
    print_rows(rows, summary.as_the_node_states, "the proof")


def print_rows(rows: list[tuple[str, str]], as_the_node_states: list[str], what: str) -> None:
    """`inspect`'s table, then what no proof or pin covers (the node's word), then the reminder."""
    for label, value in rows:
        out.print(f"[bold]{shown(label):<14}[/] {shown(value)}", highlight=False)
    out.print(
        f"[dim]as the node states it (no proof or pin covers it): {shown(', '.join(as_the_node_states))}[/]",
        highlight=False,
    )
    out.print(f"[dim]not verified: run `zkinfer verify` to check {what} and pin the identity[/]")


def output_label(index: int, count: int, name: str) -> str:
    """`inspect`'s row label for one output: "output" when there is one (its tensor is usually named
    "output" too), else "output[i] NAME"."""
    return "output" if count == 1 else f"output[{index}] {name}"


@app.command()
def serve(
    circuits: Annotated[
        Path, typer.Option("--circuits", help="A folder of compiled circuits (or one circuit directory)")
    ] = Path("circuits"),
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on")] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (0.0.0.0 exposes the node beyond this machine)")
    ] = "127.0.0.1",
    state_dir: Annotated[Path, typer.Option("--state-dir", help="Job store, node key and API keys live here")] = Path(
        ".zkinfer-node"
    ),
    key: Annotated[
        Path | None, typer.Option("--key", help="Node key file that signs receipts (default: made in --state-dir)")
    ] = None,
    api_keys: Annotated[
        Path | None,
        typer.Option(
            "--api-keys",
            help="File of API keys, one per line, # lines are comments (default: --state-dir/api-keys, made with one key: grep -v '^#' reads it)",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, help="Proving processes; the cores are split between them (RAYON_NUM_THREADS)"
        ),
    ] = 1,
    max_queue: Annotated[
        int, typer.Option("--max-queue", min=1, help="Unproven jobs beyond which infer answers 429")
    ] = 1000,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Largest request body accepted (413 above)")
    ] = 1 << 20,
    wait_timeout: Annotated[
        float,
        typer.Option(
            "--wait-timeout", min=0, help="Longest an infer?wait=true request waits for its proof, in seconds"
        ),
    ] = 300.0,
    batch_window_ms: Annotated[
        float,
        typer.Option(
            "--batch-window-ms",
            min=0,
            help="Prove requests within this window together (batch_size > 1 circuits; 0 = off); they see each other's outputs",
        ),
    ] = 0.0,
    batch_private_inputs: Annotated[
        bool, typer.Option("--batch-private-inputs", help="Also batch circuits with hashed (private) inputs")
    ] = False,
    cpu: Annotated[bool, typer.Option("--cpu", help="Run the fast path on the CPU even if a GPU is present")] = False,
    metrics: Annotated[
        str, typer.Option("--metrics", help="/metrics access: off, key (needs an API key) or public")
    ] = "key",
    header_timeout: Annotated[
        float, typer.Option("--header-timeout", min=0.1, help="Seconds a connection has to send a request's headers")
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option("--body-timeout", min=0.1, help="Seconds a request has to send its whole body after the headers"),
    ] = 30.0,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections", min=1, help="Open connections at most (kept below the file-descriptor limit)"
        ),
    ] = 4096,
    prove_within: Annotated[
        int,
        typer.Option(
            "--prove-within", min=1, help="Seconds within which each answer's signed promise says it will be proven"
        ),
    ] = 3600,
    worker_priority: Annotated[
        str,
        typer.Option(
            "--worker-priority",
            help="Provers run as: idle (SCHED_IDLE: answers preempt proving; never-idle cores starve it) or nice (nice 10)",
        ),
    ] = "idle",
    executor_name: Annotated[
        str,
        typer.Option(
            "--executor",
            help="Where proofs run: local (the worker processes) or ray (Ray actors; a local Ray unless --ray-address)",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to prove on, with --executor ray (default: a local Ray started with the node)",
        ),
    ] = None,
    max_prove_memory: Annotated[
        str | None,
        typer.Option(
            "--max-prove-memory",
            help="Memory ceiling of each proving process, e.g. 2GiB (a job over it fails, naming it)",
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="proving (every answer proven, as promised) or optimistic (a claim on chain backed by the bond; proven if challenged or spot-checked)",
        ),
    ] = "proving",
    rpc_url: Annotated[
        str | None, typer.Option("--rpc-url", help="--mode optimistic: the EVM node of the stake contract")
    ] = None,
    chain_key_file: Annotated[
        Path | None,
        typer.Option(
            "--chain-key-file",
            help="--mode optimistic: file of the hex key of the node's bonded account (or $ZKINFER_CHAIN_KEY)",
        ),
    ] = None,
    stake_address: Annotated[
        str | None,
        typer.Option(
            "--stake",
            help="--mode optimistic: the stake contract's address (default: the latest in --stake-registry for this chain)",
        ),
    ] = None,
    stake_registry: Annotated[
        Path | None,
        typer.Option(
            "--stake-registry",
            help="--mode optimistic: the deployments file of the stake contract (default: .zkinfer-chain/deployments.json)",
        ),
    ] = None,
    spot_check: Annotated[
        float,
        typer.Option("--spot-check", help="--mode optimistic: probability that an answer is proven at once anyway"),
    ] = 0.01,
    claim_batch: Annotated[
        int, typer.Option("--claim-batch", help="--mode optimistic: claims per on-chain batch (one Merkle root)")
    ] = 64,
    claim_interval: Annotated[
        float,
        typer.Option("--claim-interval", help="--mode optimistic: post pending claims at least this often, in seconds"),
    ] = 30.0,
    llm: Annotated[
        Path | None,
        typer.Option(
            "--llm",
            help="Serve this Hugging Face causal-LM directory with the OpenAI API (e.g. models/llm/tiny-stdlib); every answer carries a signed LLM receipt",
        ),
    ] = None,
    llm_threads: Annotated[int, typer.Option("--llm-threads", min=1, help="--llm: torch threads for generation")] = 1,
    max_tokens: Annotated[
        int,
        typer.Option(
            "--max-tokens", min=1, help="--llm: the most tokens a request may ask for (above it: 422 naming max_tokens)"
        ),
    ] = 256,
    max_prompt_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-prompt-tokens",
            min=1,
            help="--llm: the longest prompt in tokens (default: the model's context less one)",
        ),
    ] = None,
) -> None:
    """Serve proven inference over HTTP (Open Inference Protocol / KServe v2) with receipts, or a
    language model with the OpenAI API and signed LLM receipts (--llm DIR)."""
    if llm is not None:
        from zkinfer.llm import server as llm_server
        from zkinfer.llm.config import LlmConfig

        llm_config = guarded(
            lambda: LlmConfig(
                model_dir=llm,
                state_dir=state_dir,
                host=host,
                port=port,
                key_file=key,
                api_keys_file=api_keys,
                threads=llm_threads,
                max_tokens_cap=max_tokens,
                max_prompt_tokens=max_prompt_tokens,
                max_queue=max_queue,
                max_body_bytes=max_body_bytes,
                metrics=metrics,
            )
        )
        guarded(lambda: llm_server.run(llm_config))
        return
    from zkinfer.node import server
    from zkinfer.node.config import NodeConfig, OptimisticConfig
    from zkinfer.prover.executor import parse_memory

    if mode not in ("proving", "optimistic"):
        fail(f"--mode: {mode!r} is not one of proving, optimistic", 2)
    if mode == "proving" and (rpc_url or chain_key_file or stake_address):
        fail("--rpc-url, --chain-key-file and --stake are for --mode optimistic; add it or drop them", 2)
    if mode == "optimistic" and rpc_url is None:
        fail("--mode optimistic: give --rpc-url (the EVM node of the stake contract the node is bonded on)", 2)
    optimistic = None
    if mode == "optimistic":
        assert rpc_url is not None
        from zkinfer.chain import registry

        found = guarded(
            lambda: registry.resolve(stake_registry)
        )  # the chain commands' one registry, older files adopted
        optimistic = guarded(
            lambda: OptimisticConfig(
                rpc_url, chain_key_file, stake_address, found.path, spot_check, claim_batch, claim_interval
            )
        )

    config = guarded(
        lambda: NodeConfig(  # an option it refuses (--metrics, --worker-priority) is a one-line error, exit 2
            circuits=circuits,
            state_dir=state_dir,
            host=host,
            port=port,
            key_file=key,
            api_keys_file=api_keys,
            workers=workers,
            max_queue=max_queue,
            max_body_bytes=max_body_bytes,
            wait_timeout_s=wait_timeout,
            batch_window_ms=batch_window_ms,
            batch_private_inputs=batch_private_inputs,
            prefer_gpu=not cpu,
            metrics=metrics,
            header_timeout_s=header_timeout,
            body_timeout_s=body_timeout,
            max_connections=max_connections,
            prove_within_s=prove_within,
            worker_priority=worker_priority,
            executor=executor_name,
            ray_address=ray_address,
            max_prove_memory=parse_memory(max_prove_memory) if max_prove_memory is not None else None,
            optimistic=optimistic,
        )
    )
    with step("loading circuits, keys and the job store"):
        node = guarded(lambda: server.load(config))
    server.run(node)


@srs_app.command("new")
def srs_new(k: Annotated[int, typer.Option("--k", help="log2 of the number of rows")]) -> None:
    """Make a development SRS (whoever makes it could forge proofs: never for production)."""
    from zkinfer.core import srs

    with step(f"generating a development SRS, k={k}"):
        info = guarded(lambda: srs.new_development(k))
    out.print(f"development SRS k={info.k} fingerprint {info.fingerprint} at {info.path}")


@srs_app.command("import")
def srs_import(path: Annotated[Path, typer.Argument(help="A raw KZG SRS file from a ceremony")]) -> None:
    """Import a ceremony SRS file into the cache."""
    from zkinfer.core import srs

    info = guarded(lambda: srs.import_file(path))
    out.print(f"imported SRS k={info.k} fingerprint {info.fingerprint}")


@srs_app.command("list")
def srs_list(as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False) -> None:
    """List cached SRS files with their whole ceremony fingerprints (what --trusted-srs pins)."""
    import json

    from zkinfer.core import srs

    found = srs.cached()
    if as_json:
        listed = [
            {
                "k": s.k,
                "fingerprint": s.fingerprint,
                "kind": "development" if s.development else "ceremony",
                "path": str(s.path),
            }
            for s in found
        ]
        sys.stdout.write(json.dumps({"srs": listed}, indent=2, ensure_ascii=True) + "\n")
        return
    if not found:
        out.print(
            "no SRS cached yet: `zkinfer srs import FILE` (a ceremony's file) or `zkinfer srs new --k K` (development only)"
        )
        return
    # one line each, the fingerprint whole and last (never cut to the terminal's width): copy it into --trusted-srs
    out.print(f"{'k':<3} {'kind':<12} fingerprint (pin it with --trusted-srs)", highlight=False)
    for s in found:
        out.print(f"{s.k:<3} {'development' if s.development else 'ceremony':<12} {s.fingerprint}", highlight=False)


@keys_app.command("new")
def keys_new(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the secret key file")],
) -> None:
    """Make a node key; prints the public key auditors pin with --expect-signer."""
    from zkinfer.core import identity

    key = identity.new_key()
    guarded(lambda: identity.save_key(key, output))
    out.print(f"wrote {output} (keep it secret)\npublic key {key.public_hex}")


@keys_app.command("show")
def keys_show(
    key_file: Annotated[
        Path, typer.Argument(help="A node key file (`zkinfer keys new`, or the node's --state-dir/node.key)")
    ],
    name: Annotated[
        str, typer.Option("--name", help="The node's name in nodes.toml (A-Z a-z 0-9 _ -, at most 32)")
    ] = "node",
    url: Annotated[str, typer.Option("--url", help="Where a gateway reaches the node")] = "http://127.0.0.1:8080",
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            help="The environment variable in which the gateway finds this node's API key (default: the line is printed commented out)",
        ),
    ] = None,
) -> None:
    """Print a node key's public key, its proof of possession and a ready [[nodes]] entry for nodes.toml."""
    import re

    from zkinfer.core import identity
    from zkinfer.network.nodeset import ENV_NAME

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name):
        fail(f"--name: {name[:40]!r} is not 1-32 characters of A-Z a-z 0-9 _ -")
    if not re.fullmatch(r"https?://[^\s\"\\]+", url):
        fail(f"--url: {url[:80]!r} is not an http:// or https:// URL")
    if api_key_env is not None and not ENV_NAME.fullmatch(api_key_env):
        fail(
            f"--api-key-env: {api_key_env[:40]!r} is not an environment variable name (A-Z a-z 0-9 _, not starting with a digit), e.g. ALPHA_API_KEY"
        )
    key = guarded(lambda: identity.load_key(key_file))
    pop = identity.proof_of_possession(key).hex()
    typer.echo(
        f"public key           {key.public_hex}\nproof of possession  {pop}\n\n# nodes.toml entry for this node:"
    )
    typer.echo(
        f'[[nodes]]\nname = "{name}"\nurl = "{url}"\npublic_key = "{key.public_hex}"\nproof_of_possession = "{pop}"\nweight = 1'
    )
    if api_key_env is not None:
        typer.echo(f'api_key_env = "{api_key_env}"   # the gateway sends ${api_key_env} to this node as its API key')
    else:
        suggested = re.sub(r"[^A-Z0-9_]", "_", name.upper()) + "_API_KEY"
        suggested = suggested if ENV_NAME.fullmatch(suggested) else "NODE_" + suggested
        typer.echo(
            f'# api_key_env = "{suggested}"   # the node needs an API key: name the variable the gateway reads it from (--api-key-env)'
        )


network_cli.register(app)  # `gateway` and `network status`, listed after `serve` in --help
chain_cli.register(app)  # `chain up|down|deploy-verifier|verify-receipt|...`
chain_cli.register_challenge(app)  # `zkinfer challenge --claim | --evidence` (stake contract)


def main() -> None:
    if "--json" not in sys.argv[1:]:
        app()
        return
    # --json: click's own usage errors (a bad option value, a missing argument) are JSON too. typer
    # vendors click in some versions: its UsageError is found as the base of typer.BadParameter.
    usage_error: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    try:
        code = app(standalone_mode=False)
    except usage_error as exc:
        try:
            fail(exc.format_message(), exc.exit_code, as_json=True)  # type: ignore[attr-defined]
        except typer.Exit as done:
            code = done.exit_code
    except typer.Abort:
        code = 1
    sys.exit(code or 0)
