"""`zkinfer chain up|down|deploy-verifier|verify-receipt`: the dev chain and verifier contracts.
Parsing and rendering only; the work is in `zkinfer.chain` (imported when a command runs: web3 is the
`chain` extra, and `zkinfer --help` stays fast). The stake commands of the group are `cli.stake`'s."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkinfer.cli.chain_options import REGISTRY_HELP, AsJson, KeyFile, RpcUrl, StateDir, registry
from zkinfer.cli.output import fail, guarded, json_out, out, shown, status_mark, step

chain_app = typer.Typer(
    help="zkinfer on an EVM chain: a local dev chain, verifier contracts, stake and claims.", no_args_is_help=True
)


def register(app: typer.Typer) -> typer.Typer:
    """Add the `chain` group to the main command; returns it, for the stake commands."""
    app.add_typer(chain_app, name="chain")
    return chain_app


@chain_app.command("up")
def up(
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="TCP port on 127.0.0.1 (default 8545)")
    ] = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    code_size_limit: Annotated[
        int | None,
        typer.Option(
            "--code-size-limit",
            min=1,
            help="Allow contracts larger than EIP-170's 24,576 bytes (dev only: real networks do not)",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Start the embedded dev chain (anvil): prefunded accounts, state kept in --state-dir."""
    from zkinfer.chain import devchain

    chain = guarded(
        lambda: devchain.start(state_dir, port or devchain.DEFAULT_PORT, code_size_limit=code_size_limit), as_json
    )
    from eth_account import Account

    first = Account.from_key(chain.default_key).address
    if as_json:
        json_out(
            {
                "rpc_url": chain.rpc_url,
                "chain_id": chain.chain_id,
                "pid": chain.pid,
                "state_dir": chain.state_dir,
                "default_account": first,
            }
        )
        return
    out.print(
        shown(
            f"dev chain (anvil) at {chain.rpc_url}, chain id {chain.chain_id}, pid {chain.pid}; state in "
            f"{chain.state_dir}"
        )
    )
    out.print(
        shown(
            f"{devchain.ACCOUNTS} prefunded accounts ({devchain.BALANCE_ETH} ETH each); the default signer here is "
            f"{first}, whose key is public: dev only"
        )
    )
    out.print(shown(f"stop it with: zkinfer chain down --state-dir {state_dir}"))


@chain_app.command("down")
def down(state_dir: StateDir = Path(".zkinfer-chain")) -> None:
    """Stop the dev chain running from --state-dir (its state is saved there first)."""
    from zkinfer.chain import devchain

    stopped = guarded(lambda: devchain.stop(state_dir))
    out.print(
        shown(
            f"stopped the dev chain at {stopped.rpc_url} (pid {stopped.pid}); state kept in {stopped.state_dir}"
            if stopped
            else f"no dev chain was running from {state_dir}"
        )
    )


@chain_app.command("deploy-verifier")
def deploy_verifier(
    circuit_dir: Annotated[Path, typer.Argument(help="A compiled circuit directory (zkinfer compile -o DIR)")],
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    registry_file: Annotated[Path | None, typer.Option("--registry", help=REGISTRY_HELP)] = None,
    allow_oversize: Annotated[
        bool,
        typer.Option(
            "--allow-oversize",
            help="Deploy a verifier over EIP-170's size limit (a dev chain started with --code-size-limit)",
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Generate, compile and deploy the circuit's Halo2 verifier, or reuse the recorded one once its code is checked."""
    from zkinfer.chain import account, verifier

    chain = guarded(lambda: account.connect_cli(rpc_url, key_file, state_dir, need_key=True), as_json)
    path = registry(registry_file, state_dir, [circuit_dir], as_json)
    with step("generating, compiling and deploying the verifier"):
        result = guarded(
            lambda: verifier.deploy_verifier(circuit_dir, chain, path, allow_oversize=allow_oversize), as_json
        )
    d = result.deployment
    if as_json:
        json_out(
            {
                **d.model_dump(mode="json"),
                "reused": result.reused,
                "note": result.note,
                "registry": str(result.registry_path),
                "development_srs": result.development_srs,
            }
        )
        return
    if result.development_srs:
        out.print(
            shown(
                f"warning: the keys use a development SRS ({d.srs_fingerprint}): whoever made it can forge proofs "
                f"this verifier accepts; "
                "for anything but development, import a ceremony SRS (`zkinfer srs import`) and set the keys up with it"
            )
        )
    out.print(
        shown(
            f"verifier {'reused' if result.reused else 'deployed'} at {d.address} on chain {d.chain_id} ({result.note})"
        )
    )
    for label, value in (
        ("circuit", d.circuit_digest),
        ("verifying key", d.vk_digest),
        ("SRS", d.srs_fingerprint),
        (".sol", d.sol_digest),
    ):
        out.print(shown(f"{label:<14}{value}"))
    if not result.reused:
        out.print(shown(f"deploy gas {d.gas_used}, tx {d.tx_hash}, block {d.block}"))
    out.print(shown(f"recorded in {result.registry_path}"))


@chain_app.command("verify-receipt")
def verify_receipt(
    receipt_path: Annotated[Path, typer.Argument(help="The receipt JSON")],
    rpc_url: RpcUrl = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    address: Annotated[str | None, typer.Option("--address", help="The verifier contract's address")] = None,
    registry_file: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            help="The deployments file naming the receipt's verifier, instead of --address (default: the registry "
            "in --state-dir)",
        ),
    ] = None,
    expect_circuit: Annotated[
        str | None,
        typer.Option("--expect-circuit", help="Circuit digest (verifying key and settings) the receipt must be for"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Verify a receipt's proof on chain (verifyProof by eth_call), after checking that the contract is
    exactly the verifier for the receipt's key and SRS; exit 0 verified, 1 not verified, 2 unreadable."""
    from zkinfer.chain import account, onchain
    from zkinfer.core.formats import receipt as receipt_mod

    if address is not None and registry_file is not None:
        fail(
            "give one of --address (the verifier contract) and --registry (a deployments file that names it), not both",
            2,
            as_json,
        )
    if address is None:
        registry_file = registry(registry_file, state_dir, None, as_json)
    receipt = guarded(lambda: receipt_mod.load(receipt_path), as_json)
    chain = guarded(lambda: account.connect_cli(rpc_url, None, state_dir, need_key=False), as_json)
    verdict = guarded(
        lambda: onchain.verify(
            chain, receipt, address=address, registry_file=registry_file, expect_circuit=expect_circuit
        ),
        as_json,
    )
    if as_json:
        json_out(verdict.to_json())
    else:
        for check in verdict.checks:
            out.print(f"{status_mark(check.status)} {check.name:<15} {shown(check.detail)}", highlight=False)
        out.print(shown(verdict.summary))
    raise typer.Exit(0 if verdict.verified else 1)
