"""What every command shares: the consoles, text made safe to print, the one verdict renderer, and
errors turned into exit codes (from the exception's type: `core.errors`; 0 ok, 1 verification
failed, 2 usage, 3 infrastructure). Imports nothing of the command modules."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from zkinfer.core.support.errors import ZkinferError

if TYPE_CHECKING:
    from zkinfer.verify.verdict import Verdict

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

# The verify command's options for each policy key: the library names pins by key only, the CLI adds the flag.
POLICY_FLAGS = {
    "expect_circuit": "--expect-circuit",
    "expect_vk": "--expect-vk",
    "expect_model": "--expect-model",
    "model_file": "--model",
    "expect_params_commitment": "--expect-params-commitment",
    "trusted_srs": "--trusted-srs",
    "expect_signer": "--expect-signer",
    "max_fast_deviation": "--max-fast-deviation",
}

# How each check status shows in the terminal; UNPINNED and UNSIGNED ran, found nothing wrong and
# established nothing, so they are neither a green PASS nor a failure.
STATUS_MARKS = {
    "pass": ("PASS", "green"),
    "fail": ("FAIL", "red"),
    "skip": ("SKIP", "dim"),
    "unpinned": ("UNPINNED", "yellow"),
    "unsigned": ("UNSIGNED", "yellow"),
}
MARK_WIDTH = max(len(word) for word, _ in STATUS_MARKS.values())
NAME_WIDTH = 14  # the longest check name (verifying-key, verifier-code, onchain-proof, contradiction) and a space


def shown(text: str) -> str:
    """Text from a receipt, file or error, safe to print as rich markup: no markup, no control characters."""
    from rich.markup import escape

    from zkinfer.core.support.text import visible

    return escape(visible(text))


def with_flags(text: str) -> str:
    """Name the command-line option beside each policy key a message mentions: `expect_circuit/--expect-circuit`
    (no parentheses: messages put their lists of pins in parentheses already)."""
    return re.sub(
        r"\b(" + "|".join(POLICY_FLAGS) + r")\b(?! \(--)", lambda m: f"{m.group(1)}/{POLICY_FLAGS[m.group(1)]}", text
    )


def status_mark(status: str) -> str:
    """A check's status as rich markup, padded so the check names line up."""
    word, style = STATUS_MARKS[status]
    return f"[{style}]{word}[/]" + " " * (MARK_WIDTH - len(word))


def json_out(document: Any) -> None:
    """A JSON document on stdout, every non-ASCII character escaped (nothing raw reaches the terminal)."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")


def print_json(model: Any) -> None:
    """A pydantic model as JSON."""
    json_out(model.model_dump(mode="json"))


def fail(message: str, code: int = 2, as_json: bool = False) -> NoReturn:
    """Report an error and exit; with `as_json` (a command's --json) the error is JSON on stdout, so a
    script reading that stdout gets JSON whatever happened."""
    if as_json:
        json_out({"error": message, "exit_code": code})
        raise typer.Exit(code)
    err.print(f"[bold red]error:[/] {shown(with_flags(message))}", highlight=False)
    raise typer.Exit(code)


def guarded(action: Callable[[], T], as_json: bool = False) -> T:
    """Run an API call; a ZkinferError becomes a one-line message (JSON with `as_json`) and the exit
    code of its branch (2 usage, 1 verification failed, 3 infrastructure: `core.errors`)."""
    try:
        return action()
    except ZkinferError as exc:
        fail(str(exc), exc.exit_code, as_json)


@contextmanager
def step(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner for a step that may take over a second; yields a callback to update its text."""
    with err.status(message) as status:
        yield lambda text: status.update(f"{message}: {text}")


def show_verdict(verdict: Verdict, as_json: bool) -> NoReturn:
    """The one renderer of every verdict (receipt, certificate, evidence, LLM receipt, on chain): each
    check by name with its status, then the summary; exit 0 when verified (for evidence: it holds), else 1.
    Evidence that holds is bad news for the accused, so its summary is red."""
    from zkinfer.verify.verdict import Document

    if as_json:
        json_out(verdict.to_json())
    else:
        for check in verdict.checks:
            out.print(
                f"{status_mark(check.status)} {check.name:<{NAME_WIDTH}} {shown(with_flags(check.detail))}",
                highlight=False,
            )
        good = verdict.verified != (verdict.document in (Document.EVIDENCE, Document.LLM_EVIDENCE))
        out.print(
            ("[bold green]" if good else "[bold red]") + shown(with_flags(verdict.summary)) + "[/]", highlight=False
        )
    raise typer.Exit(0 if verdict.verified else 1)


def output_label(index: int, count: int, name: str) -> str:
    """`inspect`'s row label for one output: "output" when there is one (its tensor is usually named
    "output" too), else "output[i] NAME"."""
    return "output" if count == 1 else f"output[{index}] {name}"


def print_rows(rows: list[tuple[str, str]], as_the_node_states: list[str], what: str) -> None:
    """`inspect`'s table, then what no proof or pin covers (the node's word), then the reminder."""
    for label, value in rows:
        out.print(f"[bold]{shown(label):<14}[/] {shown(value)}", highlight=False)
    out.print(
        f"[dim]as the node states it (no proof or pin covers it): {shown(', '.join(as_the_node_states))}[/]",
        highlight=False,
    )
    out.print(f"[dim]not verified: run `zkinfer verify` to check {what} and pin the identity[/]")
