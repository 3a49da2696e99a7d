"""The certificate oracle's command of `zkinfer chain` (contracts/ZkinferOracle.sol): deploy-oracle (`chain status`
lists its certificates). Parsing and rendering only; the work is in `zkinfer.chain.oracle`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkinfer.cli.chain_options import (
    AsJson,
    KeyFile,
    RpcUrl,
    StakeAddress,
    StakeRegistry,
    StateDir,
    open_stake,
    registry,
    show_sent,
)
from zkinfer.cli.output import guarded


def register(chain_app: typer.Typer) -> None:
    """Add `deploy-oracle` to the `chain` group."""
    chain_app.command("deploy-oracle")(deploy_oracle)


def deploy_oracle(
    threshold: Annotated[
        int, typer.Option("--threshold", min=1, help="Signers (registered, bonded nodes) a certificate needs")
    ],
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    stake_address: StakeAddress = None,
    signatures_address: Annotated[
        str | None,
        typer.Option("--signatures", help="The key registry (default: the latest recorded in --registry)"),
    ] = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
) -> None:
    """Deploy the certificate oracle over the stake contract and the key registry, record it, and let it slash
    (SLASHER_ROLE: the signing key must be the stake's admin); the threshold is fixed for its lifetime."""
    from zkinfer.chain import oracle
    from zkinfer.chain import registry as registry_mod

    path = registry(registry_file, state_dir, None, as_json)
    stake = open_stake(rpc_url, key_file, state_dir, stake_address, path, as_json)
    keys = signatures_address or guarded(
        lambda: registry_mod.recorded_address(
            path, "signatures", stake.chain.chain_id, "signatures contract", "--signatures", "deploy-signatures"
        ),
        as_json,
    )
    deployed, sent = guarded(lambda: oracle.deploy_and_record(stake.chain, stake, keys, threshold, path), as_json)
    show_sent(
        f"oracle deployed at {deployed.address} (threshold {threshold}, stake {stake.address}, keys {keys})",
        sent,
        as_json,
        address=deployed.address,
        registry=str(path),
    )
