"""The chain's commands: `zkinfer chain up|down|deploy-verifier|verify-receipt` (and, below, the
stake commands). Parsing and rendering only; the work is in `zkinfer.chain` (imported when a
command runs: web3 is the `chain` extra, and `zkinfer --help` stays fast).

Every command that talks to a chain takes `--rpc-url` and a key (`--key-file`, or
$ZKINFER_CHAIN_KEY); without `--rpc-url` it uses the dev chain running from `--state-dir`, whose
first prefunded account is then the default signer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

chain_app = typer.Typer(help="zkinfer on an EVM chain: a local dev chain, verifier contracts, stake and claims.", no_args_is_help=True)

STATE_DIR_HELP = "The dev chain's directory (pid, RPC URL, state): used when --rpc-url is not given"
RpcUrl = Annotated[str | None, typer.Option("--rpc-url", help="An EVM node's JSON-RPC URL (default: the dev chain running from --state-dir)")]
KeyFile = Annotated[Path | None, typer.Option("--key-file", help="File holding the hex private key that signs (or $ZKINFER_CHAIN_KEY); default only on the dev chain: its first account")]
StateDir = Annotated[Path, typer.Option("--state-dir", help=STATE_DIR_HELP)]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON")]


def register(app: typer.Typer) -> None:
    """Add the `chain` group to the main command."""
    app.add_typer(chain_app, name="chain")


def _json_out(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")


@chain_app.command("up")
def up(
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="TCP port on 127.0.0.1 (default 8545)")] = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    code_size_limit: Annotated[int | None, typer.Option("--code-size-limit", min=1, help="Allow contracts larger than EIP-170's 24,576 bytes (dev only: real networks do not)")] = None,
    as_json: AsJson = False,
) -> None:
    """Start the embedded dev chain (anvil): prefunded accounts, state kept in --state-dir."""
    from zkinfer.chain import devchain
    from zkinfer.cli import guarded, out, shown

    chain = guarded(lambda: devchain.start(state_dir, port or devchain.DEFAULT_PORT, code_size_limit=code_size_limit), as_json)
    from eth_account import Account

    first = Account.from_key(chain.default_key).address
    if as_json:
        _json_out({"rpc_url": chain.rpc_url, "chain_id": chain.chain_id, "pid": chain.pid, "state_dir": chain.state_dir, "default_account": first})
        return
    out.print(shown(f"dev chain (anvil) at {chain.rpc_url}, chain id {chain.chain_id}, pid {chain.pid}; state in {chain.state_dir}"))
    out.print(shown(f"{devchain.ACCOUNTS} prefunded accounts ({devchain.BALANCE_ETH} ETH each); the default signer here is {first}, whose key is public: dev only"))
    out.print(shown(f"stop it with: zkinfer chain down --state-dir {state_dir}"))


@chain_app.command("down")
def down(state_dir: StateDir = Path(".zkinfer-chain")) -> None:
    """Stop the dev chain running from --state-dir (its state is saved there first)."""
    from zkinfer.chain import devchain
    from zkinfer.cli import guarded, out, shown

    stopped = guarded(lambda: devchain.stop(state_dir))
    out.print(shown(f"stopped the dev chain at {stopped.rpc_url} (pid {stopped.pid}); state kept in {stopped.state_dir}" if stopped else f"no dev chain was running from {state_dir}"))


@chain_app.command("deploy-verifier")
def deploy_verifier(
    circuit_dir: Annotated[Path, typer.Argument(help="A compiled circuit directory (zkinfer compile -o DIR)")],
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    registry_file: Annotated[Path | None, typer.Option("--registry", help="The deployments file to record in (default CIRCUIT/deployments.json)")] = None,
    allow_oversize: Annotated[bool, typer.Option("--allow-oversize", help="Deploy a verifier over EIP-170's size limit (a dev chain started with --code-size-limit)")] = False,
    as_json: AsJson = False,
) -> None:
    """Generate, compile and deploy the circuit's Halo2 verifier, or reuse the recorded one once its code is checked."""
    from zkinfer.chain import account, verifier
    from zkinfer.cli import guarded, out, shown, step

    chain = guarded(lambda: account.connect_cli(rpc_url, key_file, state_dir, need_key=True), as_json)
    with step("generating, compiling and deploying the verifier"):
        result = guarded(lambda: verifier.deploy_verifier(circuit_dir, chain, registry_file, allow_oversize=allow_oversize), as_json)
    d = result.deployment
    if as_json:
        _json_out({**d.model_dump(mode="json"), "reused": result.reused, "note": result.note, "registry": str(result.registry_path)})
        return
    out.print(shown(f"verifier {'reused' if result.reused else 'deployed'} at {d.address} on chain {d.chain_id} ({result.note})"))
    for label, value in (("circuit", d.circuit_digest), ("verifying key", d.vk_digest), ("SRS", d.srs_fingerprint), (".sol", d.sol_digest)):
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
    registry_file: Annotated[Path | None, typer.Option("--registry", help="A deployments file naming the verifier for the receipt's key (instead of --address)")] = None,
    as_json: AsJson = False,
) -> None:
    """Verify a receipt's proof on chain (verifyProof by eth_call), after checking that the contract is
    exactly the verifier for the receipt's key and SRS; exit 0 verified, 1 not verified, 2 unreadable."""
    from zkinfer.chain import account, onchain
    from zkinfer.cli import fail, guarded, out, shown
    from zkinfer.core import receipt as receipt_mod

    if (address is None) == (registry_file is None):
        fail("give exactly one of --address (the verifier contract) and --registry (a deployments file that names it)", 2, as_json)
    receipt = guarded(lambda: receipt_mod.load(receipt_path), as_json)
    chain = guarded(lambda: account.connect_cli(rpc_url, None, state_dir, need_key=False), as_json)
    verdict = guarded(lambda: onchain.verify(chain, receipt, address=address, registry_file=registry_file), as_json)
    if as_json:
        _json_out(verdict.to_json())
    else:
        for check in verdict.checks:
            mark = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]", "skip": "[dim]SKIP[/]"}[check.status]
            out.print(f"{mark} {check.name:<15} {shown(check.detail)}", highlight=False)
        out.print(shown(verdict.summary))
    raise typer.Exit(0 if verdict.verified else 1)


# ---- stake, claims and challenges (contracts/ZkinferStake.sol): `chain status` and the commands of
# ---- zkinfer.chain.stake go below, one function per command, each registered on chain_app.
