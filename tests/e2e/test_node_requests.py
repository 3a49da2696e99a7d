"""Request bodies a hostile client can shape: duplicate keys and numbers beyond float32 get a 422
naming the field (never a 500), and an input that drives the model's output out of range is
refused before any proof job is queued. A real node on loopback, real SQLite.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.node_harness import MODEL, SAMPLE, RunningNode, copy_circuits, start_node

TENSOR = '{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": DATA}'


@pytest.fixture(scope="module")
def node(tiny_circuit: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    running = start_node(
        copy_circuits(tiny_circuit, tmp_path_factory.mktemp("circuits")), tmp_path_factory.mktemp("node") / "state"
    )
    yield running
    running.stop()


def _jobs(node: RunningNode) -> int:
    with sqlite3.connect(node.state_dir / "jobs.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


def _post(node: RunningNode, raw: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{node.url}/v2/models/{MODEL}/infer", content=raw, headers={**node.auth, **(headers or {})}, timeout=60
    )


def _data(*values: str) -> str:
    return "[" + ", ".join([*values, *map(str, SAMPLE[len(values) :])]) + "]"


CASES = {
    "duplicate key in a tensor": (
        '{"inputs": [' + TENSOR.replace('"name": "input"', '"name": "input", "name": "other"') + "]}",
        ["inputs[0]", "'name'", "twice"],
    ),
    "duplicate top-level key": ('{"inputs": [' + TENSOR + '], "inputs": [' + TENSOR + "]}", ["'inputs'", "twice"]),
    "5000-digit integer": (
        '{"inputs": [' + TENSOR.replace("DATA", _data("0.1", "9" * 5000)) + "]}",
        ["inputs[0].data[1]", "5000 digits"],
    ),
    "1e39 (inf as float32)": (
        '{"inputs": [' + TENSOR.replace("DATA", _data("0.1", "1e39")) + "]}",
        ["inputs[0].data[1]", "float32"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_json_gets_422_naming_the_field(node: RunningNode, case: str) -> None:
    text, needles = CASES[case]
    raw = text.replace("DATA", json.dumps(SAMPLE)).encode()
    before = _jobs(node)
    response = _post(node, raw)
    assert response.status_code == 422, response.text
    for needle in needles:
        assert needle in response.json()["error"], response.json()["error"]
    assert _jobs(node) == before


def test_input_that_overflows_the_models_output_is_refused_unqueued(node: RunningNode) -> None:
    before = _jobs(node)
    response = node.infer([3e38] * 8)  # each value is a finite float32; the Gemm sums are not
    assert response.status_code == 422, response.text
    assert "inputs" in response.json()["error"] and "out of range" in response.json()["error"]
    assert _jobs(node) == before  # no proof job for an answer that was never given
    assert node.infer(SAMPLE).status_code == 200  # the node is fine


def _binary(datatype: str, values: np.ndarray) -> tuple[bytes, dict[str, str]]:
    data = values.astype("<f8" if datatype == "FP64" else "<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [1, 8], "datatype": datatype, "parameters": {"binary_data_size": len(data)}}
            ]
        }
    ).encode()
    return header + data, {"Inference-Header-Content-Length": str(len(header))}


@pytest.mark.parametrize(("datatype", "bad"), [("FP64", 1e300), ("FP64", -4e38), ("FP32", np.inf)])
def test_binary_values_beyond_float32_get_422(node: RunningNode, datatype: str, bad: float) -> None:
    values = np.asarray(SAMPLE)
    values[3] = bad
    before = _jobs(node)
    response = _post(node, *_binary(datatype, values))
    assert response.status_code == 422, response.text
    assert "inputs[0]" in response.json()["error"] and "index 3" in response.json()["error"]
    assert _jobs(node) == before
    values[3] = 0.5
    assert _post(node, *_binary(datatype, values)).status_code == 200  # the same in range is served
