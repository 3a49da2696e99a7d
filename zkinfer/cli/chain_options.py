"""What the chain commands share: their options (`--rpc-url`, a key, `--state-dir`, `--registry`,
`--stake`, `--json`), the one deployments registry, the stake contract they open, and how a sent
transaction is shown. Every command that talks to a chain takes `--rpc-url` and a key (`--key-file`,
or $ZKINFER_CHAIN_KEY); without `--rpc-url` it uses the dev chain running from `--state-dir`, whose
first prefunded account is then the default signer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zkinfer.cli.output import err, guarded, json_out, out, shown

STATE_DIR_HELP = (
    "The chain state directory: the dev chain (pid, RPC URL, state; used when --rpc-url is not given) "
    "and the registry, deployments.json"
)
REGISTRY_HELP = (
    "The deployments file recording verifiers and the stake contract "
    "(default: deployments.json in --state-dir, for every chain)"
)
RpcUrl = Annotated[
    str | None,
    typer.Option("--rpc-url", help="An EVM node's JSON-RPC URL (default: the dev chain running from --state-dir)"),
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="File holding the hex private key that signs (or $ZKINFER_CHAIN_KEY); default only on the dev chain: "
        "its first account",
    ),
]
StateDir = Annotated[Path, typer.Option("--state-dir", help=STATE_DIR_HELP)]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON")]


StakeAddress = Annotated[
    str | None,
    typer.Option(
        "--stake", help="The stake contract's address (default: the latest recorded in --registry for this chain)"
    ),
]
StakeRegistry = Annotated[Path | None, typer.Option("--registry", help=REGISTRY_HELP)]
OracleAddress = Annotated[
    str | None,
    typer.Option("--oracle", help="The oracle's address (default: the latest recorded in --registry for this chain)"),
]
SignaturesAddress = Annotated[
    str | None,
    typer.Option(
        "--signatures",
        help="The signatures contract's address (default: the latest recorded in --registry for this chain)",
    ),
]

CircuitChecks = Annotated[
    list[Path] | None,
    typer.Option(
        "--circuit",
        help="A compiled circuit directory whose model's registration (verifier code, layout) is checked (repeatable)",
    ),
]


def registry(
    given: Path | None, state_dir: Path, circuit_dirs: list[Path] | None = None, as_json: bool = False
) -> Path:
    """The one deployments file: `--registry` as given, else deployments.json in `--state-dir`, into
    which the files older versions wrote (./deployments.json, CIRCUIT/deployments.json) are adopted."""
    from zkinfer.chain import registry

    found = guarded(lambda: registry.resolve(given, state_dir, circuit_dirs or []), as_json)
    for old in found.adopted:
        err.print(
            shown(
                f"note: the deployments recorded in {old} (where older versions wrote them) are now also in "
                f"{found.path}, the one registry"
            )
        )
    return found.path


def open_stake(
    rpc_url: str | None,
    key_file: Path | None,
    state_dir: Path,
    stake_address: str | None,
    registry_file: Path | None,
    as_json: bool = False,
    need_key: bool = True,
) -> Any:
    from zkinfer.chain import account, stake

    registry_file = registry(registry_file, state_dir, None, as_json)

    chain = guarded(lambda: account.connect_cli(rpc_url, key_file, state_dir, need_key=need_key), as_json)
    return guarded(lambda: stake.open_stake(chain, stake_address, registry_file), as_json)


def open_signatures(
    rpc_url: str | None,
    key_file: Path | None,
    state_dir: Path,
    address: str | None,
    registry_file: Path | None,
    as_json: bool,
    *,
    required: bool = True,
) -> Any:
    """The signatures contract given, else the one recorded on this chain, its code checked, signing with the
    command's key; None when neither exists and it is not `required`."""
    from zkinfer.chain import account, signatures
    from zkinfer.chain import registry as registry_mod

    path = registry(registry_file, state_dir, None, as_json)
    chain = guarded(lambda: account.connect_cli(rpc_url, key_file, state_dir, need_key=True), as_json)
    if address is None and not required:
        recorded = guarded(lambda: registry_mod.find(registry_mod.load(path), signatures.ROLE, chain.chain_id), as_json)
        if recorded is None:
            return None
    return guarded(lambda: signatures.open_signatures(chain, address, path), as_json)


def show_sent(what: str, sent: Any, as_json: bool, **extra: Any) -> None:

    if as_json:
        json_out({"done": what, "tx_hash": sent.tx_hash, "block": sent.block, "gas_used": sent.gas_used, **extra})
        return
    more = "".join(f", {k} {v}" for k, v in extra.items())
    out.print(shown(f"{what}: gas {sent.gas_used}, tx {sent.tx_hash}, block {sent.block}{more}"))
