"""The BLS-key commands of `zkinfer chain` (contracts/ZkinferSignatures.sol): deploy-signatures and
register-key. Parsing and rendering only; the work is in `zkinfer.chain.signatures`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkinfer.cli.chain_options import (
    AsJson,
    KeyFile,
    RpcUrl,
    SignaturesAddress,
    StakeAddress,
    StakeRegistry,
    StateDir,
    open_signatures,
    registry,
    show_sent,
)
from zkinfer.cli.output import guarded, json_out, out, shown


def register(chain_app: typer.Typer) -> None:
    """Add the BLS-key commands to the `chain` group."""
    chain_app.command("deploy-signatures")(deploy_signatures)
    chain_app.command("register-key")(register_key)


def deploy_signatures(
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    stake_address: StakeAddress = None,
    registry_file: StakeRegistry = None,
    grant: Annotated[
        bool,
        typer.Option(
            "--grant/--no-grant",
            help="Grant it SLASHER_ROLE on the stake contract now (the signing key must be the stake's admin)",
        ),
    ] = True,
    as_json: AsJson = False,
) -> None:
    """Deploy the signatures contract (BLS keys, equivocation slashing) for a stake contract, record it in
    the deployments file and let it slash through the stake contract's SLASHER_ROLE."""
    from zkinfer.chain import account, signatures
    from zkinfer.chain import registry as registry_mod

    path = registry(registry_file, state_dir, None, as_json)
    chain = guarded(lambda: account.connect_cli(rpc_url, key_file, state_dir, need_key=True), as_json)

    def stake() -> str:
        if stake_address is not None:
            return stake_address
        return registry_mod.recorded_address(path, "stake", chain.chain_id, "stake contract", "--stake", "deploy-stake")

    deployed = guarded(lambda: signatures.deploy_and_record(chain, stake(), path, grant=grant), as_json)
    may_slash = guarded(deployed.may_slash, as_json)
    facts = {"address": deployed.address, "stake": deployed.stake_address(), "may_slash": may_slash}
    if as_json:
        json_out({"done": "deployed the signatures contract", "registry": str(path), **facts})
        return
    out.print(shown(f"signatures contract at {deployed.address} (recorded in {path}) for stake {facts['stake']}"))
    if not may_slash:
        out.print(
            shown(
                "note: it cannot slash yet: the stake contract's admin must grant it SLASHER_ROLE "
                f"(grantRole(keccak256('SLASHER_ROLE'), {deployed.address}))"
            )
        )


def register_key(
    node_key: Annotated[
        Path, typer.Option("--node-key", help="The node's BLS key file (from `zkinfer keys new`) to register")
    ],
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    signatures_address: SignaturesAddress = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
) -> None:
    """Register the node's BLS public key on chain with its proof of possession, signing as the node's
    bonded account (--key-file): its signed statements can then slash its bond when they equivocate."""
    from zkinfer.core.crypto import identity

    key = guarded(lambda: identity.load_key(node_key), as_json)
    contract = open_signatures(rpc_url, key_file, state_dir, signatures_address, registry_file, as_json)
    sent = guarded(lambda: contract.register_key(key), as_json)
    show_sent(
        f"registered BLS key {key.public_hex[:16]}… for node {contract.chain.address}",
        sent,
        as_json,
        public_key=key.public_hex,
    )
