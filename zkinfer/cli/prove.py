"""`zkinfer prove`: answer an input fast and prove it (a split circuit's segments in parallel)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zkinfer.cli.output import (
    guarded,
    out,
    step,
)

if TYPE_CHECKING:
    from zkinfer.prover.executor import Executor


def register(app: typer.Typer) -> None:
    app.command()(prove)


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
    from zkinfer.core.crypto import identity
    from zkinfer.core.formats.split_receipt import SplitReceipt, save
    from zkinfer.prover.prove import prove_receipt

    signer = guarded(lambda: identity.load_key(key)) if key else None
    with step(f"starting the {executor_name} executor"):
        executor = guarded(lambda: chosen_executor(executor_name, ray_address, max_prove_memory))
    try:
        with step("loading the circuit and its keys, proving"):
            receipt = guarded(
                lambda: prove_receipt(
                    circuit_dir,
                    input_path,
                    executor=executor,
                    srs_fingerprint=srs_fingerprint,
                    prefer_gpu=not cpu,
                    signer=signer,
                )
            )
    finally:
        if executor is not None:
            executor.close()
    save(receipt, output)
    t = receipt.timings
    out.print(f"output {[round(v, 4) for v in receipt.output.tensors[0].values][:10]}")
    if isinstance(receipt, SplitReceipt):
        per_segment = ", ".join(f"{s.timings.prove_ms / 1000:.2f} s (k={s.srs.k})" for s in receipt.segments)
        proofs = f"witnesses {t.witness_ms:.0f} ms; proofs {t.prove_ms / 1000:.2f} s wall, segments {per_segment}"
    else:
        proofs = f"witness {t.witness_ms:.0f} ms; proof {t.prove_ms / 1000:.2f} s (k={receipt.srs.k})"
    out.print(f"fast path {t.fast_ms:.1f} ms on {receipt.fast.provider}; {proofs}")
    out.print(f"wrote {output}")


def chosen_executor(name: str, ray_address: str | None, max_prove_memory: str | None) -> Executor | None:
    from zkinfer.prover.executor import choose, parse_memory

    max_memory = parse_memory(max_prove_memory) if max_prove_memory is not None else None
    return choose(name, ray_address=ray_address, max_memory=max_memory)
