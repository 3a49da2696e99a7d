"""The `zkinfer` command line: parses, calls the library, renders with rich. No logic of its own.

One module per command group (`circuits`, `prove`, `verify`, `inspection`, `serve`, `keys`, `network`,
`chain`, `stake`, `stake_status`, `challenge`), each importing only `cli.output` (consoles, the one verdict renderer,
errors to exit codes) and the library; this module builds the typer `app` from them, importing a
command's module and building its typer command only when it runs or `--help` lists it.

Exit codes: 0 success / verified, 1 verification failed, 2 bad usage or unreadable input, 3 infrastructure.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from zkinfer.cli.output import fail
from zkinfer.core.support import logs

VERBOSE_HELP = "Show ezkl's own logs (before or after the command's name)."


def _turn_on_verbose(value: bool) -> None:
    if value:
        logs.configure(True)


@functools.cache
def _verbose_option() -> Any:
    """The `--verbose` option every command accepts after its name, as typer builds it (a probe command
    declares it, so it is the same kind of parameter as every other option)."""
    probe = typer.Typer()

    @probe.command()
    def _probe(
        verbose: Annotated[
            bool,
            typer.Option(
                "--verbose", "-v", help=VERBOSE_HELP, callback=_turn_on_verbose, expose_value=False, is_eager=True
            ),
        ] = False,
    ) -> None:
        """Only declares the option."""

    return typer.main.get_command(probe).params[0]


def _with_verbose(command: Any, option: Any) -> Any:
    """`command` and, at any depth below it, every command taking `--verbose` after its name."""
    pending = [command]
    while pending:
        item = pending.pop()
        sub = getattr(item, "commands", None)
        if isinstance(sub, dict):  # a group (srs, keys, network, chain): its commands take it
            pending.extend(sub.values())
        elif not any(option.name == p.name for p in item.params):
            item.params.append(option)
    return command


def _chain(app: typer.Typer) -> None:
    from zkinfer.cli import chain, oracle, signatures, stake, stake_status

    chain_app = chain.register(app)  # `chain up|down|deploy-verifier|verify-receipt`
    stake.register(chain_app)  # `chain deploy-stake|register-node|...|withdraw`
    stake_status.register(chain_app)  # `chain status`
    signatures.register(chain_app)  # `chain deploy-signatures|register-key` (BLS keys, equivocation)
    oracle.register(chain_app)  # `chain deploy-oracle` (quorum certificates on chain)


@functools.cache  # one registrar per module: it runs once per process
def _registrar(module: str) -> Callable[[typer.Typer], None]:
    def register(app: typer.Typer) -> None:
        importlib.import_module(f"zkinfer.cli.{module}").register(app)

    return register


# Every command, in the order of `zkinfer --help` (typer lists commands, then groups), and what registers it.
# A command's module is imported, and its typer command built, only when that command is run or listed.
_COMMANDS: dict[str, Callable[[typer.Typer], None]] = {
    "export": _registrar("circuits"),
    "compile": _registrar("circuits"),
    "prove": _registrar("prove"),
    "verify": _registrar("verify"),  # `verify`, `verify-evidence`
    "verify-evidence": _registrar("verify"),
    "inspect": _registrar("inspection"),
    "serve": _registrar("serve"),
    "gateway": _registrar("network"),  # `gateway` and the `network` group
    "challenge": _registrar("challenge"),  # `zkinfer challenge --claim | --evidence` (stake contract)
    "srs": _registrar("keys"),  # the `srs` and `keys` groups
    "keys": _registrar("keys"),
    "network": _registrar("network"),
    "chain": _chain,
}
_built: dict[str, Any] = {}  # name → its click command, built once per process (the chain group is shared state)
_ran: set[Callable[[typer.Typer], None]] = set()


def _build(*registrars: Callable[[typer.Typer], None]) -> None:
    """Build the commands these registrars add (a module may add several), each registrar once."""
    todo = [r for r in dict.fromkeys(registrars) if r not in _ran]
    if not todo:
        return
    part = typer.Typer(add_completion=False)
    part.callback()(lambda: None)  # a callback makes typer build a group even for one command
    for register in todo:
        register(part)
        _ran.add(register)
    option = _verbose_option()
    for name, command in typer.main.get_command(part).commands.items():  # type: ignore[attr-defined]
        _built.setdefault(name, _with_verbose(command, option))


class _LazyCommands(typer.core.TyperGroup):
    """The top-level group. Building every command's parameters costs ~30 ms (typer reads each
    function's annotations), so a command is built when it is run, or listed by `--help`; every
    command below it, at any depth, also takes `--verbose` after its name (`zkinfer verify r.json
    --verbose`), as `zkinfer --verbose verify r.json` does."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in _COMMANDS and cmd_name not in _built:
            _build(_COMMANDS[cmd_name])
        if cmd_name in _built:
            self.commands[cmd_name] = _built[cmd_name]
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _build(*_COMMANDS.values())  # all at once: one typer build, as cheap as before
        super().format_help(ctx, formatter)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in _COMMANDS:  # typer suggests a typo's fix from the commands it has: all of them
            _build(*_COMMANDS.values())
            self.commands.update((name, _built[name]) for name in _COMMANDS)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    help="Zero-knowledge verifiable inference: every answer carries a receipt.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_LazyCommands,
)


@app.callback()
def _global(verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False) -> None:
    logs.configure(verbose)


def main() -> None:
    if "--json" not in sys.argv[1:]:
        app()
        return
    # --json: click's own usage errors (a bad option value, a missing argument) are JSON too. typer
    # vendors click in some versions: its UsageError is found as the base of typer.BadParameter.
    usage_error: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    try:
        code = app(standalone_mode=False)
    except usage_error as exc:
        try:
            fail(exc.format_message(), exc.exit_code, as_json=True)  # type: ignore[attr-defined]
        except typer.Exit as done:
            code = done.exit_code
    except typer.Abort:
        code = 1
    sys.exit(code or 0)
