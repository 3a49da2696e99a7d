"""Split vs unsplit proofs: CPU, wall time (segments in parallel on local processes and on a local Ray),
peak memory per proving process, key sizes; and whether a memory ceiling the unsplit proof exceeds
lets the split one through.

For each model: compile it unsplit and split into 2 and 4 segments (`compile_split`), all with the
same decomposition and no run-args search, so only the cut differs; set up keys in a fresh temporary
$ZKINFER_HOME. Then, for each form:
- sequential: each segment proven alone in a fresh prove worker (all cores): seconds, CPU seconds
  (user + system, every ezkl thread) and the worker's peak RSS;
- parallel, local: the whole proof (witness chain + every segment at once, `LocalExecutor`), wall;
- parallel, Ray: the same on a local Ray (`RayExecutor`, actors kept: one untimed warm-up proof, then timed);
- ceiling: the unsplit proof and the 4-way split under a sweep of `--max-prove-memory` values around the two
  forms' peaks: does the unsplit one fail with ProofMemoryError and the split one prove? (`--no-ceiling` skips it.)
Every receipt made is verified. A markdown table is printed per model, with each segment's k and rows, and
issue 21's goals for each split form (peak RSS per process <= 1/3 of unsplit, local-parallel wall <= unsplit,
every receipt verified), each met or not met; load average before and after.

Models: the digits CNN (`models/digits_cnn.onnx`, its committed circuit's decomposition; a few
minutes on 2 cores) and, with `--lenet`, a LeNet-5 (32x32 input, random seeded weights, built with
torch and exported on demand: k≈19, GBs of keys and memory, many minutes; never in CI).

Run from the repository root:
`python -m benchmarks.bench_split [--lenet | --only-lenet] [--no-ray] [--no-ceiling] [--parts 2 4] [--link polycommit]`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MiB = 1 << 20
MAX_CEILINGS = 8


@dataclass(frozen=True)
class Case:
    name: str
    onnx: Path
    calibration: Path
    input: Path
    decomposition: tuple[int, int] | None


@dataclass
class Row:
    form: str
    ks: list[int] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    key_bytes: int = 0
    cpu_s: float = 0.0
    sequential_s: float = 0.0
    peak_rss: list[int] = field(default_factory=list)
    local_wall_s: float | None = None
    ray_wall_s: float | None = None
    verified: bool = True


def digits_cnn() -> Case:
    manifest = json.loads((REPO / "circuits" / "digits_cnn" / "manifest.json").read_text())
    models = REPO / "models"
    return Case(
        "digits_cnn",
        models / "digits_cnn.onnx",
        models / "digits_cnn_calibration.json",
        models / "digits_cnn_input.json",
        (manifest["decomp_base"], manifest["decomp_legs"]),
    )


def lenet5(folder: Path) -> Case:
    """LeNet-5 (LeCun 1998 shapes, ReLU, average pooling) with seeded random weights, exported to ONNX here."""
    import numpy as np
    import torch

    from zkinfer.prover.export import export

    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(6, 16, 5),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 5 * 5, 120),
        torch.nn.ReLU(),
        torch.nn.Linear(120, 84),
        torch.nn.ReLU(),
        torch.nn.Linear(84, 10),
    ).eval()
    rng = np.random.default_rng(0)
    samples = [rng.random((1, 1, 32, 32), dtype=np.float32) for _ in range(8)]
    export(module, [samples[0]], folder / "lenet5.onnx")
    (folder / "calibration.json").write_text(
        json.dumps({"input_data": [np.concatenate([s.ravel() for s in samples]).round(4).tolist()]})
    )
    (folder / "input.json").write_text(json.dumps({"input_data": [samples[0].ravel().round(4).tolist()]}))
    return Case("lenet5", folder / "lenet5.onnx", folder / "calibration.json", folder / "input.json", None)


def _timed(action: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = action()
    return value, time.perf_counter() - start


def _sequential(row: Row, tasks: list[Any]) -> None:
    """Each task alone in a fresh prove worker, so its peak RSS is its own."""
    from zkinfer.prover.executor.local import LocalExecutor

    for task in tasks:
        executor = LocalExecutor(parallel=1)
        try:
            (result,) = executor.prove_many([task])
        finally:
            executor.close()
        row.cpu_s += result.cpu_seconds
        row.sequential_s += result.seconds
        row.peak_rss.append(result.peak_rss_bytes)


def _verified(receipt: Any) -> bool:
    from zkinfer.verify import verify_document

    return bool(verify_document(json.loads(receipt.model_dump_json())).verified)


def measure(
    case: Case, work: Path, parts: list[int], ray_executor: Any, link: str = "hashed"
) -> tuple[list[Row], dict[str, Any], Any]:
    from zkinfer.core.formats import inputs
    from zkinfer.core.zkp import ezkl_adapter as _ezkl
    from zkinfer.prover.compile import compile_model
    from zkinfer.prover.executor import ProofTask
    from zkinfer.prover.executor.local import LocalExecutor
    from zkinfer.prover.prove import ChainProver, Prover
    from zkinfer.prover.split import compile_split
    from zkinfer.prover.witnesses import chain_witnesses

    rows: list[Row] = []
    provers: dict[str, Any] = {}
    print(f"[{case.name}] compiling unsplit", flush=True)
    circuit = compile_model(
        case.onnx, case.calibration, work / "unsplit", search=False, decomposition=case.decomposition
    )
    prover = Prover(circuit, prefer_gpu=False)
    sample = prover.load_input(case.input)
    row = Row(
        "unsplit",
        ks=[circuit.logrows],
        rows=[circuit.settings.num_rows],
        key_bytes=prover.keys.pk.stat().st_size + prover.keys.vk.stat().st_size,
    )
    data, witness = work / "unsplit-input.json", work / "unsplit-witness.json"
    data.write_text(json.dumps(inputs.to_ezkl_data([sample])))
    _ezkl.gen_witness(data, circuit.compiled_path, witness)
    print(f"[{case.name}] unsplit: k={circuit.logrows}, proving", flush=True)
    _sequential(
        row,
        [
            ProofTask(
                compiled=circuit.compiled_path,
                pk=prover.keys.pk,
                srs=prover.keys.srs.path,
                witness=witness,
                proof=work / "unsplit-proof.json",
            )
        ],
    )
    local = LocalExecutor()
    prover.executor = local
    receipt, row.local_wall_s = _timed(lambda: prover.prove(sample))
    row.verified &= _verified(receipt)
    local.close()
    if ray_executor is not None:
        prover.executor = ray_executor
        prover.prove(sample)  # warm-up: the actor starts and takes its key
        receipt, row.ray_wall_s = _timed(lambda: prover.prove(sample))
        row.verified &= _verified(receipt)
    rows.append(row)
    provers["unsplit"] = prover
    for k in parts:
        print(f"[{case.name}] compiling split into {k}", flush=True)
        chain = compile_split(
            case.onnx,
            case.calibration,
            work / f"split{k}",
            parts=k,
            search=False,
            decomposition=case.decomposition,
            link=link,
        )  # type: ignore[arg-type]
        split_prover = ChainProver(chain, prefer_gpu=False, executor=LocalExecutor(parallel=k))
        row = Row(f"split {k} ({link})", ks=[s.logrows for s in chain.segments])
        row.rows = [s.settings.num_rows for s in chain.segments]
        row.key_bytes = sum(s.keys.pk.stat().st_size + s.keys.vk.stat().st_size for s in split_prover.segment_keys)
        witness_dir = work / f"split{k}-witnesses"
        witness_dir.mkdir()
        witnesses = chain_witnesses(chain.segments, sample, witness_dir)
        tasks = [
            ProofTask(
                compiled=s.compiled_path,
                pk=sk.keys.pk,
                srs=sk.keys.srs.path,
                witness=w,
                proof=witness_dir / f"proof{i}.json",
            )
            for i, (s, sk, w) in enumerate(zip(chain.segments, split_prover.segment_keys, witnesses, strict=True))
        ]
        print(f"[{case.name}] split {k}: k={row.ks}, proving", flush=True)
        _sequential(row, tasks)
        receipt, row.local_wall_s = _timed(functools.partial(split_prover.prove, sample))
        row.verified &= _verified(receipt)
        split_prover.close()
        split_prover.executor.close()
        if ray_executor is not None:
            split_prover.executor = ray_executor
            split_prover.prove(sample)
            receipt, row.ray_wall_s = _timed(functools.partial(split_prover.prove, sample))
            row.verified &= _verified(receipt)
        rows.append(row)
        provers[row.form] = split_prover
    return rows, provers, sample


def _ceiling(rows: list[Row], provers: dict[str, Any], sample: Any) -> list[str]:
    """Prove the unsplit form and the most-split one under a sweep of ceilings, from the split form's
    peak RSS + 32 MiB to the unsplit one's + 64 MiB, at most `MAX_CEILINGS` of them (16 MiB apart for
    the digits CNN; wider steps for GB-size models, whose unsplit proof takes a minute per try): the
    ceiling caps address space (RLIMIT_AS), which a proof needs 30-65 MiB above its peak RSS, so
    ceilings between the two peaks alone refuse both (measured: the digits CNN, peak 178 MiB, proves
    under 210 MiB but not 200)."""
    from zkinfer.core.support.errors import ProofMemoryError
    from zkinfer.prover.executor.local import LocalExecutor

    unsplit, most = rows[0], rows[-1]
    low, high = max(most.peak_rss), max(unsplit.peak_rss)
    lines = []
    if high <= low:
        return [f"no ceiling separates them: unsplit peak {high // MiB} MiB <= {most.form} peak {low // MiB} MiB"]
    step = max(16 * MiB, -(-(high + 32 * MiB - low) // (MAX_CEILINGS - 1)) // MiB * MiB)
    first = (low + 32 * MiB + step - 1) // step * step
    separating = []
    for limit in range(first, high + 64 * MiB + 1, step):
        proved = {}
        for form in (unsplit.form, most.form):
            prover = provers[form]
            executor = LocalExecutor(max_memory=limit, parallel=len(most.ks))
            previous, prover.executor = prover.executor, executor
            try:
                prover.prove(sample)
                proved[form] = True
            except ProofMemoryError:
                proved[form] = False
            finally:
                prover.executor = previous
                executor.close()
        if proved[most.form] and not proved[unsplit.form]:
            separating.append(limit // MiB)
        lines.append(
            f"--max-prove-memory {limit // MiB} MiB: "
            + ", ".join(f"{form} {'proves' if ok else 'ProofMemoryError'}" for form, ok in proved.items())
        )
    lines.append(f"ceilings under which only {most.form} proves: {separating or 'none'} MiB")
    return lines


def table(case: Case, rows: list[Row]) -> str:
    base = max(rows[0].peak_rss)
    out = [
        f"### {case.name} (decomposition {case.decomposition or 'ezkl default'})",
        "",
        "| form | segment k | rows | keys (pk+vk) MB | proof CPU s | sequential s | wall, local parallel s "
        "| wall, Ray parallel s | peak RSS per process MiB (max) | vs unsplit | verified |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ray = f"{r.ray_wall_s:.2f}" if r.ray_wall_s is not None else "-"
        local = f"{r.local_wall_s:.2f}" if r.local_wall_s is not None else "-"
        peak = max(r.peak_rss)
        each = ", ".join(str(p // MiB) for p in r.peak_rss)
        rows_text = ", ".join(f"{n:,}" for n in r.rows)
        out.append(
            f"| {r.form} | {r.ks} | {rows_text} | {r.key_bytes / 1e6:.1f} | {r.cpu_s:.2f} | {r.sequential_s:.2f} "
            f"| {local} | {ray} "
            f"| {peak / MiB:.0f} ({each}) | {peak / base:.2f} | {r.verified} |"
        )
    return "\n".join([*out, "", *goals(rows)])


def goals(rows: list[Row]) -> list[str]:
    """Issue 21's goals for each split form against the unsplit one: peak RSS per proving process <= 1/3 of
    the unsplit proof's, wall (local parallel) <= the unsplit proof's, every receipt verified."""
    unsplit = rows[0]
    lines = []
    for r in rows[1:]:
        ratio = max(r.peak_rss) / max(unsplit.peak_rss)
        memory = "met" if ratio <= 1 / 3 else "not met"
        lines.append(f"- {r.form}: peak RSS per process {ratio:.2f}x the unsplit proof's (goal <= 0.33x): {memory}")
        if r.local_wall_s is not None and unsplit.local_wall_s is not None:
            wall = "met" if r.local_wall_s <= unsplit.local_wall_s else "not met"
            lines.append(
                f"- {r.form}: wall, local parallel {r.local_wall_s:.1f} s against {unsplit.local_wall_s:.1f} s "
                f"unsplit ({r.local_wall_s / unsplit.local_wall_s:.2f}x; goal <= 1x): {wall}"
            )
        lines.append(f"- {r.form}: every receipt verified: {'met' if r.verified else 'NOT MET'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--lenet", action="store_true", help="also the LeNet-5 (k≈19: GBs of keys and memory, many minutes)"
    )
    parser.add_argument("--only-lenet", action="store_true", help="the LeNet-5 alone (skip the digits CNN)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray column (no local Ray started)")
    parser.add_argument("--parts", type=int, nargs="+", default=[2, 4])
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the --max-prove-memory sweep (most of a LeNet run)"
    )
    parser.add_argument(
        "--link",
        choices=["hashed", "polycommit"],
        default="polycommit",
        help="how the segments are linked (compile --link)",
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    ray_executor = None
    with tempfile.TemporaryDirectory(prefix="zkinfer-bench-split-") as tmp:
        os.environ["ZKINFER_HOME"] = str(Path(tmp) / "home")
        if not args.no_ray:
            from zkinfer.prover.executor.ray_actors import RayExecutor

            ray_executor = RayExecutor(instance="bench")
        cases = [] if args.only_lenet else [digits_cnn()]
        if args.lenet or args.only_lenet:
            (Path(tmp) / "lenet").mkdir()
            cases.append(lenet5(Path(tmp) / "lenet"))
        reports = []
        try:
            for case in cases:
                work = Path(tmp) / case.name
                work.mkdir()
                rows, provers, sample = measure(case, work, args.parts, ray_executor, args.link)
                reports.append(table(case, rows))
                print(reports[-1], flush=True)
                if not args.no_ceiling:
                    reports[-1] += "\n\nceiling: " + "; ".join(_ceiling(rows, provers, sample))
                    print(reports[-1], flush=True)
        finally:
            if ray_executor is not None:
                ray_executor.close()
    print(f"\nload average after: {os.getloadavg()} ({os.cpu_count()} cores)\n")
    print("\n\n".join(reports))


if __name__ == "__main__":
    main()
