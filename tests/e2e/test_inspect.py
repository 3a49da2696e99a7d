"""`zkinfer inspect`: a readable summary of what a receipt states, and the values to pin."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.cli import zkinfer
from zkinfer.core.crypto import identity
from zkinfer.core.formats.receipt import load
from zkinfer.verify.inspect import inspect_file, summarize


def test_inspect_prints_model_output_visibility_sizes_signer_and_time(receipt_file: Path, node_key_file: Path) -> None:
    doc = json.loads(receipt_file.read_text())
    result = zkinfer("inspect", receipt_file)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    values = doc["output"]["tensors"][0]["values"]
    argmax = values.index(max(values))
    for expected in (
        doc["model"]["name"],
        doc["model"]["model_digest"],
        doc["model"]["vk_digest"],
        doc["srs"]["fingerprint"],
        "development",
        f"argmax {argmax}",
        "public",
        "baked into the circuit",
        identity.load_key(node_key_file).public_hex,
        doc["issued_at"],
        f"{len(doc['proof']['hex']) // 2} bytes",
    ):
        assert expected in text, expected
    assert "not verified" in text


def test_inspect_json_has_the_numbers(receipt_file: Path) -> None:
    doc = json.loads(receipt_file.read_text())
    result = zkinfer("inspect", receipt_file, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    values = doc["output"]["tensors"][0]["values"]
    assert summary["outputs"][0]["values"] == values and summary["outputs"][0]["argmax"] == values.index(max(values))
    assert summary["vk_bytes"] == len(base64.b64decode(doc["model"]["verifying_key"]))
    assert summary["proof_bytes"] == len(bytes.fromhex(doc["proof"]["hex"]))
    assert summary["public_instances"] == 11
    assert summary["signer"] == doc["signature"]["public_key"] and summary["issued_at"] == doc["issued_at"]
    assert summary["input"][0]["values"] == doc["input"]["tensors"][0]["values"]


def test_inspect_hashed_receipt_shows_commitments_not_values(hashed_receipt_file: Path) -> None:
    summary = inspect_file(hashed_receipt_file)
    doc = json.loads(hashed_receipt_file.read_text())
    assert summary.input is None and summary.input_commitment == doc["input"]["commitment"]
    assert summary.params_visibility == "hashed" and summary.params_commitment == doc["params"]["commitment"]


def test_inspect_unsigned_receipt(receipt_file: Path) -> None:
    unsigned = load(receipt_file).model_copy(update={"signature": None})
    summary = summarize(unsigned)
    assert summary.signer is None and summary.signature_scheme is None


def test_inspect_malformed_receipt_exits_2_naming_the_field(receipt_file: Path, tmp_path: Path) -> None:
    doc = json.loads(receipt_file.read_text())
    del doc["proof"]["hex"]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    result = zkinfer("inspect", tmp_path / "bad.json")
    assert result.returncode == 2
    assert "proof.hex" in result.stderr and "Traceback" not in result.stderr
