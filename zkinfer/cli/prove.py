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
    from zkinfer.core.identity import NodeKey
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
    from zkinfer.core import identity
    from zkinfer.core.receipt import save
    from zkinfer.core.split_circuit import is_split
    from zkinfer.prover.prove import Prover

    signer = guarded(lambda: identity.load_key(key)) if key else None
    with step(f"starting the {executor_name} executor"):
        executor = guarded(lambda: chosen_executor(executor_name, ray_address, max_prove_memory))
    try:
        if is_split(circuit_dir):  # segments proven in parallel, one zkinfer.receipt/2
            prove_split(
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
        f"fast path {t.fast_ms:.1f} ms on {receipt.fast.provider}; witness {t.witness_ms:.0f} ms; proof "
        f"{t.prove_ms / 1000:.2f} s (k={receipt.srs.k})"
    )
    out.print(f"wrote {output}")


def chosen_executor(name: str, ray_address: str | None, max_prove_memory: str | None) -> Executor | None:
    from zkinfer.prover.executor import choose, parse_memory

    max_memory = parse_memory(max_prove_memory) if max_prove_memory is not None else None
    return choose(name, ray_address=ray_address, max_memory=max_memory)


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
        f"fast path {t.fast_ms:.1f} ms on {receipt.fast.provider}; witnesses {t.witness_ms:.0f} ms; proofs "
        f"{t.prove_ms / 1000:.2f} s wall, segments {per_segment}"
    )
    out.print(f"wrote {output}")
