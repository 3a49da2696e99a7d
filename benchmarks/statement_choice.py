"""What a node should sign when it answers: the witness's quantized output, or its float answer quantized.

Both are integers at the circuit's output scale, so honest nodes could sign identical bytes. For each
bundled digits model and N test digits this measures, in this process:
- the cost of each: onnxruntime's float answer + rounding, against ezkl's witness (the quantized
  forward pass the proof will attest) + building the statement;
- how often the quantized float answer differs from the witness's output, and by how many units.
A statement whose output differs from what the proof attests cannot be held against the node's proof
(an honest node would be "contradicted" by its own receipt), nor aggregated with honest nodes that
signed the witness output; that rate decides the choice, the cost says what it buys.

Run from the repository root: `python -m benchmarks.statement_choice [--samples 200]` (about a minute).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def measure(name: str, samples: np.ndarray) -> dict[str, float]:
    from zkinfer.prover.prove import Prover

    prover = Prover(REPO / "circuits" / name, prefer_gpu=False)
    scales = prover.circuit.settings.output_scales
    shape = prover.circuit.input_specs[0].shape
    float_ms, witness_ms, differing, max_units = [], [], 0, 0
    for k, row in enumerate(samples):
        sample = [row.reshape(shape).astype(np.float32)]
        start = time.perf_counter()
        fast = prover.fast(sample)
        quantized = [
            np.round(out.ravel().astype(np.float64) * 2.0**s).astype(np.int64)
            for out, s in zip(fast.outputs, scales, strict=True)
        ]
        float_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        statement = prover.statement(sample, f"bench-{k}")
        witness_ms.append((time.perf_counter() - start) * 1000)
        units = max(int(np.max(np.abs(q - np.asarray(w)))) for q, w in zip(quantized, statement.output, strict=True))
        differing += units > 0
        max_units = max(max_units, units)
    return {
        "float_p50_ms": float(np.percentile(float_ms, 50)),
        "float_p99_ms": float(np.percentile(float_ms, 99)),
        "witness_p50_ms": float(np.percentile(witness_ms, 50)),
        "witness_p99_ms": float(np.percentile(witness_ms, 99)),
        "differing_share": differing / len(samples),
        "max_units": float(max_units),
        "scale": float(scales[0]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    from models.digits import load_split

    _, x_test, _, _ = load_split()
    samples = x_test[: args.samples]
    print(f"{len(samples)} test digits per model, one process, 2-core machine\n")
    print(
        f"{'model':<11} {'float+round p50/p99 ms':>23} {'witness p50/p99 ms':>19} "
        f"{'answers differing':>18} {'max units off':>14}"
    )
    for name in ("digits_mlp", "digits_cnn"):
        r = measure(name, samples)
        print(
            f"{name:<11} {r['float_p50_ms']:>11.2f} / {r['float_p99_ms']:<9.2f} "
            f"{r['witness_p50_ms']:>8.1f} / {r['witness_p99_ms']:<8.1f} "
            f"{100 * r['differing_share']:>16.1f} % {r['max_units']:>10.0f} (2^-{r['scale']:.0f} each)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
