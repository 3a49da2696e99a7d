"""`zkinfer verify` (a receipt, a quorum certificate, evidence or an LLM receipt: the check is picked
by its schema, `verify.documents`) and `zkinfer verify-evidence`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import typer

from zkinfer.cli.output import (
    fail,
    guarded,
    show_verdict,
)
from zkinfer.core.support.errors import ZkinferError


def register(app: typer.Typer) -> None:
    app.command()(verify)
    app.command(name="verify-evidence")(verify_evidence)


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
            help="Require circuit, SRS and signer pins, and refuse development SRSs (`srs new`): prove with a "
            "ceremony SRS imported by `zkinfer srs import`",
        ),
    ] = False,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="Your copy of the input: checked against the receipt's input or its commitment (a certificate's "
            "input digest, with --receipt)",
        ),
    ] = None,
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Your copy of the ONNX model: rebuilt with the receipt's settings, it must give the receipt's "
            "verifying key",
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
            help="Certificate: a receipt that must attest its statement (PATH, or PATH@ROW/ROWS for a batch row); "
            "repeatable",
        ),
    ] = None,
) -> None:
    """Check a receipt offline against an optional policy, a quorum certificate against a pinned node set
    (--nodes), evidence, or an LLM receipt (the check is picked by the file's schema); exit 0 verified,
    1 not verified, 2 unreadable."""
    from zkinfer.core.zkp import ezkl_worker as _ezkl_isolated

    _ezkl_isolated.prestart()  # the proof check's ezkl worker starts while the verifier's modules load
    from zkinfer.verify import documents, policy
    from zkinfer.verify.verdict import Document

    def build_policy() -> policy.Policy:
        return policy.build(
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
        )

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
    refused = (
        f"{', '.join(given)}: receipt options; a certificate takes --nodes, --threshold, --receipt, --input "
        "and --expect-circuit"
    )
    if given and nodes_path is not None:
        fail(refused, 2, as_json)
    try:
        document = documents.read(receipt_path, max_receipt_bytes, as_certificate=nodes_path is not None)
    except ZkinferError as exc:
        if nodes_path is None:
            guarded(build_policy, as_json)  # a bad policy is reported before an unreadable receipt, as always
        fail(str(exc), exc.exit_code, as_json)
    kind = Document.CERTIFICATE if nodes_path is not None and document.kind != Document.LLM_RECEIPT else document.kind
    if given and kind == Document.CERTIFICATE:
        fail(refused, 2, as_json)
    if kind == Document.EVIDENCE and (given or expect_circuit or input_path or threshold or cert_receipts):
        fail(
            "evidence takes none of the receipt's or certificate's options: zkinfer verify-evidence E.json", 2, as_json
        )
    pins = None
    if kind == Document.RECEIPT:
        pins = guarded(build_policy, as_json)
    verdict = guarded(
        lambda: documents.check(
            document,
            policy=pins,
            input_path=input_path,
            nodes=nodes_path,
            threshold=threshold,
            receipts=cert_receipts or [],
            expect_circuit=expect_circuit,
            model_dir=model_path,
            llm=_llm_check(model_path, expect_signer, expect_model),
        ),
        as_json,
    )
    show_verdict(verdict, as_json)


def _llm_check(model_dir: Path | None, expect_signer: str | None, expect_model: str | None) -> Any:
    """The LLM side's check of an LLM receipt: re-executed with --model DIR (a model directory), else
    form and signature only; imported only when the document is one."""

    def check(body: Any, source: str) -> Any:
        from zkinfer.llm.verify import verify_document as verify_llm

        if model_dir is not None:
            from transformers.utils import logging as transformers_logging

            cast(Any, transformers_logging).disable_progress_bar()  # transformers leaves it untyped
        return verify_llm(body, model_dir, expect_signer, expect_model, source=source)

    return check


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
    """Check evidence against a node offline; exit 0 it holds, 1 it does not (forged, rebutted, inconsistent),
    2 unreadable."""
    from zkinfer.verify import documents

    document = guarded(lambda: documents.read_evidence(evidence_path), as_json)
    show_verdict(guarded(lambda: documents.check(document, rebuttal=rebuttal, model_dir=model_dir), as_json), as_json)
