"""cli/output: the one verdict renderer (each check by name, the summary, exit 0 verified / 1 not),
errors to exit codes by type, and `zkinfer.cli`'s modules importing no cycle."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import typer

from zkinfer.cli import output
from zkinfer.core.support.errors import InfrastructureError, UsageError, VerificationFailed
from zkinfer.verify.verdict import Check, CheckName, Document, EvidenceFacts, Status, Verdict, summarize

CLI = Path(__file__).resolve().parents[2] / "zkinfer" / "cli"


def _verdict(status: Status) -> Verdict:
    checks = [
        Check(name=CheckName.PROOF, status=status, detail="ezkl says so"),
        Check(name=CheckName.IDENTITY, status=Status.PASS, detail="x"),
    ]
    return summarize(checks, [], ["circuit"], "r.json")


def test_a_verdict_renders_every_check_and_exits_by_its_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as done:
        output.show_verdict(_verdict(Status.PASS), as_json=False)
    shown = capsys.readouterr().out
    assert done.value.exit_code == 0 and "PASS     proof          ezkl says so" in shown
    assert "UNPINNED identity" in shown and "VERIFIED (identity unpinned)" in shown
    with pytest.raises(typer.Exit) as done:
        output.show_verdict(_verdict(Status.FAIL), as_json=True)
    printed = json.loads(capsys.readouterr().out)
    assert done.value.exit_code == 1 and printed["verified"] is False and printed["document"] == "receipt"


def test_evidence_renders_with_its_keys_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    facts = EvidenceFacts(kind="unproven", accused="ab" * 48, reasons=["why"], node="n1", request_id="r")
    verdict = Verdict(
        verified=True,
        identity_pinned=False,
        summary="HOLDS: unproven evidence",
        checks=[],
        document=Document.EVIDENCE,
        evidence=facts,
    )
    with pytest.raises(typer.Exit) as done:
        output.show_verdict(verdict, as_json=True)
    printed = json.loads(capsys.readouterr().out)
    assert done.value.exit_code == 0 and printed["holds"] is True and printed["kind"] == "unproven"


def test_status_marks_line_up_and_hostile_text_is_inert() -> None:
    assert output.status_mark("unsigned").endswith("[/]") and len(output.status_mark("pass")) == len(
        "[green]PASS[/]    "
    )
    hostile = output.shown("[red]x\x1b[2J")
    assert "\x1b" not in hostile and hostile.startswith("\\[red]")
    assert output.with_flags("expect_circuit: mismatch") == "expect_circuit/--expect-circuit: mismatch"


@pytest.mark.parametrize(
    ("error", "code"),
    [(UsageError("u"), 2), (VerificationFailed("v"), 1), (InfrastructureError("i"), 3)],
)
def test_errors_exit_by_type(error: Exception, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    def action() -> None:
        raise error

    with pytest.raises(typer.Exit) as done:
        output.guarded(action, as_json=True)
    assert done.value.exit_code == code
    assert json.loads(capsys.readouterr().out) == {"error": str(error), "exit_code": code}


def _imports(path: Path) -> set[str]:
    """The zkinfer.cli modules a module imports (anywhere in it, lazily too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "zkinfer.cli":
                found |= {f"zkinfer.cli.{a.name}" for a in node.names}
            elif node.module.startswith("zkinfer.cli."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("zkinfer.cli")}
    return found


def test_the_cli_modules_import_no_cycle() -> None:
    graph = {f"zkinfer.cli.{p.stem}": _imports(p) for p in CLI.glob("*.py") if p.stem != "__init__"}
    assert graph["zkinfer.cli.output"] == set()  # the output module imports no command module
    for module, imported in graph.items():
        assert imported <= {"zkinfer.cli.output", "zkinfer.cli.chain_options"}, (module, imported)
    assert _imports(CLI / "chain_options.py") <= {"zkinfer.cli.output"}
    seen: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in seen:
            return
        seen.add(module)
        for target in graph.get(module, set()):
            visit(target, (*path, module))

    for module in graph:
        visit(module, ())


def test_no_library_module_imports_the_cli() -> None:
    library = CLI.parent
    for path in library.rglob("*.py"):
        if CLI not in path.parents and path.name != "__main__.py":
            assert not _imports(path), path
