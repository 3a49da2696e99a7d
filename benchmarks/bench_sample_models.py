"""Prove time and circuit size of each sample model: ezkl's default run args vs zkinfer's search.

For each bundled model: compile with ezkl's default decomposition (`compile_model(search=False)`),
and take the committed circuit (`circuits/NAME`, chosen by zkinfer's run-args search); set up keys
in a fresh temporary $ZKINFER_HOME (so setup is measured, and no user cache is touched; the
development SRS is made before the setup clock starts), prove the
model's example input REPEATS times, verify one receipt, and print a markdown table.

Run from the repository root: `python -m benchmarks.bench_sample_models` (about a minute on 2 cores).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = ("digits_mlp", "digits_cnn")
REPEATS = 3


@dataclass(frozen=True)
class Row:
    model: str
    run_args: str
    k: int
    num_rows: int
    setup_s: float
    prove_s: float
    pk_mb: float
    example_error: float
    calibration_error: float
    verified: bool


def measure(model: str, circuit_dir: Path, label: str) -> Row:
    """Set up keys for `circuit_dir`, prove the example input REPEATS times, verify the last receipt."""
    from zkinfer import Prover, load_circuit, verify_receipt
    from zkinfer.core.crypto import srs

    circuit = load_circuit(circuit_dir)
    srs.for_circuit(circuit.logrows)  # make the development SRS first: it is not part of key setup
    start = time.perf_counter()
    prover = Prover(circuit, prefer_gpu=False)
    setup_s = time.perf_counter() - start
    sample = prover.load_input(REPO / "models" / f"{model}_input.json")
    receipts = [prover.prove(sample) for _ in range(REPEATS)]
    chosen = next(c for c in circuit.manifest.search if c.chosen)
    m = circuit.manifest
    return Row(
        model=model,
        run_args=f"{label}: decomp {m.decomp_base}/{m.decomp_legs}",
        k=m.logrows,
        num_rows=circuit.settings.num_rows,
        setup_s=setup_s,
        prove_s=statistics.median(r.timings.prove_ms / 1000 for r in receipts),
        pk_mb=prover.keys.pk.stat().st_size / 1e6,
        example_error=max(r.fast.max_abs_deviation for r in receipts),
        calibration_error=chosen.max_abs_error or float("nan"),
        verified=verify_receipt(receipts[-1]).verified,
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="zkinfer-bench-") as tmp:
        os.environ["ZKINFER_HOME"] = str(Path(tmp) / "home")
        from zkinfer import compile_model

        rows: list[Row] = []
        for model in MODELS:
            default_dir = Path(tmp) / f"{model}-default"
            models = REPO / "models"
            compile_model(
                models / f"{model}.onnx", models / f"{model}_calibration.json", default_dir, name=model, search=False
            )
            rows.append(measure(model, default_dir, "ezkl default"))
            rows.append(measure(model, REPO / "circuits" / model, "zkinfer search"))
    print(
        f"| model | run args | k | num_rows | key setup s | median prove s ({REPEATS} runs) | pk MB "
        "| max abs err, example vs onnxruntime | max abs err, calibration set | verified |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.model} | {r.run_args} | {r.k} | {r.num_rows} | {r.setup_s:.2f} | {r.prove_s:.2f} | {r.pk_mb:.1f} "
            f"| {r.example_error:.2e} | {r.calibration_error:.2e} | {r.verified} |"
        )


if __name__ == "__main__":
    main()
