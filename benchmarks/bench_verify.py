"""Time `verify` on a signed receipt of each sample model, with and without the signature check.

The signature check is a BLS12-381 pairing in pure Python (py_ecc), the proof check is ezkl in the
isolated worker process (its first call also starts the worker); `--model` rebuilds the verifying
key from the model file (compile + key setup in a one-shot worker). Prints a markdown table of
medians over REPEATS runs, plus one `zkinfer verify` CLI run (process start and imports included).

Run from the repository root: `python -m benchmarks.bench_verify` (about a minute on 2 cores;
keys are set up in a fresh temporary $ZKINFER_HOME).
"""

from __future__ import annotations

import os
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


def _median_ms(action: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _row(model: str, key: object, tmp: Path) -> str:
    """Prove the model's example input once (signed), then time verifying that receipt."""
    from zkinfer import identity
    from zkinfer.digest import circuit_digest
    from zkinfer.policy import Policy
    from zkinfer.prove import Prover
    from zkinfer.receipt import parse, save
    from zkinfer.verify import verify_receipt

    assert isinstance(key, identity.NodeKey)
    prover = Prover(REPO / "circuits" / model, prefer_gpu=False, signer=key)
    receipt = prover.prove(prover.load_input(REPO / "models" / f"{model}_input.json"))
    path = tmp / f"{model}.json"
    save(receipt, path)
    pinned = Policy(expect_circuit=circuit_digest(receipt.model.vk_digest, receipt.model.settings), trusted_srs=[receipt.srs.fingerprint])
    start = time.perf_counter()
    assert verify_receipt(receipt, pinned, check_signature=False).verified
    first = (time.perf_counter() - start) * 1000
    without = _median_ms(lambda: verify_receipt(receipt, pinned, check_signature=False))
    with_signature = _median_ms(lambda: verify_receipt(receipt, pinned))
    signature = _median_ms(lambda: identity.check_receipt_signature(receipt))
    document = receipt.model_dump(mode="json")
    parse_ms = _median_ms(lambda: parse(document))
    assert verify_receipt(receipt, pinned).verified
    start = time.perf_counter()
    with_model = pinned.model_copy(update={"model_file": str(REPO / "models" / f"{model}.onnx")})
    rebuilt = verify_receipt(receipt, with_model, check_signature=False)
    model_s = time.perf_counter() - start
    assert rebuilt.verified, rebuilt.checks
    start = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "zkinfer", "verify", str(path), "--expect-signer", key.public_hex], capture_output=True, text=True, cwd=REPO)
    cli_s = time.perf_counter() - start
    assert cli.returncode == 0, cli.stdout + cli.stderr
    return f"| {model} | {receipt.srs.k} | {len(receipt.proof.hex) // 2} | {first:.0f} | {without:.0f} | {with_signature:.0f} | {signature:.0f} | {parse_ms:.2f} | {cli_s:.2f} | {model_s:.2f} |"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="zkinfer-bench-") as tmp:
        os.environ["ZKINFER_HOME"] = str(Path(tmp) / "home")
        from zkinfer import identity

        key = identity.new_key()
        print("| model | k | proof bytes | first verify (starts worker) ms | verify, no signature check ms | verify with signature ms | signature check alone ms | parse ms | CLI verify s | verify --model s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for model in MODELS:
            print(_row(model, key, Path(tmp)))


if __name__ == "__main__":
    main()
