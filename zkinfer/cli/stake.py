"""The stake commands of `zkinfer chain` (contracts/ZkinferStake.sol): deploy-stake, register-node,
register-model, post-claims, answer, slash, withdraw and status. Parsing and rendering only; the
work is in `zkinfer.chain`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zkinfer.chain import economics
from zkinfer.chain.amounts import parse_eth, parse_gwei
from zkinfer.cli.chain_options import (
    AsJson,
    CircuitChecks,
    KeyFile,
    RpcUrl,
    StakeAddress,
    StakeRegistry,
    StateDir,
    open_stake,
    registry,
    show_sent,
)
from zkinfer.cli.output import fail, guarded, out, shown, step


def register(chain_app: typer.Typer) -> None:
    """Add the stake commands to the `chain` group."""
    chain_app.command("deploy-stake")(deploy_stake)
    chain_app.command("register-node")(register_node)
    chain_app.command("register-model")(register_model)
    chain_app.command("post-claims")(post_claims)
    chain_app.command("answer")(answer)
    chain_app.command("slash")(slash)
    chain_app.command("withdraw")(withdraw)


def _claim_and_contract(
    claim_path: Path,
    rpc_url: str | None,
    key_file: Path | None,
    state_dir: Path,
    stake_address: str | None,
    registry_file: Path | None,
    as_json: bool,
) -> tuple[Any, Any]:
    """A claim file and the stake contract it names (unless `--stake` overrides it), for answer and slash."""
    from zkinfer.chain import challenge

    claim_file = guarded(lambda: challenge.load_claim_file(claim_path), as_json)
    return claim_file, open_stake(
        rpc_url, key_file, state_dir, stake_address or claim_file.contract, registry_file, as_json
    )


def deploy_stake(
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    registry_file: StakeRegistry = None,
    min_bond: Annotated[str, typer.Option("--min-bond", help="ETH a node must bond to post claims")] = "1",
    challenge_bond: Annotated[
        str,
        typer.Option(
            "--challenge-bond", help="ETH a challenger stakes (lost to the node if it answers with a valid proof)"
        ),
    ] = "0.1",
    window: Annotated[
        int, typer.Option("--window", min=1, help="Seconds a claim can be challenged after it is posted")
    ] = 3600,
    answer_period: Annotated[
        int, typer.Option("--answer-period", min=1, help="Seconds a node has to answer a challenge with its proof")
    ] = 3600,
    slash_share_bps: Annotated[
        int,
        typer.Option(
            "--slash-share-bps",
            min=0,
            max=10_000,
            help="Share of a slashed bond (basis points) to whoever proved the lie; the rest is burned",
        ),
    ] = 5000,
    gas_price_gwei: Annotated[
        str,
        typer.Option(
            "--gas-price-gwei", help="Gas price (gwei) at which the challenge bond must pay for answering a challenge"
        ),
    ] = economics.GAS_PRICE_GWEI,
    proving_cost_per_second: Annotated[
        str,
        typer.Option("--proving-cost-per-second", help="ETH a second of proving costs the node (its machine's price)"),
    ] = economics.PROVING_COST_PER_S,
    answer_gas: Annotated[
        int,
        typer.Option("--answer-gas", min=0, help="Gas of an answer with the proof (bench_chain; default: the largest)"),
    ] = economics.ANSWER_GAS,
    proving_seconds: Annotated[
        float,
        typer.Option(
            "--proving-seconds", min=0, help="Seconds to prove one answer (bench_chain; default: the longest)"
        ),
    ] = economics.PROVING_S,
    as_json: AsJson = False,
) -> None:
    """Deploy the stake contract (contracts/ZkinferStake.sol); the signer becomes its owner, who registers models.
    Refused (exit 2) when --challenge-bond is below what answering a challenge costs the node at the stated prices."""
    from zkinfer.chain import account, stake

    params = stake.StakeParams(
        guarded(lambda: parse_eth(min_bond, "--min-bond"), as_json),
        guarded(lambda: parse_eth(challenge_bond, "--challenge-bond"), as_json),
        window,
        answer_period,
        slash_share_bps,
    )
    gas_price = guarded(lambda: parse_gwei(gas_price_gwei, "--gas-price-gwei"), as_json)
    proving_price = guarded(lambda: parse_eth(proving_cost_per_second, "--proving-cost-per-second"), as_json)
    cost = guarded(lambda: economics.AnswerCost(gas_price, proving_price, answer_gas, proving_seconds), as_json)
    guarded(lambda: economics.check_challenge_bond(params.challenge_bond, cost), as_json)
    chain = guarded(lambda: account.connect_cli(rpc_url, key_file, state_dir, need_key=True), as_json)
    path = registry(registry_file, state_dir, None, as_json)
    deployed, sent = guarded(lambda: stake.deploy_and_record(chain, params, path), as_json)
    show_sent(
        f"stake contract deployed at {deployed.address} on chain {chain.chain_id}",
        sent,
        as_json,
        address=deployed.address,
        registry=str(path),
    )
    if not as_json:
        out.print(shown(f"owner {chain.address}; recorded in {path}"))


def _check_registration(contract: Any, circuit_dir: Path) -> None:
    from zkinfer.chain import registration

    registration.check(contract, registration.expected(circuit_dir))


def register_node(
    bond: Annotated[str, typer.Option("--bond", help="ETH to bond (at least the contract's minimum)")] = "1",
    circuits: CircuitChecks = None,
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    stake_address: StakeAddress = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
) -> None:
    """Register the signer as a node with a bond (or add to its bond when it is registered); with
    --circuit, only once each circuit's model is registered with exactly its verifier and layout
    (exit 2 naming the mismatch)."""
    import functools

    contract = open_stake(rpc_url, key_file, state_dir, stake_address, registry_file, as_json)
    for circuit_dir in circuits or []:
        with step(f"checking the registration of {circuit_dir}"):
            guarded(functools.partial(_check_registration, contract, circuit_dir), as_json)
    amount = guarded(lambda: parse_eth(bond, "--bond"))
    registered = guarded(lambda: contract.node(contract.chain.address).registered, as_json)
    sent = guarded(lambda: contract.add_bond(amount) if registered else contract.register_node(amount), as_json)
    show_sent(
        f"node {contract.chain.address} {'added to its bond' if registered else 'registered'}",
        sent,
        as_json,
        bond_wei=contract.node(contract.chain.address).bond,
    )


def register_model(
    circuit_dir: Annotated[
        Path,
        typer.Argument(help="A compiled circuit directory whose verifier is deployed (zkinfer chain deploy-verifier)"),
    ],
    verifier_address: Annotated[
        str | None,
        typer.Option(
            "--verifier",
            help="The verifier's address (default: the one the registry records for the circuit); its code is checked",
        ),
    ] = None,
    verifier_registry: Annotated[
        Path | None,
        typer.Option(
            "--verifier-registry",
            help="The deployments file naming the circuit's verifier (default: the registry, --registry)",
        ),
    ] = None,
    receipt_path: Annotated[
        Path | None,
        typer.Option(
            "--receipt", help="A receipt of the circuit: its weights commitment is pinned (hashed weights only)"
        ),
    ] = None,
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    stake_address: StakeAddress = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
) -> None:
    """Register a circuit as a model (owner only): circuit digest → verifier and instance layout. Permanent."""
    from zkinfer.chain import stake
    from zkinfer.core.formats import receipt as receipt_mod

    path = registry(registry_file, state_dir, [circuit_dir], as_json)
    contract = open_stake(rpc_url, key_file, state_dir, stake_address, path, as_json)
    params_receipt = None if receipt_path is None else guarded(lambda: receipt_mod.load(receipt_path), as_json)
    verifiers = verifier_registry or path  # one registry holds the verifier and the stake contract
    model, verifier, layout, sent = guarded(
        lambda: stake.register_circuit(contract, circuit_dir, verifier_address, verifiers, params_receipt), as_json
    )
    show_sent(
        f"model 0x{model.hex()} registered with verifier {verifier}",
        sent,
        as_json,
        model_id="0x" + model.hex(),
        verifier=verifier,
        layout=f"{layout.n_input} input + {layout.n_params} weights + {layout.n_output} output felts",
    )


def post_claims(
    receipts: Annotated[
        list[Path],
        typer.Argument(help="Receipts whose statements to claim (one: a single claim; more: a Merkle batch)"),
    ],
    request_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--request-id",
            help="Each receipt's request id, in order (default: receipt-<16 hex digits of the receipt file's SHA-256>)",
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("-o", "--out", help="Where to write a claim file per claim (what challengers need)")
    ] = Path("claims"),
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    stake_address: StakeAddress = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
) -> None:
    """Post claims for verified receipts (as the signer's node) and write their claim files."""
    import functools

    from zkinfer.chain import challenge, claims
    from zkinfer.core.formats import receipt as receipt_mod

    ids = request_ids or [guarded(functools.partial(claims.default_request_id, p), as_json) for p in receipts]
    if len(ids) != len(receipts):
        fail(f"{len(ids)} --request-id for {len(receipts)} receipts: give one per receipt, in order", 2, as_json)
    repeated = sorted({rid for rid in ids if ids.count(rid) > 1})
    if repeated:
        fail(
            f"request id {repeated[0]!r} given to two receipts (the same receipt twice?): a claim's request id must "
            f"be unique",
            2,
            as_json,
        )
    contract = open_stake(rpc_url, key_file, state_dir, stake_address, registry_file, as_json)
    loaded = [
        (rid, guarded(functools.partial(receipt_mod.load, p), as_json)) for rid, p in zip(ids, receipts, strict=True)
    ]
    posted, files = guarded(lambda: challenge.post_receipts(contract, loaded, out_dir), as_json)
    paths = [str(out_dir / f"{f.claim.request_id}.claim.json") for f in files]
    show_sent(
        f"{len(files)} claim(s) posted as batch {posted.batch_id}, challengeable until {posted.window_end}",
        posted.sent,
        as_json,
        batch_id=posted.batch_id,
        claim_files=paths,
        request_ids=[f.claim.request_id for f in files],
    )
    if not as_json:
        for receipt_path, request_id, path in zip(receipts, ids, paths, strict=True):
            out.print(shown(f"{receipt_path}: request id {request_id}, claim file {path}"))


def answer(
    claim_path: Annotated[Path, typer.Option("--claim", help="The challenged claim's file")],
    receipt_path: Annotated[Path, typer.Option("--receipt", help="The receipt whose proof attests the claim")],
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    stake_address: StakeAddress = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
) -> None:
    """Answer a challenge of one of the signer's claims with the proof (verified here first)."""
    from zkinfer.core.formats import receipt as receipt_mod

    claim_file, contract = _claim_and_contract(
        claim_path, rpc_url, key_file, state_dir, stake_address, registry_file, as_json
    )
    receipt = guarded(lambda: receipt_mod.load(receipt_path), as_json)
    sent = guarded(lambda: contract.answer(claim_file.batch_id, claim_file.claim, receipt), as_json)
    show_sent(
        f"challenge of request {claim_file.claim.request_id!r} answered with the proof; the challenger's bond is "
        f"the node's",
        sent,
        as_json,
    )


def slash(
    claim_path: Annotated[Path, typer.Option("--claim", help="The challenged claim's file")],
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    stake_address: StakeAddress = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
) -> None:
    """Slash a node whose challenged claim went unanswered past its deadline (anyone may)."""

    claim_file, contract = _claim_and_contract(
        claim_path, rpc_url, key_file, state_dir, stake_address, registry_file, as_json
    )
    sent = guarded(lambda: contract.slash(claim_file.batch_id, claim_file.claim), as_json)
    show_sent(f"node {claim_file.node} slashed for request {claim_file.claim.request_id!r}", sent, as_json)


def withdraw(
    bond: Annotated[
        str | None,
        typer.Option(
            "--bond",
            help="Also unbond this much ETH first (refused while a claim is in its window or a challenge is open)",
        ),
    ] = None,
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    stake_address: StakeAddress = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
) -> None:
    """Withdraw the signer's balance (won bonds, rewards, unbonded stake) to its account."""

    contract = open_stake(rpc_url, key_file, state_dir, stake_address, registry_file, as_json)
    if bond is not None:
        amount = guarded(lambda: parse_eth(bond, "--bond"))
        guarded(lambda: contract.withdraw_bond(amount), as_json)
    balance = guarded(lambda: contract.node(contract.chain.address).balance, as_json)
    sent = guarded(lambda: contract.withdraw(), as_json)
    show_sent(f"withdrew {balance} wei to {contract.chain.address}", sent, as_json, amount_wei=balance)
