"""Fuzz target: mutated receipts through loading and verification, for a time budget.

    python -m fuzz.fuzz_receipt --seconds 60                      # hypothesis engine (default)
    python -m fuzz.fuzz_receipt --seconds 60 --engine atheris     # coverage-guided (pip install atheris)
    python -m fuzz.fuzz_receipt --receipt receipt.json --seconds 600

Without --receipt it first makes a genuine signed receipt for a tiny in-code model (in a temporary
$ZKINFER_HOME, ~15 s). The property checked on every case is in `fuzz/receipt_mutations.py`.
Exit status 0: no violation found; 1: a violation (the failing mutation is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from fuzz.receipt_mutations import (
    OPS,
    SPECIAL_STRINGS,
    TEXT_OPS,
    Genuine,
    apply,
    check,
    check_text,
    mutated_text,
    paths,
    render,
)


def make_receipt(folder: Path) -> Path:
    """A genuine signed receipt for the tiny MLP used by the tests (small decomposition: k=12)."""
    os.environ["ZKINFER_HOME"] = str(folder / "home")
    from tests import tiny
    from zkinfer import Visibility, compile_model
    from zkinfer.core.crypto import identity
    from zkinfer.core.formats.receipt import save
    from zkinfer.prover.prove import Prover

    tiny.mlp(folder / "model.onnx")
    tiny.samples(folder / "calibration.json", n=16, size=8)
    (folder / "input.json").write_text(json.dumps({"input_data": [[0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]]}))
    circuit = compile_model(
        folder / "model.onnx",
        folder / "calibration.json",
        folder / "circuit",
        decomposition=(1024, 3),
        visibility=Visibility(),
    )
    prover = Prover(circuit, signer=identity.new_key())
    save(prover.prove(prover.load_input(folder / "input.json")), folder / "receipt.json")
    return folder / "receipt.json"


def run_hypothesis(genuine: Genuine, seconds: float, counts: Counter[str]) -> None:
    all_paths = paths(genuine.doc)
    deadline = time.monotonic() + seconds

    @settings(max_examples=250, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=mutated_text(genuine.doc, all_paths))
    def batch(case: tuple[str, list[Any], bool]) -> None:
        if time.monotonic() < deadline:
            counts[check_text(genuine, *case)] += 1

    while time.monotonic() < deadline:
        batch()  # each batch draws fresh random mutations


def _fdp_value(fdp: Any) -> Any:
    """A JSON value chosen by atheris's input bytes."""
    kind = fdp.ConsumeIntInRange(0, 6)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 80))
    if kind == 3:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat()
    if kind == 4:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40))
    if kind == 5:
        return SPECIAL_STRINGS[fdp.ConsumeIntInRange(0, len(SPECIAL_STRINGS) - 1)]
    return [_fdp_value(fdp) for _ in range(fdp.ConsumeIntInRange(0, 3))]


def run_atheris(genuine: Genuine, seconds: float, counts: Counter[str]) -> None:
    import atheris

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        doc, applied = genuine.doc, []
        for _ in range(fdp.ConsumeIntInRange(1, 3)):
            candidates = paths(doc)
            if not candidates:
                break
            path = candidates[fdp.ConsumeIntInRange(0, len(candidates) - 1)]
            op = OPS[fdp.ConsumeIntInRange(0, len(OPS) - 1)]
            at = fdp.ConsumeIntInRange(0, 1 << 16)
            doc = apply(doc, path, op, at, _fdp_value(fdp) if op == "replace" else None)
            applied.append((path, op, at))
        text_op = TEXT_OPS[fdp.ConsumeIntInRange(0, len(TEXT_OPS) - 1)]
        candidates = paths(doc)
        if text_op == "none" or not candidates:
            counts[check(genuine, doc, applied)] += 1
            return
        path = candidates[fdp.ConsumeIntInRange(0, len(candidates) - 1)]
        at = fdp.ConsumeIntInRange(0, 1 << 16)
        text, must_refuse = render(doc, path, text_op, at)
        counts[check_text(genuine, text, [*applied, (path, text_op, at)], must_refuse)] += 1

    atheris.instrument_all()
    atheris.Setup([sys.argv[0], f"-max_total_time={int(seconds)}", "-rss_limit_mb=6144", "-print_final_stats=1"], one)
    atheris.Fuzz()  # exits the process when the budget is spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receipt", type=Path, help="a genuine receipt to mutate (default: make one)")
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget for fuzzing (default 60)")
    parser.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis")
    args = parser.parse_args()
    from zkinfer.core.support import logs

    logs.configure()  # a program, like the CLI: ezkl's own console noise stays out of the report
    tmp = tempfile.TemporaryDirectory(prefix="zkinfer-fuzz-")
    path = args.receipt or make_receipt(Path(tmp.name))
    genuine = Genuine.of(json.loads(path.read_text()))
    assert check(genuine, genuine.doc) == "accepted no-op", "the starting receipt does not verify"
    counts: Counter[str] = Counter()
    start = time.monotonic()

    def report() -> None:
        elapsed = time.monotonic() - start
        total = sum(counts.values())
        print(
            f"{args.engine}: {total} mutated receipts in {elapsed:.0f} s ({total / max(elapsed, 1e-9):.1f}/s), no "
            "crash, no wrong acceptance"
        )
        for outcome, n in counts.most_common():
            print(f"  {outcome:<22} {n}")

    if args.engine == "atheris":
        run_atheris(genuine, args.seconds, counts)  # libFuzzer prints its own totals ("Done N runs") and exits
    else:
        run_hypothesis(genuine, args.seconds, counts)
        report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
