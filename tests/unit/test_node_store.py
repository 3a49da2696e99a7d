"""The node's job store on a real SQLite file: durability, claiming, batching windows, re-queueing."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkinfer.node.config import NodeConfig
from zkinfer.node.store import MAX_ATTEMPTS, JobState, NewJob, Store


def _jobs(model: str, *ids: str) -> list[NewJob]:
    return [NewJob(id=i, model=model, payload="{}") for i in ids]


def test_accepted_jobs_survive_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "jobs.sqlite3")
    store.add_many(_jobs("m", "a", "b"))
    store.close()  # as after a crash: a new process opens the same file
    reopened = Store(tmp_path / "jobs.sqlite3")
    assert reopened.count_unfinished(["m"]) == 2
    job = reopened.get("a")
    assert job is not None and job.state is JobState.ACCEPTED and job.receipt is None
    assert reopened.get("nope") is None


def test_claim_finish_and_fail(tmp_path: Path) -> None:
    store = Store(tmp_path / "jobs.sqlite3")
    store.add_many(_jobs("m", "a", "b"))
    first = store.claim(worker=0, caps={"m": 1}, window_s=0)
    assert first is not None and first.ids == ["a"]  # oldest first, one per proof
    second = store.claim(worker=1, caps={"m": 1}, window_s=0)
    assert second is not None and second.ids == ["b"]  # never the same job twice
    assert store.claim(worker=0, caps={"m": 1}, window_s=0) is None
    store.finish(["a"], '{"receipt": 1}', 1.5)
    store.fail(["b"], "ezkl said no")
    a, b = store.get("a"), store.get("b")
    assert a is not None and a.state is JobState.PROVEN and a.receipt == '{"receipt": 1}' and a.batch_row == 0
    assert b is not None and b.state is JobState.FAILED and b.error == "ezkl said no" and not b.internal_error
    assert store.count_unfinished(["m"]) == 0


def test_batches_wait_for_a_full_batch_or_the_window(tmp_path: Path) -> None:
    store = Store(tmp_path / "jobs.sqlite3")
    store.add_many(_jobs("m", "a", "b", "c"))
    assert store.claim(worker=0, caps={"m": 4}, window_s=3600) is None  # 3 of 4, window open
    store.add_many(_jobs("m", "d", "e"))
    full = store.claim(worker=0, caps={"m": 4}, window_s=3600)
    assert full is not None and full.ids == ["a", "b", "c", "d"]
    late = store.claim(worker=0, caps={"m": 4}, window_s=0)  # window over: a short batch goes
    assert late is not None and late.ids == ["e"]
    store.finish(full.ids, "{}", 2.0)
    rows = [store.get(i) for i in full.ids]
    assert [r.batch_row for r in rows if r] == [0, 1, 2, 3] and {r.batch_jobs for r in rows if r} == {4}


def test_models_not_served_are_left_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "jobs.sqlite3")
    store.add_many(_jobs("gone", "a"))
    assert store.claim(worker=0, caps={"m": 1}, window_s=0) is None


def test_requeue_after_a_crash_then_give_up(tmp_path: Path) -> None:
    store = Store(tmp_path / "jobs.sqlite3")
    store.add_many(_jobs("m", "a", "b"))
    assert store.claim(worker=0, caps={"m": 1}, window_s=0) is not None
    assert store.claim(worker=1, caps={"m": 1}, window_s=0) is not None
    assert store.requeue(worker=1) == []  # only worker 1's job goes back
    states = {i: store.get(i).state for i in "ab"}  # type: ignore[union-attr]
    assert states == {"a": JobState.PROVING, "b": JobState.ACCEPTED}
    for _ in range(MAX_ATTEMPTS - 1):  # `a` keeps killing worker 0
        assert store.requeue(worker=0) == []
        claim = store.claim(worker=0, caps={"m": 1}, window_s=0)
        assert claim is not None and claim.ids == ["a"]  # the oldest first
    assert store.requeue(worker=0) == [("a", "m")]
    job = store.get("a")
    assert (
        job is not None and job.state is JobState.FAILED and "not retried" in (job.error or "") and job.internal_error
    )


def test_node_restarts_do_not_count_against_a_job(tmp_path: Path) -> None:
    """A job claimed when the node stops (SIGTERM, kill -9, a reboot) did nothing wrong: it is requeued however often
    that happens."""
    path = tmp_path / "jobs.sqlite3"
    store = Store(path)
    store.add_many(_jobs("m", "a"))
    for _ in range(MAX_ATTEMPTS + 2):
        claim = store.claim(worker=0, caps={"m": 1}, window_s=0)
        assert claim is not None and claim.ids == ["a"]
        store.close()  # the node process goes away with the job claimed
        store = Store(path)
        assert store.requeue() == []  # start-up puts it back
        job = store.get("a")
        assert job is not None and job.state is JobState.ACCEPTED
    claim = store.claim(worker=0, caps={"m": 1}, window_s=0)
    assert claim is not None and claim.ids == ["a"]
    store.finish(["a"], '{"receipt": 1}', 1.0)
    job = store.get("a")
    assert job is not None and job.state is JobState.PROVEN


@pytest.mark.parametrize(
    ("window_ms", "visibility", "private_ok", "expected"),
    [(0, "public", False, 1), (50, "public", False, 8), (50, "hashed", False, 1), (50, "hashed", True, 8)],
)
def test_batching_needs_a_window_and_consent_for_private_inputs(
    window_ms: float, visibility: str, private_ok: bool, expected: int, tmp_path: Path
) -> None:
    config = NodeConfig(
        circuits=tmp_path, state_dir=tmp_path, batch_window_ms=window_ms, batch_private_inputs=private_ok
    )
    assert config.jobs_per_proof(8, visibility) == expected
    assert config.jobs_per_proof(1, visibility) == 1


def test_a_store_from_the_previous_version_opens_and_keeps_its_jobs(tmp_path: Path) -> None:
    """The first stores had no schema version and counted every claim in `attempts`."""
    import sqlite3

    from zkinfer.node import store as store_module

    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(store_module.SCHEMA)
        db.execute(
            "INSERT INTO jobs (id, model, state, payload, accepted_at, attempts, worker) VALUES ('old', 'm', "
            "'proving', '{}', 0, 7, 0)"
        )
    store = Store(path)
    assert store.requeue() == []
    claim = store.claim(worker=0, caps={"m": 1}, window_s=0)
    assert claim is not None and claim.ids == ["old"]
    assert store.requeue(worker=0) == []  # its old claim count is not held against it
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == store_module.SCHEMA_VERSION
