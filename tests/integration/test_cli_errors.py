"""Bad input gets exit code 2 and a message naming the problem, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import zkinfer


def _assert_clean_error(result: object, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    text = " ".join(result.stderr.split())  # type: ignore[attr-defined]
    assert "Traceback" not in text
    for needle in needles:
        assert needle in text, text


def test_wrong_shape(tiny_circuit: Path, tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text(json.dumps({"input_data": [[0.1, 0.2, 0.3]]}))
    _assert_clean_error(
        zkinfer("prove", tiny_circuit, "--input", tmp_path / "in.json", "-o", tmp_path / "r.json"),
        "in.json",
        "'input'",
        "[1, 8]",
        "got 3 values",
    )
    assert not (tmp_path / "r.json").exists()


def test_nan_input(tiny_circuit: Path, tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text('{"input_data": [[0.1, NaN, 0.3, 0, 0, 0, 0, 0]]}')
    _assert_clean_error(
        zkinfer("prove", tiny_circuit, "--input", tmp_path / "in.json"), "in.json", "input_data[0][1]", "NaN"
    )


def test_npy_and_plain_array_inputs_are_accepted(tiny_circuit: Path, tmp_path: Path) -> None:
    import numpy as np

    from zkinfer.prover.prove import Prover

    prover = Prover(tiny_circuit)
    np.save(tmp_path / "in.npy", np.full((1, 8), 0.25, dtype=np.float32))
    (tmp_path / "in.json").write_text(json.dumps([0.25] * 8))
    a, b = prover.load_input(tmp_path / "in.npy"), prover.load_input(tmp_path / "in.json")
    assert a[0].shape == (1, 8) and np.array_equal(a[0], b[0])


def test_missing_input_file(tiny_circuit: Path, tmp_path: Path) -> None:
    _assert_clean_error(
        zkinfer("prove", tiny_circuit, "--input", tmp_path / "nope.json"), "nope.json", "no such input file"
    )


def test_missing_circuit(tmp_path: Path) -> None:
    _assert_clean_error(
        zkinfer("prove", tmp_path / "nothing", "--input", tmp_path / "x.json"), "nothing", "zkinfer compile"
    )


def test_corrupt_onnx(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage that is not a protobuf model" * 3)
    (tmp_path / "cal.json").write_text(json.dumps([[0.0] * 8]))
    _assert_clean_error(
        zkinfer("compile", tmp_path / "bad.onnx", "--data", tmp_path / "cal.json", "-o", tmp_path / "c"),
        "bad.onnx",
        "not a valid ONNX model",
    )


def test_calibration_of_wrong_size(tiny_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "cal.json").write_text(json.dumps({"input_data": [[0.5] * 12]}))
    _assert_clean_error(
        zkinfer("compile", tiny_dir / "model.onnx", "--data", tmp_path / "cal.json", "-o", tmp_path / "c"),
        "cal.json",
        "not a whole number of samples",
    )


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2, 3"])
def test_unreadable_receipt(tmp_path: Path, content: str) -> None:
    (tmp_path / "r.json").write_text(content)
    _assert_clean_error(zkinfer("verify", tmp_path / "r.json"), "r.json", "not valid JSON")


def test_missing_receipt(tmp_path: Path) -> None:
    _assert_clean_error(zkinfer("verify", tmp_path / "none.json"), "none.json", "no such receipt file")


def test_receipt_of_wrong_schema_fails_well_formed(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"schema_version": "zkinfer.receipt/99"}))
    result = zkinfer("verify", tmp_path / "r.json", "--json")
    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    first = verdict["checks"][0]
    assert first["name"] == "well-formed" and first["status"] == "fail" and "schema_version" in first["detail"]


def test_private_params_refused(tiny_dir: Path, tmp_path: Path) -> None:
    _assert_clean_error(
        zkinfer(
            "compile",
            tiny_dir / "model.onnx",
            "--data",
            tiny_dir / "calibration.json",
            "-o",
            tmp_path / "c",
            "--param-visibility",
            "private",
        ),
        "unconstrained",
    )


def test_srs_import_rejects_garbage(tmp_path: Path) -> None:
    (tmp_path / "x.srs").write_bytes(b"\x0c\x00\x00\x00" + b"\x00" * 100)
    _assert_clean_error(zkinfer("srs", "import", tmp_path / "x.srs"), "x.srs", "not a raw KZG SRS")


def test_srs_new_then_import_marks_ceremony(tmp_path: Path) -> None:
    from zkinfer.core.crypto import srs

    dev = srs.new_development(3)
    assert dev.development and dev.path.stat().st_size == srs.expected_size(3)
    copy = tmp_path / "ceremony.srs"
    copy.write_bytes(dev.path.read_bytes())
    imported = srs.import_file(copy)
    assert imported.fingerprint == dev.fingerprint and not imported.development
    assert len(srs.reduced(copy.read_bytes())) == 388
