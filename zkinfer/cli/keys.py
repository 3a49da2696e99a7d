"""`zkinfer srs new|import|list` and `zkinfer keys new|show`: the SRS cache and node keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkinfer.cli.output import (
    guarded,
    json_out,
    out,
    step,
)

srs_app = typer.Typer(help="Structured reference strings (KZG setup parameters).", no_args_is_help=True)
keys_app = typer.Typer(help="Node identity keys (BLS12-381) that sign receipts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(srs_app, name="srs")
    app.add_typer(keys_app, name="keys")


@srs_app.command("new")
def srs_new(k: Annotated[int, typer.Option("--k", help="log2 of the number of rows")]) -> None:
    """Make a development SRS (whoever makes it could forge proofs: never for production)."""
    from zkinfer.core.crypto import srs

    with step(f"generating a development SRS, k={k}"):
        info = guarded(lambda: srs.new_development(k))
    out.print(f"development SRS k={info.k} fingerprint {info.fingerprint} at {info.path}")


@srs_app.command("import")
def srs_import(path: Annotated[Path, typer.Argument(help="A raw KZG SRS file from a ceremony")]) -> None:
    """Import a ceremony SRS file into the cache."""
    from zkinfer.core.crypto import srs

    info = guarded(lambda: srs.import_file(path))
    out.print(f"imported SRS k={info.k} fingerprint {info.fingerprint}")


@srs_app.command("list")
def srs_list(as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False) -> None:
    """List cached SRS files with their whole ceremony fingerprints (what --trusted-srs pins)."""
    from zkinfer.core.crypto import srs

    found = srs.cached()
    if as_json:
        json_out({"srs": [s.to_json() for s in found]})
        return
    if not found:
        out.print(
            "no SRS cached yet: `zkinfer srs import FILE` (a ceremony's file) or `zkinfer srs new --k K` "
            "(development only)"
        )
        return
    # one line each, the fingerprint whole and last (never cut to the terminal's width): copy it into --trusted-srs
    out.print(f"{'k':<3} {'kind':<12} fingerprint (pin it with --trusted-srs)", highlight=False)
    for s in found:
        out.print(f"{s.k:<3} {s.kind:<12} {s.fingerprint}", highlight=False)


@keys_app.command("new")
def keys_new(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the secret key file")],
) -> None:
    """Make a node key; prints the public key auditors pin with --expect-signer."""
    from zkinfer.core.crypto import identity

    key = identity.new_key()
    guarded(lambda: identity.save_key(key, output))
    out.print(f"wrote {output} (keep it secret)\npublic key {key.public_hex}")


@keys_app.command("show")
def keys_show(
    key_file: Annotated[
        Path, typer.Argument(help="A node key file (`zkinfer keys new`, or the node's --state-dir/node.key)")
    ],
    name: Annotated[
        str, typer.Option("--name", help="The node's name in nodes.toml (A-Z a-z 0-9 _ -, at most 32)")
    ] = "node",
    url: Annotated[str, typer.Option("--url", help="Where a gateway reaches the node")] = "http://127.0.0.1:8080",
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            help="The environment variable in which the gateway finds this node's API key (default: the line is "
            "printed commented out)",
        ),
    ] = None,
) -> None:
    """Print a node key's public key, its proof of possession and a ready [[nodes]] entry for nodes.toml."""
    from zkinfer.network import nodeset

    entry = guarded(lambda: nodeset.entry(key_file, name, url, api_key_env))
    typer.echo(
        f"public key           {entry.public_key}\nproof of possession  {entry.proof_of_possession}\n\n"
        "# nodes.toml entry for this node:"
    )
    typer.echo(entry.toml())
    typer.echo(entry.api_key_line())
