"""Usage errors (exit 2) as a newcomer meets them: JSON under --json, and messages that say what to give."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest


def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str | Path
) -> tuple[int, str, str]:
    """The console script's entry point in-process (main() is where --json usage errors are caught)."""
    from zkinfer.cli import main

    monkeypatch.setattr(sys, "argv", ["zkinfer", *map(str, args)])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def json_error(code: int, stdout: str) -> str:
    assert code == 2, stdout
    document = json.loads(stdout)
    assert document["exit_code"] == 2 and set(document) == {"error", "exit_code"}
    return str(document["error"])


@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_missing_receipt_is_json_under_json(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stdout, _ = run_cli(capsys, monkeypatch, command, tmp_path / "none.json", "--json")
    assert "no such receipt file" in json_error(code, stdout)


@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_directory_given_as_receipt_says_so(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stdout, _ = run_cli(capsys, monkeypatch, command, tmp_path, "--json")
    message = json_error(code, stdout)
    assert "is a directory" in message and "receipt.json" in message and "no such" not in message
    code, stdout, stderr = run_cli(capsys, monkeypatch, command, tmp_path)
    assert code == 2 and stdout == "" and "is a directory" in stderr


def test_bad_policy_file_is_json_under_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "policy.toml").write_text("strict = [unclosed\n")
    code, stdout, _ = run_cli(
        capsys, monkeypatch, "verify", tmp_path / "r.json", "--policy", tmp_path / "policy.toml", "--json"
    )
    assert "policy.toml" in json_error(code, stdout)


def test_unreadable_input_is_json_under_json(
    receipt_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.json").write_text("{not json")
    code, stdout, _ = run_cli(capsys, monkeypatch, "verify", receipt_file, "--input", tmp_path / "in.json", "--json")
    assert "in.json" in json_error(code, stdout)


@pytest.mark.parametrize(
    "args",
    [
        ("verify", "--json"),
        ("verify", "r.json", "--json", "--max-receipt-bytes", "0"),
        ("inspect", "--json", "--no-such-option"),
    ],
)
def test_click_usage_errors_are_json_under_json(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stdout, _ = run_cli(capsys, monkeypatch, *args)
    assert json_error(code, stdout)


def test_onnx_file_given_as_circuit_says_compile_it_first(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, stderr = run_cli(
        capsys,
        monkeypatch,
        "prove",
        tiny_dir / "model.onnx",
        "--input",
        tiny_dir / "input.json",
        "-o",
        tmp_path / "r.json",
    )
    text = " ".join(stderr.split())
    assert code == 2 and "is an ONNX model" in text and "zkinfer compile" in text and "-o circuits/model" in text
    assert f"-o {tiny_dir / 'model.onnx'}" not in text


def test_deploy_stake_refuses_a_challenge_bond_that_makes_griefing_pay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below what answering costs the node (answer gas × gas price + proving × its price), deploy-stake exits 2
    before it reaches any chain, naming the option and the minimum; stating a lower gas price lets it through
    to the chain (none runs here: exit 2 for the missing dev chain, another message)."""
    from zkinfer.chain import economics

    state = ["--state-dir", str(tmp_path / "chain")]
    code, stdout, _ = run_cli(
        capsys, monkeypatch, "chain", "deploy-stake", "--challenge-bond", "0.01", *state, "--json"
    )
    error = json_error(code, stdout)
    floor = economics.AnswerCost(50 * 10**9, 10**12).wei
    assert "--challenge-bond 0.01 ETH is below" in error and "griefing" in error
    assert f"at least {floor / 10**18:.8f}".rstrip("0") in error and "--gas-price-gwei" in error
    code, stdout, _ = run_cli(
        capsys,
        monkeypatch,
        "chain",
        "deploy-stake",
        "--challenge-bond",
        "0.01",
        "--gas-price-gwei",
        "1",
        *state,
        "--json",
    )
    assert "griefing" not in json_error(code, stdout)  # past the floor: refused only for want of a chain
