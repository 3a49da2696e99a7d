"""Time `verify` on a signed receipt of each sample model, in-process and as a whole `zkinfer` process.

In-process: verify with and without the signature check, the signature check alone with the BLS backend
in use (blspy when installed) and with py_ecc (the pure-Python reference and fallback, what every
signature check cost before milagro and blspy), and `--model` (rebuilding the verifying key from the model file:
compile + key setup in a one-shot worker). The proof check is ezkl in the isolated worker process (its
first call also starts the worker). Goal: a signed receipt verifies in <= 25 ms.

Whole processes: `zkinfer --help` and `zkinfer verify <signed receipt> --expect-signer KEY`, medians and
bests of PROCESS_REPEATS runs (process start and imports included), wall and CPU (the verify worker's
included); goals (issue 21): `--help` <= 0.2 s, `verify` <= 0.3 s wall, each printed met / not met for
the best and the median run. `--processes-only` times just the processes (~1 min). With
`--baseline REV` the same commands also run on a checkout of git revision REV (same interpreter and
environment, interleaved run by run), so before and after are measured under the same load.

Run from the repository root: `python -m benchmarks.bench_verify [--baseline REV]` (a few minutes on 2
cores; keys are set up in a fresh temporary $ZKINFER_HOME).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = ("digits_mlp", "digits_cnn")
REPEATS = 15
PY_ECC_REPEATS = 3  # ~0.4-2 s each
PROCESS_REPEATS = 11
PROCESS_GOALS = {"zkinfer --help": 0.2, "zkinfer verify (signed receipt, pinned signer)": 0.3}  # seconds (issue 21)


def _median_ms(action: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _row(model: str, key: object, tmp: Path) -> str:
    """Prove the model's example input once (signed), then time verifying that receipt."""
    from zkinfer.core.crypto import identity
    from zkinfer.core.crypto.digest import circuit_digest
    from zkinfer.core.formats.receipt import parse, save
    from zkinfer.prover.prove import Prover
    from zkinfer.verify import verify_receipt
    from zkinfer.verify.policy import Policy

    assert isinstance(key, identity.NodeKey)
    prover = Prover(REPO / "circuits" / model, prefer_gpu=False, signer=key)
    receipt = prover.prove(prover.load_input(REPO / "models" / f"{model}_input.json"))
    path = tmp / f"{model}.json"
    save(receipt, path)
    pinned = Policy(
        expect_circuit=circuit_digest(receipt.model.vk_digest, receipt.model.settings),
        trusted_srs=[receipt.srs.fingerprint],
    )
    start = time.perf_counter()
    assert verify_receipt(receipt, pinned, check_signature=False).verified
    first = (time.perf_counter() - start) * 1000
    without = _median_ms(lambda: verify_receipt(receipt, pinned, check_signature=False))
    with_signature = _median_ms(lambda: verify_receipt(receipt, pinned))
    signature = _median_ms(lambda: identity.check_receipt_signature(receipt))
    reference = _median_ms(lambda: _with_py_ecc(lambda: identity.check_receipt_signature(receipt)), PY_ECC_REPEATS)
    document = receipt.model_dump(mode="json")
    parse_ms = _median_ms(lambda: parse(document))
    assert verify_receipt(receipt, pinned).verified
    start = time.perf_counter()
    with_model = pinned.model_copy(update={"model_file": str(REPO / "models" / f"{model}.onnx")})
    rebuilt = verify_receipt(receipt, with_model, check_signature=False)
    model_s = time.perf_counter() - start
    assert rebuilt.verified, rebuilt.checks
    start = time.perf_counter()
    cli = subprocess.run(
        [sys.executable, "-m", "zkinfer", "verify", str(path), "--expect-signer", key.public_hex],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    cli_s = time.perf_counter() - start
    assert cli.returncode == 0, cli.stdout + cli.stderr
    if not (tmp / "signed.json").exists():  # the first model's receipt is the one the process timings verify
        (tmp / "signed.json").write_bytes(path.read_bytes())
    return (
        f"| {model} | {receipt.srs.k} | {len(receipt.proof.hex)} | {first:.0f} | {without:.0f} | {with_signature:.0f} "
        f"| {signature:.0f} | {reference:.0f} | {parse_ms:.2f} | {cli_s:.2f} | {model_s:.2f} |"
    )


def _with_py_ecc(action: Callable[[], object]) -> object:
    """Run `action` with blspy hidden from zkinfer.core.crypto.bls (the fallback path: py_ecc)."""
    from zkinfer.core.crypto import bls

    saved = bls._fast_tried, bls._fast_module
    bls._fast_tried, bls._fast_module = True, None
    try:
        return action()
    finally:
        bls._fast_tried, bls._fast_module = saved


def _signed_receipt(key: object, path: Path) -> None:
    """A signed receipt of the first sample model at `path` (what the process timings verify)."""
    from zkinfer.core.crypto import identity
    from zkinfer.core.formats.receipt import save
    from zkinfer.prover.prove import Prover

    assert isinstance(key, identity.NodeKey)
    prover = Prover(REPO / "circuits" / MODELS[0], prefer_gpu=False, signer=key)
    save(prover.prove(prover.load_input(REPO / "models" / f"{MODELS[0]}_input.json")), path)


def _process_times(
    receipt: Path, signer: str, baseline: str | None, tmp: Path, repeats: int = PROCESS_REPEATS
) -> list[str]:
    """Medians (and min) of whole `zkinfer` processes, this tree and optionally a baseline revision."""
    trees = {"this tree": REPO}
    if baseline:
        folder = tmp / "baseline"
        folder.mkdir()
        archive = subprocess.run(["git", "archive", baseline], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        trees[f"baseline {baseline}"] = folder
    for cwd in trees.values():  # bytecode first: with $PYTHONDONTWRITEBYTECODE every run would compile from source
        compile_all = [sys.executable, "-m", "compileall", "-q", str(cwd / "zkinfer")]
        subprocess.run(compile_all, check=True, capture_output=True)
    commands = {
        "zkinfer --help": ["--help"],
        "zkinfer verify (signed receipt, pinned signer)": ["verify", str(receipt), "--expect-signer", signer],
    }
    times: dict[tuple[str, str], list[float]] = {(c, t): [] for c in commands for t in trees}
    cpu: dict[tuple[str, str], list[float]] = {(c, t): [] for c in commands for t in trees}
    for _ in range(repeats):
        for command, args in commands.items():
            for tree, cwd in trees.items():  # `python -m zkinfer` imports the package in its working directory
                used, start = _children_cpu(), time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "zkinfer", *args], capture_output=True, text=True, cwd=cwd)
                times[(command, tree)].append(time.perf_counter() - start)
                cpu[(command, tree)].append(_children_cpu() - used)
                assert done.returncode == 0, f"{tree}: {done.stdout}{done.stderr}"
    rows = [
        "| command | tree | median wall s | min wall s | median CPU s | min CPU s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (command, tree), values in times.items():
        rows.append(
            f"| `{command}` | {tree} | {statistics.median(values):.3f} | {min(values):.3f} "
            f"| {statistics.median(cpu[(command, tree)]):.3f} | {min(cpu[(command, tree)]):.3f} |"
        )
    rows.append("")
    for command, goal in PROCESS_GOALS.items():
        wall = times[(command, "this tree")]
        verdicts = ", ".join(
            f"{what} {value:.3f} s {'met' if value <= goal else 'not met'}"
            for what, value in (("best", min(wall)), ("median", statistics.median(wall)))
        )
        rows.append(f"goal: `{command}` ≤ {goal} s wall: {verdicts}")
    return rows


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process (the ezkl worker a verify starts included):
    on a shared machine wall time mostly measures the neighbours, CPU time what the process itself costs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--baseline", help="also time the processes on this git revision (e.g. the commit before a change)"
    )
    parser.add_argument(
        "--processes-only", action="store_true", help="only the whole-process timings (one digits_mlp receipt, ~1 min)"
    )
    parser.add_argument("--repeats", type=int, default=PROCESS_REPEATS, help="runs of each process command")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zkinfer-bench-") as tmp:
        os.environ["ZKINFER_HOME"] = str(Path(tmp) / "home")
        from zkinfer.core.crypto import bls, identity

        key = identity.new_key()
        print(f"BLS backend: {bls.backend()}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print()
        if options.processes_only:
            _signed_receipt(key, Path(tmp) / "signed.json")
        else:
            print(
                "| model | k | proof bytes | first verify (starts worker) ms | verify, no signature check ms "
                "| verify with signature ms | signature check alone ms | signature check, py_ecc ms "
                "| parse ms | CLI verify s | verify --model s |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for model in MODELS:
                print(_row(model, key, Path(tmp)))
        print()
        print(f"Whole processes, {options.repeats} runs each (load average {os.getloadavg()[0]:.1f}):")
        print()
        rows = _process_times(Path(tmp) / "signed.json", key.public_hex, options.baseline, Path(tmp), options.repeats)
        print("\n".join(rows))
        print(f"load average at the end {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
