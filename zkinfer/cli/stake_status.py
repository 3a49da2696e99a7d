"""`zkinfer chain status`: bonds, models (each checked: is its verifier the circuit's?), claims in their
window, challenges and slashes, read from the stake contract and its events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zkinfer.chain.amounts import WEI_PER_ETH
from zkinfer.cli.chain_options import (
    AsJson,
    CircuitChecks,
    OracleAddress,
    RpcUrl,
    StakeAddress,
    StakeRegistry,
    StateDir,
    open_stake,
    registry,
)
from zkinfer.cli.output import guarded, json_out, out, shown, step


def register(chain_app: typer.Typer) -> None:
    """Add `status` to the `chain` group, after the stake commands."""
    chain_app.command("status")(status)


def status(
    rpc_url: RpcUrl = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    stake_address: StakeAddress = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
    from_block: Annotated[
        int,
        typer.Option(
            "--from-block",
            min=0,
            help="Read events from this block on (the contract's deployment block: public nodes limit log queries)",
        ),
    ] = 0,
    circuits: CircuitChecks = None,
    verifier_registries: Annotated[
        list[Path] | None,
        typer.Option("--verifier-registry", help="A deployments file recording verifiers (repeatable; --registry too)"),
    ] = None,
    oracle_address: OracleAddress = None,
) -> None:
    """Bonds, models (each checked: is its verifier the circuit's?), claims in their window, challenges and
    slashes, read from the contract and its events; and the certificates posted on the oracle."""

    path = registry(registry_file, state_dir, circuits, as_json)
    contract = open_stake(rpc_url, None, state_dir, stake_address, path, as_json, need_key=False)
    with step("reading the contract (and compiling the given circuits' verifiers)"):
        report = guarded(
            lambda: contract.status(from_block, circuits or [], [path, *(verifier_registries or [])]), as_json
        )
        posted = guarded(lambda: _certificates(contract.chain, oracle_address, path, from_block), as_json)
    if as_json:
        json_out({**report.to_json(), "certificates": posted})
        return
    p = report.params
    out.print(
        shown(
            f"stake contract {report.address} on chain {report.chain_id} (owner {report.owner}); burned "
            f"{report.burned / WEI_PER_ETH:g} ETH"
        )
    )
    out.print(
        shown(
            f"min bond {p.min_bond / WEI_PER_ETH:g} ETH, challenge bond {p.challenge_bond / WEI_PER_ETH:g} ETH, "
            f"window {p.challenge_window_s} s, "
            f"answer within {p.answer_period_s} s, slash share {p.slash_share_bps / 100:g} %"
        )
    )
    out.print(
        shown(
            f"{len(report.models)} model(s); {report.claims_posted} claim(s) posted, "
            f"{sum(b['claims'] for b in report.batches_in_window)} still challengeable"
        )
    )
    verdicts = {
        "match": "[green]matches[/]",
        "mismatch": "[red]MISMATCH[/]",
        "recorded": "[yellow]code as recorded[/]",
        "unchecked": "[dim]unchecked[/]",
    }
    for m in report.models:
        check = m["check"]
        out.print(
            f"model {m['model_id'][:18]}… verifier {m['verifier']}, {shown(m['layout'])}: "
            f"{verdicts[check['status']]} {shown(check['detail'])}",
            highlight=False,
        )
    for n in report.nodes:
        state = "SLASHED" if n.slashed else "active"
        out.print(
            shown(
                f"node {n.address}: {state}, bond {n.bond / WEI_PER_ETH:g} ETH, {n.open_challenges} open "
                f"challenge(s), withdrawable {n.balance / WEI_PER_ETH:g} ETH"
            )
        )
    for c in report.challenges:
        out.print(
            shown(
                f"challenge {c.key[:18]}… batch {c.batch_id} of {c.node} by {c.challenger}: {c.state} (deadline "
                f"{c.deadline})"
            )
        )
    for s in report.slashes:
        out.print(
            shown(
                f"slash of {s['node']} (claim {s['claim_key'][:18]}…): {s['amount_wei'] / WEI_PER_ETH:g} ETH, "
                f"{s['reward_wei'] / WEI_PER_ETH:g} to {s['beneficiary']}, {s['burned_wei'] / WEI_PER_ETH:g} burned"
            )
        )
    for c in posted:
        out.print(
            shown(
                f"certificate of request {c['request_id']} (circuit {c['circuit'][:23]}…, statement "
                f"{c['statement_digest'][:23]}…): {len(c['signers'])} signer(s), block {c['block']}, tx {c['tx_hash']}"
            )
        )


def _certificates(chain: Any, address: str | None, registry_file: Path, from_block: int) -> list[dict[str, Any]]:
    """Every certificate posted on the oracle given or recorded ([] when there is none)."""
    from zkinfer.chain.oracle import find_oracle

    found = find_oracle(chain, address, registry_file)
    return [] if found is None else [p.to_json() for p in found.posted(from_block)]
