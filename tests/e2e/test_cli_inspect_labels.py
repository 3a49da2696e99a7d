"""`inspect` labels its output rows readably ("output", or "output[i] NAME" for several), never "output output"."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from zkinfer.cli import app
from zkinfer.cli.output import output_label


def test_output_labels() -> None:
    assert output_label(0, 1, "output") == "output"
    assert [output_label(i, 2, n) for i, n in enumerate(["logits", "probs"])] == ["output[0] logits", "output[1] probs"]


def test_inspect_single_output_row(receipt_file: Path) -> None:
    result = CliRunner().invoke(app, ["inspect", str(receipt_file)])
    assert result.exit_code == 0, result.output
    assert "output output" not in result.output
    assert any(line.startswith("output ") and "argmax" in line for line in result.output.splitlines())
