"""The local executor: proofs in prove worker processes, side by side, under a memory ceiling.

Real ezkl proofs of the small tiny-MLP circuit; what a user checks: the receipt verifies, it attests
exactly what an in-process proof of the same input attests, and a proof over the ceiling is a
typed error that names the ceiling and the way out (`--split`), from the library and the CLI.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.cli import zkinfer
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.support.errors import ProofMemoryError, UsageError
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.prover.executor import ProofResult, ProofTask, format_memory, open_executor, parse_memory
from zkinfer.prover.executor.local import LocalExecutor
from zkinfer.prover.prove import Prover
from zkinfer.verify import Policy, verify_receipt

# Below what ezkl needs to prove even the tiny circuit (its prove worker peaks at ~45 MiB resident,
# ~110 MiB of address space), above what the worker needs to start: the proof itself runs out of address space.
TOO_LITTLE = "80MiB"
SAMPLES = [[0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4], [0.8, 0.2, 0.0, 0.6, 0.9, 0.1, 0.5, 0.3]]


@pytest.fixture(scope="module")
def local() -> Iterator[LocalExecutor]:
    executor = LocalExecutor(parallel=2)
    yield executor
    executor.close()


def _verified(receipt: Receipt) -> None:
    verdict = verify_receipt(receipt, Policy())
    assert verdict.verified, verdict.model_dump_json(indent=2)


def _tasks(prover: Prover, folder: Path) -> list[ProofTask]:
    """One proof task per sample, witnesses made here (as a split prover makes its segments')."""
    tasks = []
    for i, values in enumerate(SAMPLES):
        data, witness = folder / f"input{i}.json", folder / f"witness{i}.json"
        data.write_text(json.dumps({"input_data": [values]}))
        _ezkl.gen_witness(data, prover.circuit.compiled_path, witness)
        tasks.append(
            ProofTask(
                compiled=prover.circuit.compiled_path,
                pk=prover.keys.pk,
                srs=prover.keys.srs.path,
                witness=witness,
                proof=folder / f"proof{i}.json",
            )
        )
    return tasks


def test_local_executor_receipt_verifies_and_attests_what_in_process_proof_does(
    small_circuit: Path, local: LocalExecutor, tmp_path: Path
) -> None:
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"input_data": [SAMPLES[0]]}))
    in_process = Prover(small_circuit, prefer_gpu=False)
    on_executor = Prover(small_circuit, prefer_gpu=False, executor=local)
    a, b = in_process.prove(in_process.load_input(data)), on_executor.prove(on_executor.load_input(data))
    _verified(a)
    _verified(b)
    assert b.proof.instances == a.proof.instances  # the same public input and output, proven twice
    assert b.output.felts == a.output.felts
    assert b.proof.hex != a.proof.hex  # two proofs (blinded), not one copied


def test_prove_many_runs_tasks_side_by_side_and_keeps_their_order(
    small_circuit: Path, local: LocalExecutor, tmp_path: Path
) -> None:
    prover = Prover(small_circuit, prefer_gpu=False)
    tasks = _tasks(prover, tmp_path)
    results = local.prove_many(tasks)
    assert len(results) == 2
    for task, result in zip(tasks, results, strict=True):
        witness = json.loads(task.witness.read_text())
        assert result.proof == json.loads(task.proof.read_text())
        assert result.proof["instances"] == [
            [f for tensor in (*witness["inputs"], *witness["outputs"]) for f in tensor]
        ]  # attests its own witness
        ok, reason = _ezkl.verify(
            task.proof, small_circuit / "settings.json", prover.keys.vk, prover.keys.srs.path, False
        )
        assert ok, reason
        assert result.peak_rss_bytes > 0 and result.worker.startswith("local pid ")
    assert results[0].proof["instances"] != results[1].proof["instances"]  # each proof attests its own input, in order
    assert results[0].worker != results[1].worker  # two worker processes, side by side


def test_a_proof_over_the_memory_ceiling_is_a_typed_error_naming_it(small_circuit: Path, tmp_path: Path) -> None:
    prover = Prover(small_circuit, prefer_gpu=False)
    executor = open_executor("local", max_memory=parse_memory(TOO_LITTLE))
    try:
        with pytest.raises(ProofMemoryError) as caught:
            executor.prove_many(_tasks(prover, tmp_path)[:1])
    finally:
        executor.close()
    message = str(caught.value)
    assert "80 MiB" in message and "--max-prove-memory" in message and "--split" in message
    assert str(prover.circuit.compiled_path) in message


def test_cli_prove_under_a_ceiling_fails_with_exit_3_and_proves_under_a_generous_one(
    small_circuit: Path, tmp_path: Path
) -> None:
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"input_data": [SAMPLES[1]]}))
    low = zkinfer(
        "prove", small_circuit, "--input", data, "-o", tmp_path / "low.json", "--cpu", "--max-prove-memory", TOO_LITTLE
    )
    assert low.returncode == 3, low.stderr  # infrastructure: the operator raises the ceiling (or splits the model)
    assert "80 MiB" in low.stderr and "--split" in low.stderr
    assert not (tmp_path / "low.json").exists()
    high = zkinfer(
        "prove", small_circuit, "--input", data, "-o", tmp_path / "high.json", "--cpu", "--max-prove-memory", "2GiB"
    )
    assert high.returncode == 0, high.stderr
    assert zkinfer("verify", tmp_path / "high.json").returncode == 0


@pytest.mark.parametrize(
    "option",
    [
        ["--max-prove-memory", "lots"],
        ["--max-prove-memory", "1MiB"],
        ["--executor", "slurm"],
        ["--ray-address", "127.0.0.1:6379"],
    ],
)
def test_cli_refuses_bad_executor_options_with_exit_2(small_circuit: Path, tmp_path: Path, option: list[str]) -> None:
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"input_data": [SAMPLES[0]]}))
    done = zkinfer("prove", small_circuit, "--input", data, "-o", tmp_path / "r.json", *option)
    assert done.returncode == 2, done.stderr
    assert option[0] in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_refuses_a_ray_address_where_nothing_listens_at_once_with_exit_3(
    small_circuit: Path, tmp_path: Path
) -> None:
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"input_data": [SAMPLES[0]]}))
    done = zkinfer(
        "prove",
        small_circuit,
        "--input",
        data,
        "-o",
        tmp_path / "r.json",
        "--executor",
        "ray",
        "--ray-address",
        "127.0.0.1:1",
    )
    assert done.returncode == 3, done.stderr  # infrastructure: nothing answers there, an operator starts it
    assert "--ray-address 127.0.0.1:1: nothing answers there" in done.stderr
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2GiB", 2 << 30),
        ("512MiB", 512 << 20),
        ("1.5G", 1_500_000_000),
        ("100000000", 100_000_000),
        ("64 mib", 64 << 20),
    ],
)
def test_memory_sizes_parse(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["", "2 GB of RAM", "-1GiB", "1e9", "10MiB"])
def test_memory_sizes_that_are_no_size_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--max-prove-memory"):
        parse_memory(text)


def test_memory_sizes_print_as_people_read_them() -> None:
    assert format_memory(80 << 20) == "80 MiB"
    assert format_memory(2 << 30) == "2 GiB"


def test_a_node_job_over_the_ceiling_fails_naming_it_and_is_not_retried(small_circuit: Path, tmp_path: Path) -> None:
    """The node's worker step on a real store: the job fails (not an internal error, not re-queued) with the ceiling's
    message."""
    from zkinfer.node import jobs, workers
    from zkinfer.node.store import JobState, NewJob, Store

    store = Store(tmp_path / "jobs.sqlite3")
    executor = open_executor("local", max_memory=parse_memory(TOO_LITTLE))
    try:
        prover = Prover(small_circuit, prefer_gpu=False, executor=executor)
        data = tmp_path / "input.json"
        data.write_text(json.dumps({"input_data": [SAMPLES[0]]}))
        sample = prover.load_input(data)
        payload = jobs.encode(prover.circuit.input_specs, sample, prover.circuit.output_specs, prover.fast(sample))
        store.add_many([NewJob(id="job-1", model=prover.circuit.name, payload=payload)])
        claim = store.claim(0, {prover.circuit.name: 1}, 0.0)
        assert claim is not None
        (finished,) = workers._prove(store, prover, claim.model, claim.ids, claim.payloads)
    finally:
        executor.close()
    assert not finished.proven and finished.error is not None and "80 MiB" in finished.error
    view = store.get("job-1")
    assert view is not None and view.state == JobState.FAILED
    assert not view.internal_error and view.error is not None and "--split" in view.error
    assert store.claim(0, {prover.circuit.name: 1}, 0.0) is None  # nothing went back to the queue
    store.close()


@pytest.mark.parametrize(
    ("options", "named"), [({"executor": "slurm"}, "--executor"), ({"ray_address": "127.0.0.1:6379"}, "--ray-address")]
)
def test_serve_refuses_bad_executor_options_naming_them(options: dict[str, str], named: str, tmp_path: Path) -> None:
    from zkinfer.node.config import NodeConfig, NodeConfigError

    with pytest.raises(NodeConfigError, match=named):
        NodeConfig(circuits=tmp_path, state_dir=tmp_path, **options)  # type: ignore[arg-type]


class _SwappingExecutor:
    """A real executor whose worker proves another input than the one it was given: what a broken or
    compromised Ray machine could return. Its proofs are genuine and valid, only not of this job."""

    name = "swapping"

    def __init__(self, inner: LocalExecutor, witness: Path) -> None:
        self.inner, self.witness = inner, witness

    def prove_many(self, tasks: Sequence[ProofTask]) -> list[ProofResult]:
        return self.inner.prove_many([dataclasses.replace(task, witness=self.witness) for task in tasks])

    def close(self) -> None:
        pass


def test_a_node_never_stores_a_proof_its_executor_made_of_another_input(
    small_circuit: Path, local: LocalExecutor, tmp_path: Path
) -> None:
    from zkinfer.core.support.errors import ProverLostError
    from zkinfer.node import jobs, workers
    from zkinfer.node.store import JobState, NewJob, Store

    honest = Prover(small_circuit, prefer_gpu=False)
    other = _tasks(honest, tmp_path)[1].witness  # SAMPLES[1]'s witness
    prover = Prover(small_circuit, prefer_gpu=False, executor=_SwappingExecutor(local, other))
    data = tmp_path / "job-input.json"
    data.write_text(json.dumps({"input_data": [SAMPLES[0]]}))
    sample = prover.load_input(data)
    store = Store(tmp_path / "jobs.sqlite3")
    store.add_many(
        [
            NewJob(
                id="job-1",
                model=prover.circuit.name,
                payload=jobs.encode(
                    prover.circuit.input_specs, sample, prover.circuit.output_specs, prover.fast(sample)
                ),
            )
        ]
    )
    claim = store.claim(0, {prover.circuit.name: 1}, 0.0)
    assert claim is not None
    with pytest.raises(ProverLostError, match="does not verify"):
        workers._prove(store, prover, claim.model, claim.ids, claim.payloads)
    view = store.get("job-1")
    assert (
        view is not None and view.receipt is None and view.state == JobState.PROVING
    )  # nothing served; the worker loop re-queues it
    store.requeue(0)
    prover.executor = local  # an honest executor next time: the job is proven
    claim = store.claim(0, {prover.circuit.name: 1}, 0.0)
    assert claim is not None
    (finished,) = workers._prove(store, prover, claim.model, claim.ids, claim.payloads)
    assert finished.proven
    view = store.get("job-1")
    assert view is not None and view.receipt is not None
    _verified(Receipt.model_validate_json(view.receipt))
    store.close()


def test_a_reused_local_executor_keeps_its_prove_workers_between_calls(
    small_circuit: Path, local: LocalExecutor, tmp_path: Path
) -> None:
    """Workers started for one call (from its pool threads) serve the next: none was killed when those threads ended."""
    tasks = _tasks(Prover(small_circuit, prefer_gpu=False), tmp_path)
    first = {r.worker for r in local.prove_many(tasks)}
    second = {r.worker for r in local.prove_many(tasks)}
    assert second == first and len(first) == 2


def test_cli_prove_never_writes_a_receipt_on_a_proof_its_executor_made_of_another_input(
    small_circuit: Path,
    local: LocalExecutor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`zkinfer prove --executor ray` on a compromised Ray machine: the command fails (exit 3) naming
    the failed check, and no receipt is written; with an honest executor the same command writes one."""
    import typer

    from zkinfer.cli import prove as cli

    honest = Prover(small_circuit, prefer_gpu=False)
    other = _tasks(honest, tmp_path)[1].witness  # SAMPLES[1]'s witness
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"input_data": [SAMPLES[0]]}))
    output = tmp_path / "receipt.json"
    monkeypatch.setattr(cli, "chosen_executor", lambda *_: _SwappingExecutor(local, other))
    with pytest.raises(typer.Exit) as exited:
        cli.prove(small_circuit, data, output, executor_name="ray")
    assert exited.value.exit_code == 3 and not output.exists()  # a lost prover: infrastructure, retried
    assert "the proof from the swapping executor does not verify" in capsys.readouterr().err
    monkeypatch.setattr(cli, "chosen_executor", lambda *_: _KeepOpen(local))
    cli.prove(small_circuit, data, output, executor_name="ray")
    _verified(Receipt.model_validate_json(output.read_text()))


class _KeepOpen:
    """The module's honest executor, lent to one command (which closes what it is given)."""

    name = "local"

    def __init__(self, inner: LocalExecutor) -> None:
        self.inner = inner

    def prove_many(self, tasks: Sequence[ProofTask]) -> list[ProofResult]:
        return self.inner.prove_many(tasks)

    def close(self) -> None:
        pass
