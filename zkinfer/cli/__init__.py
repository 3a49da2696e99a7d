"""The `zkinfer` command line: parses, calls the library, renders with rich. No logic of its own.

One module per command group (`circuits`, `prove`, `verify`, `inspection`, `serve`, `keys`, `network`,
`chain`, `stake`, `stake_status`, `challenge`), each importing only `cli.output` (consoles, the one verdict renderer,
errors to exit codes) and the library; this module builds the typer `app` from them.

Exit codes: 0 success / verified, 1 verification failed, 2 bad usage or unreadable input, 3 infrastructure.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from zkinfer.cli import (
    chain,
    challenge,
    circuits,
    inspection,
    keys,
    network,
    prove,
    serve,
    signatures,
    stake,
    stake_status,
    verify,
)
from zkinfer.cli.output import fail
from zkinfer.core.support import logs

VERBOSE_HELP = "Show ezkl's own logs (before or after the command's name)."


def _turn_on_verbose(value: bool) -> None:
    if value:
        logs.configure(True)


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


class _VerboseEverywhere(typer.core.TyperGroup):
    """The top-level group: every command below it, at any depth, also takes `--verbose` after its
    name (`zkinfer verify r.json --verbose`), as `zkinfer --verbose verify r.json` does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        option = _verbose_option()
        pending = list(self.commands.values())
        while pending:
            command = pending.pop()
            sub = getattr(command, "commands", None)
            if isinstance(sub, dict):  # a group (srs, keys, network, chain): its commands take it
                pending.extend(sub.values())
            elif not any(option.name == p.name for p in command.params):
                command.params.append(option)


app = typer.Typer(
    help="Zero-knowledge verifiable inference: every answer carries a receipt.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_VerboseEverywhere,
)


@app.callback()
def _global(verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False) -> None:
    logs.configure(verbose)


# The order of `zkinfer --help`.
keys.register(app)  # `srs` and `keys`
circuits.register(app)  # `export`, `compile`
prove.register(app)
verify.register(app)  # `verify`, `verify-evidence`
inspection.register(app)
serve.register(app)
network.register(app)  # `gateway` and `network status`, listed after `serve`
chain_app = chain.register(app)  # `chain up|down|deploy-verifier|verify-receipt`
stake.register(chain_app)  # `chain deploy-stake|register-node|...|withdraw`
stake_status.register(chain_app)  # `chain status`
signatures.register(chain_app)  # `chain deploy-signatures|register-key` (BLS keys, equivocation)
challenge.register(app)  # `zkinfer challenge --claim | --evidence` (stake contract)


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
