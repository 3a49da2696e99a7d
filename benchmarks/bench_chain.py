"""Gas on a real chain (a local anvil, started and stopped here): what each on-chain step costs, per circuit.

Circuits: the test suite's tiny MLP (8-6-3, decomposition 1024/3), and the bundled digits MLP and CNN
(circuits/). For each, one signed receipt of its example input is proven, then every function in ROWS
measures one row of the table. Gas is what the mined transaction used (`gasUsed`: 21,000 base, the
calldata and the execution), so it is the cost a node or challenger pays, not an estimate.

Add a measurement by writing `def row_xxx(bench: Bench, case: Case) -> Row` and appending it to
ROWS (the stake contract's register / claim / challenge / answer rows are in `stake_rows`, the signatures
contract's key registration and equivocation slash in `signature_rows`).

Run from the repository root: `python -m benchmarks.bench_chain` (a few minutes on 2 cores: keys
are set up, and each verifier compiled, in a fresh temporary $ZKINFER_HOME unless --home is given).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CODE_SIZE_LIMIT = 1 << 20  # the dev chain lifts EIP-170 so an oversized verifier is still measured (and flagged)


@dataclass
class Case:
    """One circuit and one genuine signed receipt of it."""

    name: str
    circuit_dir: Path
    receipt: Any  # zkinfer.core.formats.receipt.Receipt
    facts: dict[str, Any] = field(default_factory=dict)  # what earlier rows learnt (e.g. the verifier's address)


@dataclass
class Bench:
    chain: Any  # zkinfer.chain.account.Chain
    work: Path


@dataclass(frozen=True)
class Row:
    circuit: str
    step: str
    gas: int | None
    note: str = ""


def row_deploy_verifier(bench: Bench, case: Case) -> Row:
    from zkinfer.chain import solidity, verifier

    started = time.perf_counter()
    artifact = verifier.for_circuit(case.circuit_dir)  # generate + compile (cached per key)
    built_s = time.perf_counter() - started
    result = verifier.deploy_verifier(
        case.circuit_dir, bench.chain, bench.work / f"{case.name}-deployments.json", allow_oversize=True
    )
    case.facts["verifier"] = result.deployment.address
    size = len(artifact.compiled.runtime)
    over = (
        f", OVER EIP-170's {solidity.EIP170_LIMIT}: no public network deploys it"
        if size > solidity.EIP170_LIMIT
        else ""
    )
    return Row(
        case.name,
        "deploy verifier",
        result.deployment.gas_used,
        f"runtime {size} bytes{over}; generate + compile {built_s:.1f} s",
    )


def row_verify_proof(bench: Bench, case: Case) -> Row:
    from zkinfer.chain import calldata, deploy

    data = calldata.verifier_calldata(case.receipt)
    sent = deploy.send(bench.chain, {"to": case.facts["verifier"], "data": data}, "verifyProof")
    instances = sum(len(column) for column in case.receipt.proof.instances)
    return Row(
        case.name,
        "verifyProof (transaction)",
        sent.gas_used,
        f"{len(case.receipt.proof.hex)}-byte proof, {instances} instances, calldata {len(data)} bytes",
    )


def row_verify_rejected(bench: Bench, case: Case) -> Row:
    """A tampered proof: the verifier reverts (eth_call), so a transaction would pay and fail."""
    import copy

    from zkinfer.chain import verifier

    forged = copy.deepcopy(case.receipt)
    flipped = bytearray(forged.proof.hex)
    flipped[100] ^= 1
    forged.proof.hex = bytes(flipped)
    answer = verifier.call_verify(bench.chain, case.facts["verifier"], forged)
    return Row(
        case.name,
        "verifyProof, one proof byte flipped",
        None,
        "rejected (reverts)" if not answer.accepted else "ACCEPTED: a bug",
    )


ROWS: list[Callable[[Bench, Case], Row]] = [row_deploy_verifier, row_verify_proof, row_verify_rejected]


def _tiny_circuit(work: Path) -> tuple[Path, Path]:
    """The test suite's tiny MLP (tests/tiny.py) compiled with its small decomposition."""
    from tests import tiny
    from tests.conftest import SMALL_DECOMPOSITION
    from zkinfer import compile_model

    folder = work / "tiny"
    folder.mkdir()
    tiny.mlp(folder / "model.onnx")
    tiny.samples(folder / "calibration.json", n=16, size=8)
    (folder / "input.json").write_text(json.dumps({"input_data": [[0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]]}))
    compile_model(
        folder / "model.onnx",
        folder / "calibration.json",
        folder / "circuit",
        search=False,
        decomposition=SMALL_DECOMPOSITION,
    )
    return folder / "circuit", folder / "input.json"


def _cases(work: Path, only: list[str] | None) -> list[Case]:
    import shutil

    from zkinfer.core.crypto import identity
    from zkinfer.prover.prove import Prover

    key = identity.new_key()
    wanted = {
        "tiny_mlp": None,
        "digits_mlp": REPO / "circuits" / "digits_mlp",
        "digits_cnn": REPO / "circuits" / "digits_cnn",
    }
    cases = []
    for name, source in wanted.items():
        if only and name not in only:
            continue
        if source is None:
            circuit_dir, input_file = _tiny_circuit(work)
        else:  # a copy: deployments.json is written beside the circuit by default, keep the repo clean
            circuit_dir, input_file = work / name, REPO / "models" / f"{name}_input.json"
            shutil.copytree(source, circuit_dir)
        prover = Prover(circuit_dir, prefer_gpu=False, signer=key)
        cases.append(Case(name, circuit_dir, prover.prove(prover.load_input(input_file))))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="$ZKINFER_HOME to use (default: a fresh temporary one)")
    parser.add_argument(
        "--only",
        action="append",
        choices=["tiny_mlp", "digits_mlp", "digits_cnn"],
        help="measure only this circuit (repeatable)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zkinfer-bench-chain-") as tmp:
        work = Path(tmp)
        os.environ["ZKINFER_HOME"] = str(args.home or work / "home")
        from zkinfer.chain import account, devchain, toolchain

        cases = _cases(work, args.only)
        with devchain.dev_chain(work / "chain", code_size_limit=CODE_SIZE_LIMIT) as running:
            bench = Bench(account.connect(running.rpc_url, running.default_key), work)
            print(
                f"anvil {toolchain.ANVIL_VERSION} (chain id {running.chain_id}, "
                f"code size limit lifted to {CODE_SIZE_LIMIT}), solc {toolchain.SOLC_VERSION}"
            )
            print(f"| {'circuit':<11} | {'step':<38} | {'gas':>10} | note")
            print(f"|{'-' * 13}|{'-' * 40}|{'-' * 12}|------")
            # the stake, signatures and oracle contracts' rows (they import this module's types)
            from benchmarks import oracle_rows, signature_rows, stake_rows

            for case in cases:
                for measure in [*ROWS, *stake_rows.ROWS, *signature_rows.ROWS, *oracle_rows.ROWS]:
                    row = measure(bench, case)
                    gas = f"{row.gas:,}" if row.gas is not None else "-"
                    print(f"| {row.circuit:<11} | {row.step:<38} | {gas:>10} | {row.note}", flush=True)


if __name__ == "__main__":
    main()
