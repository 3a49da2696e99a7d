"""The Ray executor on a real local Ray: one actor per proving key, kept across tasks; a node proving
on Ray whose actor is killed mid-proof still delivers every receipt (the job is re-queued, not lost).

One small local Ray (2 CPUs, no dashboard, 128 MiB object store), started on demand by the first
executor as it is without --ray-address, serves the whole module; the node and the CLI under test join
it with --ray-address, so the test can find the node's actor and kill its process.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from tests.cli import zkinfer
from tests.node_harness import SAMPLE, RunningNode, start_node
from tests.waiting import wait_until
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.support.errors import ProofMemoryError
from zkinfer.prover.executor import ProofTask, parse_memory
from zkinfer.prover.executor.ray_actors import ACTOR_PREFIX, NAMESPACE, RayExecutor
from zkinfer.prover.prove import Prover
from zkinfer.verify import Policy, verify_receipt

OTHER_SAMPLE = [0.8, 0.2, 0.0, 0.6, 0.9, 0.1, 0.5, 0.3]


@pytest.fixture(scope="module")
def kept() -> Iterator[RayExecutor]:
    """A Ray executor given no address: it starts the module's local Ray on demand, and stops it on close."""
    assert not ray.is_initialized()
    executor = RayExecutor(instance="keep")
    temp_dir = executor._temp_dir
    assert temp_dir is not None and Path(temp_dir).is_dir()
    yield executor
    executor.close()
    assert not ray.is_initialized()
    assert not Path(temp_dir).exists()  # its sockets and logs go with it


@pytest.fixture(scope="module")
def ray_address(kept: RayExecutor) -> str:
    return kept.address


def _input(folder: Path, values: list[float], name: str) -> Path:
    path = folder / name
    path.write_text(json.dumps({"input_data": [values]}))
    return path


def _verified(receipt: Receipt, signer: str | None = None) -> None:
    verdict = verify_receipt(receipt, Policy(expect_signer=signer))
    assert verdict.verified, verdict.model_dump_json(indent=2)


def _task(prover: Prover) -> ProofTask:
    """The task shape that names the prover's key (its actor), for `RayExecutor.info`."""
    keys = prover.keys
    return ProofTask(
        compiled=prover.circuit.compiled_path, pk=keys.pk, srs=keys.srs.path, witness=keys.pk, proof=keys.pk
    )


def test_ray_actor_loads_the_key_once_and_its_receipts_attest_what_local_ones_do(
    kept: RayExecutor, small_circuit: Path, tmp_path: Path
) -> None:
    local = Prover(small_circuit, prefer_gpu=False)
    on_ray = Prover(small_circuit, prefer_gpu=False, executor=kept)
    for i, values in enumerate([SAMPLE, OTHER_SAMPLE]):
        data = _input(tmp_path, values, f"input{i}.json")
        receipt = on_ray.prove(on_ray.load_input(data))
        _verified(receipt)
        assert receipt.proof.instances == local.prove(local.load_input(data)).proof.instances
    info = kept.info(_task(on_ray))
    assert info["proofs"] == 2
    assert info["loads"] == 1  # the key was checked and taken once, then kept for the second task
    assert info["pid"] != os.getpid() and info["worker_pid"] not in (None, info["pid"])


def test_a_proof_over_the_ceiling_on_ray_is_the_same_typed_error(
    ray_address: str, small_circuit: Path, tmp_path: Path
) -> None:
    executor = RayExecutor(instance="ceiling", max_memory=parse_memory("80MiB"))
    try:
        prover = Prover(small_circuit, prefer_gpu=False, executor=executor)
        with pytest.raises(ProofMemoryError, match=r"80 MiB.*--split"):
            prover.prove(prover.load_input(_input(tmp_path, SAMPLE, "input.json")))
    finally:
        executor.close()


def _node_actor(timeout_s: float = 120) -> Any:
    """The node's prover actor in the shared cluster, once its worker has created it."""

    def node_actors() -> list[str]:
        names = [
            a["name"]
            for a in ray.util.list_named_actors(all_namespaces=True)
            if a["namespace"] == NAMESPACE and a["name"].startswith(ACTOR_PREFIX)
        ]
        return [n for n in names if not n.endswith(("-keep", "-ceiling"))]  # not this module's own executors

    names = wait_until(node_actors, what="the node's prover actor", timeout_s=timeout_s, interval_s=0.05)
    return ray.get_actor(names[0], namespace=NAMESPACE)


def _kill_mid_proof(timeout_s: float = 300) -> dict[str, Any]:
    """SIGKILL the actor's process while it is proving; its info from just before."""

    def busy_actor() -> dict[str, Any] | None:
        try:
            info = ray.get(_node_actor().info.remote(), timeout=30)
        except ray.exceptions.RayActorError:  # a previous one, just killed: look again
            return None
        return dict(info) if info["busy"] else None

    info = wait_until(busy_actor, what="the node's actor proving", timeout_s=timeout_s, interval_s=0.02)
    os.kill(info["pid"], signal.SIGKILL)
    return info


def test_a_ray_actor_killed_mid_proof_means_the_job_is_retried_not_lost(
    ray_address: str, small_circuit: Path, tmp_path: Path
) -> None:
    circuits = tmp_path / "circuits"
    circuits.mkdir()
    os.symlink(small_circuit, circuits / "small")
    node: RunningNode = start_node(
        circuits, tmp_path / "state", "--executor", "ray", "--ray-address", ray_address, "--cpu"
    )
    try:
        ids = [node.infer(values).json()["parameters"]["receipt_id"] for values in (SAMPLE, OTHER_SAMPLE, SAMPLE)]
        killed = _kill_mid_proof()
        for receipt_id in ids:
            response = node.receipt(receipt_id)
            assert response.status_code == 200, response.text
            _verified(Receipt.model_validate_json(response.text), node.public_key)
        after = ray.get(_node_actor().info.remote())
        assert after["pid"] != killed["pid"]  # a new actor proved what the killed one had not finished
        assert after["loads"] == 1
        with sqlite3.connect(node.state_dir / "jobs.sqlite3") as db:
            attempts = dict(
                db.execute(f"SELECT id, attempts FROM jobs WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall()
            )
        assert sorted(attempts.values()) == [0, 0, 1]  # exactly the job in flight was retried, once
        assert "re-queuing" in node.log.read_text()
    finally:
        node.stop()


def test_cli_prove_on_a_ray_cluster_by_address(ray_address: str, small_circuit: Path, tmp_path: Path) -> None:
    data = _input(tmp_path, OTHER_SAMPLE, "input.json")
    done = zkinfer(
        "prove",
        small_circuit,
        "--input",
        data,
        "-o",
        tmp_path / "receipt.json",
        "--cpu",
        "--executor",
        "ray",
        "--ray-address",
        ray_address,
    )
    assert done.returncode == 0, done.stderr
    assert zkinfer("verify", tmp_path / "receipt.json").returncode == 0
