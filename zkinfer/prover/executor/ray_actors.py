"""The `ray` executor: proofs as calls to Ray actors, one actor per proving key and caller process.

An actor is created the first time its key is needed and kept: it checks the key's files once on
its machine (`loads` counts it), starts one prove worker (ezkl imported once) and proves every later
task for that key with them, so a task carries only its witness (through Ray's object store) and
brings back its proof: the executor works on a cluster whose machines share the key cache
($ZKINFER_HOME) but not the caller's temporary files. ezkl 23's Python `prove` takes the key by path
and reads it again for every proof (it has no in-memory key handle), so "kept" means the key stays on
the actor's machine, checked, with a warm worker beside it, not a key deserialized once.

Actors ask Ray for no CPU (`num_cpus=0`): an actor lives as long as the executor, and reserving a
core for each would leave a 2-core machine unable to hold the four actors of a 4-segment circuit.
They are spread over the cluster's machines (SPREAD), and each worker's rayon pool takes all the cores
of its machine (actors proving side by side on one machine share them; the local executor divides them).
An actor that dies (its process killed, or an out-of-memory kill) is not restarted by
Ray behind the caller's back: the task fails with `ProverLostError`, so the node's job store counts
the attempt and re-queues the job (`node/workers.py`), and the next task for that key gets a new actor.

Without `--ray-address` a local Ray is started for this executor and stopped by `close`: sized for a
small machine (no dashboard, a 128 MiB object store, logs in a temporary directory).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from zkinfer.core.support.errors import ExecutorError, ProverLostError, ProvingError, UsageError
from zkinfer.core.zkp.ezkl_worker import ProveAnswer, ProveProcess
from zkinfer.prover.executor.tasks import ProofResult, ProofTask, cpu_count, result

NAMESPACE = "zkinfer"
ACTOR_PREFIX = "zkinfer-prove-"
OBJECT_STORE_BYTES = 128 << 20


class ProverActor:
    """The actor's body (wrapped by `ray.remote` when Ray is imported): one proving key, one prove worker."""

    def __init__(self, compiled: str, pk: str, srs: str, memory_bytes: int | None) -> None:
        self.compiled, self.pk, self.srs = compiled, pk, srs
        self.loads = 0  # times this actor checked and took its key's files: once, however many tasks follow
        self.proofs = 0
        self.busy = False
        self._ready = False
        self._worker = ProveProcess(memory_bytes)  # dies with the actor (PR_SET_PDEATHSIG)
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._ready:
            return
        missing = [p for p in (self.compiled, self.pk, self.srs) if not os.path.isfile(p)]
        if missing:
            raise ExecutorError(
                f"{missing[0]}: not on Ray machine {socket.gethostname()}; "
                "every machine of the cluster needs the circuit and the key cache "
                "($ZKINFER_HOME, e.g. on a shared file system) at the same path"
            )
        self.loads += 1
        self._ready = True

    def prove(self, witness: bytes) -> tuple[ProveAnswer, bytes]:
        """Prove one witness (its file's bytes); the proof document's bytes come back (empty on failure)."""
        with self._lock:
            self._load()
            self.busy = True
            try:
                with tempfile.TemporaryDirectory(prefix="zkinfer-actor-") as tmp:
                    return self._prove_in(tmp, witness)
            finally:
                self.busy = False

    def _prove_in(self, tmp: str, witness: bytes) -> tuple[ProveAnswer, bytes]:
        witness_path, proof_path = os.path.join(tmp, "witness.json"), os.path.join(tmp, "proof.json")
        with open(witness_path, "wb") as file:
            file.write(witness)
        answer = self._worker.prove(witness_path, self.compiled, self.pk, proof_path, self.srs)
        self.proofs += answer.ok
        if not answer.ok:
            return answer, b""
        with open(proof_path, "rb") as file:
            return answer, file.read()

    def info(self) -> dict[str, Any]:
        """What a caller or test may check: this actor's pid, its prove worker's, and its counters."""
        return {
            "pid": os.getpid(),
            "worker_pid": self._worker.pid,
            "loads": self.loads,
            "proofs": self.proofs,
            "busy": self.busy,
        }


def actor_name(pk: Path, instance: str) -> str:
    """The named actor for a proving key and an executor instance (several callers may share a cluster)."""
    return f"{ACTOR_PREFIX}{hashlib.sha256(str(pk.resolve()).encode()).hexdigest()[:16]}-{instance}"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UsageError("--executor ray needs Ray: pip install 'zkinfer[ray]' (or choose --executor local)") from exc
    return ray


PROBE_TIMEOUT_S = 5.0


def check_address(address: str) -> None:
    """Fail fast on a `HOST:PORT` where nothing listens: `ray.init` would retry it for ever. (`auto`
    and `ray://` client addresses are left to Ray.)"""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise ExecutorError(
            f"--ray-address {address}: nothing answers there ({exc}); "
            "start the cluster's head (`ray start --head`) or drop --ray-address for a local Ray"
        ) from exc


def start_local_ray(num_cpus: int | None = None) -> tuple[str, str]:
    """Start a small local Ray in this process (a driver): its address for other processes, and its
    temporary directory (sockets, logs); both go at exit if no executor's `close` stopped them first."""
    ray = _import_ray()
    temp_dir = tempfile.mkdtemp(prefix="zkray-")  # short: Ray's socket paths must fit in 107 bytes
    ray.init(
        address="local",
        num_cpus=num_cpus or cpu_count(),
        include_dashboard=False,
        object_store_memory=OBJECT_STORE_BYTES,
        _temp_dir=temp_dir,
        log_to_driver=False,
        namespace=NAMESPACE,
        configure_logging=False,
    )
    atexit.register(_stop_local_ray, ray, temp_dir)  # runs before Ray's own exit hook (last in, first out)
    return str(ray.get_runtime_context().gcs_address), temp_dir


def _stop_local_ray(ray: Any, temp_dir: str) -> None:
    """Stop the local Ray, then remove its sockets and logs."""
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, max_memory: int | None = None, instance: str | None = None) -> None:
        self._ray = ray = _import_ray()
        self.max_memory = max_memory
        self.instance = (
            instance or f"{socket.gethostname()}-{os.getpid()}"
        )  # its own actors: another caller closing its executor never kills them
        self._temp_dir: str | None = None
        if not ray.is_initialized():
            if address is None:
                _, self._temp_dir = start_local_ray()
            else:
                check_address(address)
                try:
                    ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
                except Exception as exc:  # Ray raises ConnectionError, RuntimeError or its own types
                    raise ExecutorError(
                        f"--ray-address {address}: could not join that Ray cluster ({type(exc).__name__}: {exc}); "
                        "start it with `ray start --head` or drop --ray-address for a local one"
                    ) from exc
        self._remote = ray.remote(ProverActor)
        self._actors: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return str(self._ray.get_runtime_context().gcs_address)

    def actor(self, task: ProofTask) -> Any:
        """The actor for the task's proving key: this executor's, an existing one of the same name, or a new one."""
        name = actor_name(task.pk, self.instance)
        with self._lock:
            if name not in self._actors:
                self._actors[name] = self._remote.options(
                    name=name,
                    namespace=NAMESPACE,
                    get_if_exists=True,
                    num_cpus=0,
                    max_concurrency=4,
                    max_restarts=0,
                    scheduling_strategy="SPREAD",
                ).remote(str(task.compiled.resolve()), str(task.pk.resolve()), str(task.srs.resolve()), self.max_memory)
            return self._actors[name]

    def _forget(self, name: str) -> None:
        with self._lock:
            self._actors.pop(name, None)

    def _prove(self, task: ProofTask) -> ProofResult:
        ray = self._ray
        from ray.exceptions import RayActorError, RayTaskError

        name = actor_name(task.pk, self.instance)
        try:
            answer, proof = ray.get(self.actor(task).prove.remote(task.witness.read_bytes()))
        except RayActorError as exc:
            self._forget(name)
            raise ProverLostError(
                f"{task.compiled}: Ray actor {name} died before the proof was done ({type(exc).__name__}); "
                "the task may be retried"
            ) from exc
        except RayTaskError as exc:
            cause = cast(Any, exc).as_instanceof_cause()  # Ray leaves it untyped
            if isinstance(
                cause, (ProvingError, ExecutorError)
            ):  # raised by the actor itself (e.g. a key not on its machine)
                raise type(cause)(str(cause).split("\n")[-1] or str(cause)) from exc
            raise ExecutorError(f"{task.compiled}: the Ray actor {name} failed: {exc}") from exc
        if answer.ok:
            task.proof.write_bytes(proof)
        return result(task, answer, self.max_memory, f"ray actor {name} pid {answer.pid or '?'}")

    def prove_many(self, tasks: Sequence[ProofTask]) -> list[ProofResult]:
        """Prove every task on its key's actor; tasks of different keys run at once. Results in the tasks' order."""
        if not tasks:
            return []
        if len(tasks) == 1:
            return [self._prove(tasks[0])]
        with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="zkinfer-ray") as pool:
            return list(pool.map(self._prove, tasks))

    def info(self, task: ProofTask) -> dict[str, Any]:
        """The actor's `info()` for the task's key (its pid, its prove worker's, how often it loaded the key)."""
        return dict(self._ray.get(self.actor(task).info.remote()))

    def close(self) -> None:
        """Stop this executor's actors, and the local Ray if it started one."""
        with self._lock:
            actors, self._actors = list(self._actors.values()), {}
        for handle in actors:
            with contextlib.suppress(Exception):  # already dead: nothing to stop
                self._ray.kill(handle)
        if self._temp_dir is not None:  # the local Ray this executor started
            _stop_local_ray(self._ray, self._temp_dir)
