"""End to end through the real CLI: export → compile → prove → verify, and tampered receipts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests import tiny
from tests.cli import zkinfer

pytestmark = pytest.mark.e2e  # compiles models and proves: not in the quick loop


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torch model exported, compiled (with the run-args search), proven and receipted via the CLI."""
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("e2e")
    (folder / "example.json").write_text(json.dumps([[0.2] * 8]))
    result = zkinfer(
        "export",
        "tests.torch_factories:tiny_mlp",
        "--example-input",
        folder / "example.json",
        "-o",
        folder / "model.onnx",
    )
    assert result.returncode == 0, result.stderr
    assert "opset 18" in result.stdout
    tiny.samples(folder / "calibration.json", n=12, size=8)
    result = zkinfer("compile", folder / "model.onnx", "--data", folder / "calibration.json", "-o", folder / "circuit")
    assert result.returncode == 0, result.stderr
    (folder / "input.json").write_text(json.dumps({"input_data": [[0.9, 0.1, 0.4, 0.6, 0.3, 0.8, 0.0, 0.5]]}))
    result = zkinfer("prove", folder / "circuit", "--input", folder / "input.json", "-o", folder / "receipt.json")
    assert result.returncode == 0, result.stderr
    return folder


def test_genuine_receipt_verifies_and_matches_torch(exported: Path) -> None:
    import numpy as np
    import torch

    from tests.torch_factories import tiny_mlp

    result = zkinfer("verify", exported / "receipt.json", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["verified"] is True
    assert verdict["identity_pinned"] is False and "unpinned" in verdict["summary"]
    assert {
        c["name"]: c["status"] for c in verdict["checks"]
    } == {  # proven without --key, nothing pinned: neither is a pass
        "well-formed": "pass",
        "verifying-key": "pass",
        "settings": "pass",
        "srs": "pass",
        "proof": "pass",
        "binding": "pass",
        "fast": "pass",
        "identity": "unpinned",
        "signature": "unsigned",
    }
    receipt = json.loads((exported / "receipt.json").read_text())
    x = torch.tensor([[0.9, 0.1, 0.4, 0.6, 0.3, 0.8, 0.0, 0.5]])
    want = tiny_mlp()(x).detach().numpy().ravel()
    proven = np.asarray(receipt["output"]["tensors"][0]["values"])
    fast = np.asarray(receipt["fast"]["tensors"][0]["values"])
    assert np.allclose(fast, want, atol=1e-5)
    assert np.allclose(proven, want, atol=0.01)  # quantized, but close
    assert receipt["fast"]["provider"] == "CPUExecutionProvider"
    assert receipt["fast"]["max_abs_deviation"] == pytest.approx(float(np.max(np.abs(proven - fast))), rel=1e-6)


def test_compile_records_the_run_args_search(exported: Path) -> None:
    manifest = json.loads((exported / "circuit" / "manifest.json").read_text())
    tried = [c for c in manifest["search"] if c["failed"] is None]
    chosen = [c for c in manifest["search"] if c["chosen"]]
    assert len(chosen) == 1 and len(tried) >= 2
    assert chosen[0]["logrows"] == min(
        c["logrows"] for c in tried if c["max_abs_error"] <= 1.5 * min(t["max_abs_error"] for t in tried) + 1e-4
    )
    assert manifest["logrows"] == chosen[0]["logrows"]
    assert manifest["calibration_samples"] == 12  # every sample, not one
    settings = json.loads((exported / "circuit" / "settings.json").read_text())
    assert settings["run_args"]["decomp_base"] == chosen[0]["decomp_base"]


def _tamper(src: Path, dest: Path, edit: object) -> Path:
    doc = json.loads(src.read_text())
    edit(doc)  # type: ignore[operator]
    dest.write_text(json.dumps(doc))
    return dest


def _flip_proof_byte(doc: dict) -> None:
    raw = bytearray(bytes.fromhex(doc["proof"]["hex"]))
    raw[100] ^= 0x01
    doc["proof"]["hex"] = raw.hex()


def _change_output(doc: dict) -> None:
    doc["output"]["tensors"][0]["values"][0] += 0.5


def _change_input(doc: dict) -> None:
    doc["input"]["tensors"][0]["values"][0] = 0.75


@pytest.mark.parametrize(
    ("edit", "failing"),
    [(_change_output, "binding"), (_change_input, "binding"), (_flip_proof_byte, "proof")],
    ids=["output-value", "input-value", "proof-byte"],
)
def test_tampered_receipt_is_rejected(exported: Path, tmp_path: Path, edit: object, failing: str) -> None:
    bad = _tamper(exported / "receipt.json", tmp_path / "bad.json", edit)
    result = zkinfer("verify", bad, "--json")
    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    assert verdict["verified"] is False
    assert failing in [c["name"] for c in verdict["checks"] if c["status"] == "fail"]


def test_swapped_verifying_key_is_rejected(exported: Path, receipt_file: Path, tmp_path: Path) -> None:
    """A vk from another circuit (with its matching digest) cannot verify this proof."""
    other = json.loads(receipt_file.read_text())

    def swap(doc: dict) -> None:
        doc["model"]["verifying_key"] = other["model"]["verifying_key"]
        doc["model"]["vk_digest"] = other["model"]["vk_digest"]

    bad = _tamper(exported / "receipt.json", tmp_path / "bad.json", swap)
    result = zkinfer("verify", bad)
    assert result.returncode == 1
    assert re.search(r"^FAIL\s+proof ", result.stdout, re.M) and "NOT VERIFIED" in result.stdout


def test_verify_prints_every_check_by_name(exported: Path) -> None:
    result = zkinfer("verify", exported / "receipt.json")
    assert result.returncode == 0
    for name in ("well-formed", "verifying-key", "settings", "srs", "proof", "binding", "fast"):
        assert re.search(rf"^PASS\s+{name} ", result.stdout, re.M), result.stdout
    assert re.search(r"^UNPINNED identity ", result.stdout, re.M)  # nothing pinned: not a PASS
    assert re.search(r"^UNSIGNED signature ", result.stdout, re.M)  # proven without --key


def test_keys_are_cached_not_rebuilt(tiny_circuit: Path) -> None:
    from zkinfer.core.formats import circuit
    from zkinfer.prover import keys

    loaded = circuit.load(tiny_circuit)
    first = keys.ensure(loaded)
    stamp = first.pk.stat().st_mtime_ns
    again = keys.ensure(loaded)
    assert again.pk == first.pk and again.pk.stat().st_mtime_ns == stamp
    assert first.srs.k == loaded.logrows  # an SRS of exactly the circuit's k
    assert not list(first.pk.parent.glob("*.tmp"))


def test_copied_circuit_directory_still_loads(tiny_circuit: Path, tmp_path: Path) -> None:
    from zkinfer.core.formats import circuit

    shutil.copytree(tiny_circuit, tmp_path / "c")
    assert circuit.load(tmp_path / "c").manifest == circuit.load(tiny_circuit).manifest


def test_ezkl_noise_hidden_unless_verbose(tiny_dir: Path, tmp_path: Path) -> None:
    args = ("compile", tiny_dir / "model.onnx", "--data", tiny_dir / "calibration.json", "--no-search", "--no-setup")
    quiet = zkinfer(*args, "-o", tmp_path / "a")
    assert quiet.returncode == 0, quiet.stderr
    assert "tract" not in quiet.stderr and "Fidelity" not in quiet.stderr + quiet.stdout
    loud = zkinfer("--verbose", *args, "-o", tmp_path / "b")
    assert loud.returncode == 0, loud.stderr
    assert "tract" in loud.stderr or "ezkl" in loud.stderr
