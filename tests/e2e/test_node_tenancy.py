"""Who may read what on a node: a receipt belongs to the API key that asked for it (unless the
request made it public), a call without a key learns nothing (not even which models are served),
and `/metrics` is open, keyed or off as the operator chose. A real node on loopback, real SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.node_harness import API_KEY, MODEL, OTHER_KEY, SAMPLE, RunningNode, copy_circuits, start_node


@pytest.fixture(scope="module")
def circuits(tiny_circuit: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_circuits(tiny_circuit, tmp_path_factory.mktemp("circuits"))


@pytest.fixture(scope="module")
def node(circuits: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    running = start_node(circuits, tmp_path_factory.mktemp("node") / "state")
    yield running
    running.stop()


def _get(node: RunningNode, path: str, key: str | None = None) -> httpx.Response:
    return httpx.get(f"{node.url}{path}", headers={"Authorization": f"Bearer {key}"} if key else {}, timeout=30)


def _not_found(response: httpx.Response, receipt_id: str) -> tuple[int, str]:
    return response.status_code, response.json()["error"].replace(receipt_id, "ID")


def test_a_receipt_belongs_to_the_key_that_asked(node: RunningNode) -> None:
    receipt_id = node.infer(SAMPLE).json()["parameters"]["receipt_id"]
    assert node.receipt(receipt_id).status_code == 200
    other = _get(node, f"/v1/receipts/{receipt_id}", OTHER_KEY)
    unknown_id = "B" * 22
    unknown = _get(node, f"/v1/receipts/{unknown_id}", OTHER_KEY)
    assert (
        _not_found(other, receipt_id) == _not_found(unknown, unknown_id) and other.status_code == 404
    )  # the same answer as for no such job


def test_a_public_receipt_is_readable_by_every_key(node: RunningNode) -> None:
    response = node.infer(SAMPLE, parameters={"receipt_public": True})
    assert response.status_code == 200, response.text
    receipt_id = response.json()["parameters"]["receipt_id"]
    assert node.receipt(receipt_id, key=OTHER_KEY).status_code == 200
    assert _get(node, f"/v1/receipts/{receipt_id}").status_code == 401  # still needs a key
    bad = node.infer(SAMPLE, parameters={"receipt_public": "yes"})
    assert bad.status_code == 422 and "parameters.receipt_public" in bad.json()["error"]


def test_jobs_from_before_owners_are_readable_by_no_key(node: RunningNode) -> None:
    with sqlite3.connect(node.state_dir / "jobs.sqlite3") as db:  # as a job stored by the previous version (no owner)
        db.execute(
            "INSERT INTO jobs (id, model, state, payload, accepted_at) VALUES ('from-before', 'retired', 'accepted', "
            "'{}', 0)"
        )
    for key in (API_KEY, OTHER_KEY):
        assert _get(node, "/v1/receipts/from-before", key).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/nope",
        f"/v2/models/{MODEL}",
        f"/v2/models/{MODEL}/ready",
        f"/v2/models/{MODEL}/versions/1",
        "/v1/receipts/x",
        "/metrics",
    ],
)
def test_without_a_key_nothing_is_revealed(node: RunningNode, path: str) -> None:
    response = _get(node, path)
    assert response.status_code == 401, response.text
    assert MODEL not in response.text and "zkinfer_" not in response.text


def test_open_routes_list_no_models(node: RunningNode) -> None:
    for path in ("/v2/health/live", "/v2/health/ready", "/v2"):
        response = _get(node, path)
        assert response.status_code == 200 and MODEL not in response.text


def test_unknown_models_are_404_after_auth_without_the_others(node: RunningNode) -> None:
    for response in (_get(node, "/v2/models/nope", API_KEY), node.infer(SAMPLE, model="nope")):
        assert response.status_code == 404 and "'nope'" in response.json()["error"]
        assert MODEL not in response.json()["error"]


def test_metrics_access_is_a_setting(node: RunningNode, circuits: Path, tmp_path: Path) -> None:
    assert "zkinfer_requests_total" in _get(node, "/metrics", API_KEY).text  # default: needs a key
    public = start_node(circuits, tmp_path / "public", "--metrics", "public")
    try:
        assert "zkinfer_requests_total" in _get(public, "/metrics").text
    finally:
        public.stop()
    off = start_node(circuits, tmp_path / "off", "--metrics", "off")
    try:
        assert _get(off, "/metrics", API_KEY).status_code == 404
    finally:
        off.stop()
