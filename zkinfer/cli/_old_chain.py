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

chain_app = typer.Typer(
    help="zkinfer on an EVM chain: a local dev chain, verifier contracts, stake and claims.", no_args_is_help=True
)

STATE_DIR_HELP = "The chain state directory: the dev chain (pid, RPC URL, state; used when --rpc-url is not given) and the registry, deployments.json"
REGISTRY_HELP = "The deployments file recording verifiers and the stake contract (default: deployments.json in --state-dir, for every chain)"
RpcUrl = Annotated[
    str | None,
    typer.Option("--rpc-url", help="An EVM node's JSON-RPC URL (default: the dev chain running from --state-dir)"),
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="File holding the hex private key that signs (or $ZKINFER_CHAIN_KEY); default only on the dev chain: its first account",
    ),
]
StateDir = Annotated[Path, typer.Option("--state-dir", help=STATE_DIR_HELP)]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON")]


def register(app: typer.Typer) -> None:
    """Add the `chain` group to the main command."""
    app.add_typer(chain_app, name="chain")


def _json_out(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")


def _registry(
    given: Path | None, state_dir: Path, circuit_dirs: list[Path] | None = None, as_json: bool = False
) -> Path:
    """The one deployments file: `--registry` as given, else deployments.json in `--state-dir`, into
    which the files older versions wrote (./deployments.json, CIRCUIT/deployments.json) are adopted."""
    from zkinfer.chain import registry
    from zkinfer.cli import err, guarded, shown

    found = guarded(lambda: registry.resolve(given, state_dir, circuit_dirs or []), as_json)
    for old in found.adopted:
        err.print(
            shown(
                f"note: the deployments recorded in {old} (where older versions wrote them) are now also in {found.path}, the one registry"
            )
        )
    return found.path


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
    from zkinfer.cli import guarded, out, shown

    chain = guarded(
        lambda: devchain.start(state_dir, port or devchain.DEFAULT_PORT, code_size_limit=code_size_limit), as_json
    )
    from eth_account import Account

    first = Account.from_key(chain.default_key).address
    if as_json:
        _json_out(
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
            f"dev chain (anvil) at {chain.rpc_url}, chain id {chain.chain_id}, pid {chain.pid}; state in {chain.state_dir}"
        )
    )
    out.print(
        shown(
            f"{devchain.ACCOUNTS} prefunded accounts ({devchain.BALANCE_ETH} ETH each); the default signer here is {first}, whose key is public: dev only"
        )
    )
    out.print(shown(f"stop it with: zkinfer chain down --state-dir {state_dir}"))


@chain_app.command("down")
def down(state_dir: StateDir = Path(".zkinfer-chain")) -> None:
    """Stop the dev chain running from --state-dir (its state is saved there first)."""
    from zkinfer.chain import devchain
    from zkinfer.cli import guarded, out, shown

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
    from zkinfer.cli import guarded, out, shown, step

    chain = guarded(lambda: account.connect_cli(rpc_url, key_file, state_dir, need_key=True), as_json)
    path = _registry(registry_file, state_dir, [circuit_dir], as_json)
    with step("generating, compiling and deploying the verifier"):
        result = guarded(
            lambda: verifier.deploy_verifier(circuit_dir, chain, path, allow_oversize=allow_oversize), as_json
        )
    d = result.deployment
    if as_json:
        _json_out(
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
                f"warning: the keys use a development SRS ({d.srs_fingerprint}): whoever made it can forge proofs this verifier accepts; "
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
            help="The deployments file naming the receipt's verifier, instead of --address (default: the registry in --state-dir)",
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
    from zkinfer.cli import fail, guarded, out, shown, status_mark
    from zkinfer.core import receipt as receipt_mod

    if address is not None and registry_file is not None:
        fail(
            "give one of --address (the verifier contract) and --registry (a deployments file that names it), not both",
            2,
            as_json,
        )
    if address is None:
        registry_file = _registry(registry_file, state_dir, None, as_json)
    receipt = guarded(lambda: receipt_mod.load(receipt_path), as_json)
    chain = guarded(lambda: account.connect_cli(rpc_url, None, state_dir, need_key=False), as_json)
    verdict = guarded(
        lambda: onchain.verify(
            chain, receipt, address=address, registry_file=registry_file, expect_circuit=expect_circuit
        ),
        as_json,
    )
    if as_json:
        _json_out(verdict.to_json())
    else:
        for check in verdict.checks:
            out.print(f"{status_mark(check.status)} {check.name:<15} {shown(check.detail)}", highlight=False)
        out.print(shown(verdict.summary))
    raise typer.Exit(0 if verdict.verified else 1)


# ---- stake, claims and challenges (contracts/ZkinferStake.sol): `chain status` and the commands of
# ---- zkinfer.chain.stake go below, one function per command, each registered on chain_app.

StakeAddress = Annotated[
    str | None,
    typer.Option(
        "--stake", help="The stake contract's address (default: the latest recorded in --registry for this chain)"
    ),
]
StakeRegistry = Annotated[Path | None, typer.Option("--registry", help=REGISTRY_HELP)]
WEI_PER_ETH = 10**18


def _wei(eth: str, option: str) -> int:
    """An ETH amount given as a decimal string, exactly in wei (no float rounding)."""
    from decimal import Decimal, InvalidOperation

    from zkinfer.cli import fail

    try:
        value = Decimal(eth) * WEI_PER_ETH
    except InvalidOperation:
        value = Decimal(-1)
    if value < 0 or value != value.to_integral_value():
        fail(f"{option} {eth!r}: expected an amount of ETH (a decimal number, at most 18 decimals)")
    return int(value)


def _open(
    rpc_url: str | None,
    key_file: Path | None,
    state_dir: Path,
    stake_address: str | None,
    registry_file: Path | None,
    as_json: bool = False,
    need_key: bool = True,
) -> Any:
    from zkinfer.chain import account, stake
    from zkinfer.cli import guarded

    registry_file = _registry(registry_file, state_dir, None, as_json)

    chain = guarded(lambda: account.connect_cli(rpc_url, key_file, state_dir, need_key=need_key), as_json)
    return guarded(lambda: stake.open_stake(chain, stake_address, registry_file), as_json)


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
    from zkinfer.cli import guarded

    claim_file = guarded(lambda: challenge.load_claim_file(claim_path), as_json)
    return claim_file, _open(rpc_url, key_file, state_dir, stake_address or claim_file.contract, registry_file, as_json)


def _sent(what: str, sent: Any, as_json: bool, **extra: Any) -> None:
    from zkinfer.cli import out, shown

    if as_json:
        _json_out({"done": what, "tx_hash": sent.tx_hash, "block": sent.block, "gas_used": sent.gas_used, **extra})
        return
    more = "".join(f", {k} {v}" for k, v in extra.items())
    out.print(shown(f"{what}: gas {sent.gas_used}, tx {sent.tx_hash}, block {sent.block}{more}"))


@chain_app.command("deploy-stake")
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
    as_json: AsJson = False,
) -> None:
    """Deploy the stake contract (contracts/ZkinferStake.sol); the signer becomes its owner, who registers models."""
    from zkinfer.chain import account, stake
    from zkinfer.cli import guarded, out, shown

    params = stake.StakeParams(
        _wei(min_bond, "--min-bond"), _wei(challenge_bond, "--challenge-bond"), window, answer_period, slash_share_bps
    )
    chain = guarded(lambda: account.connect_cli(rpc_url, key_file, state_dir, need_key=True), as_json)
    path = _registry(registry_file, state_dir, None, as_json)
    deployed, sent = guarded(lambda: stake.deploy_and_record(chain, params, path), as_json)
    _sent(
        f"stake contract deployed at {deployed.address} on chain {chain.chain_id}",
        sent,
        as_json,
        address=deployed.address,
        registry=str(path),
    )
    if not as_json:
        out.print(shown(f"owner {chain.address}; recorded in {path}"))


CircuitChecks = Annotated[
    list[Path] | None,
    typer.Option(
        "--circuit",
        help="A compiled circuit directory whose model's registration (verifier code, layout) is checked (repeatable)",
    ),
]


def _check_registration(contract: Any, circuit_dir: Path) -> None:
    from zkinfer.chain import registration

    registration.check(contract, registration.expected(circuit_dir))


@chain_app.command("register-node")
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
    --circuit, only once each circuit's model is registered with exactly its verifier and layout (exit 2 naming the mismatch)."""
    import functools

    from zkinfer.cli import guarded, step

    contract = _open(rpc_url, key_file, state_dir, stake_address, registry_file, as_json)
    for circuit_dir in circuits or []:
        with step(f"checking the registration of {circuit_dir}"):
            guarded(functools.partial(_check_registration, contract, circuit_dir), as_json)
    amount = _wei(bond, "--bond")
    registered = guarded(lambda: contract.node(contract.chain.address).registered, as_json)
    sent = guarded(lambda: contract.add_bond(amount) if registered else contract.register_node(amount), as_json)
    _sent(
        f"node {contract.chain.address} {'added to its bond' if registered else 'registered'}",
        sent,
        as_json,
        bond_wei=contract.node(contract.chain.address).bond,
    )


@chain_app.command("register-model")
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
    from zkinfer.cli import guarded
    from zkinfer.core import receipt as receipt_mod

    path = _registry(registry_file, state_dir, [circuit_dir], as_json)
    contract = _open(rpc_url, key_file, state_dir, stake_address, path, as_json)
    params_receipt = None if receipt_path is None else guarded(lambda: receipt_mod.load(receipt_path), as_json)
    verifiers = verifier_registry or path  # one registry holds the verifier and the stake contract
    model, verifier, layout, sent = guarded(
        lambda: stake.register_circuit(contract, circuit_dir, verifier_address, verifiers, params_receipt), as_json
    )
    _sent(
        f"model 0x{model.hex()} registered with verifier {verifier}",
        sent,
        as_json,
        model_id="0x" + model.hex(),
        verifier=verifier,
        layout=f"{layout.n_input} input + {layout.n_params} weights + {layout.n_output} output felts",
    )


@chain_app.command("post-claims")
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

    from zkinfer.chain import challenge
    from zkinfer.cli import fail, guarded
    from zkinfer.core import receipt as receipt_mod

    ids = request_ids or [guarded(functools.partial(default_request_id, p), as_json) for p in receipts]
    if len(ids) != len(receipts):
        fail(f"{len(ids)} --request-id for {len(receipts)} receipts: give one per receipt, in order", 2, as_json)
    repeated = sorted({rid for rid in ids if ids.count(rid) > 1})
    if repeated:
        fail(
            f"request id {repeated[0]!r} given to two receipts (the same receipt twice?): a claim's request id must be unique",
            2,
            as_json,
        )
    contract = _open(rpc_url, key_file, state_dir, stake_address, registry_file, as_json)
    loaded = [
        (rid, guarded(functools.partial(receipt_mod.load, p), as_json)) for rid, p in zip(ids, receipts, strict=True)
    ]
    posted, files = guarded(lambda: challenge.post_receipts(contract, loaded, out_dir), as_json)
    paths = [str(out_dir / f"{f.claim.request_id}.claim.json") for f in files]
    _sent(
        f"{len(files)} claim(s) posted as batch {posted.batch_id}, challengeable until {posted.window_end}",
        posted.sent,
        as_json,
        batch_id=posted.batch_id,
        claim_files=paths,
        request_ids=[f.claim.request_id for f in files],
    )
    if not as_json:
        from zkinfer.cli import out, shown

        for receipt_path, request_id, path in zip(receipts, ids, paths, strict=True):
            out.print(shown(f"{receipt_path}: request id {request_id}, claim file {path}"))


def default_request_id(receipt_path: Path) -> str:
    """A receipt's request id when `post-claims` is given none: `receipt-` and the first 16 hex
    digits of the file's SHA-256 (a receipt from `zkinfer prove` names no request)."""
    from zkinfer.core.digest import digest_file
    from zkinfer.core.errors import UsageError

    try:
        return "receipt-" + digest_file(receipt_path).removeprefix("sha256:")[:16]
    except OSError as exc:
        raise UsageError(f"{receipt_path}: cannot read the receipt ({exc.strerror or exc})") from exc


@chain_app.command("answer")
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
    from zkinfer.cli import guarded
    from zkinfer.core import receipt as receipt_mod

    claim_file, contract = _claim_and_contract(
        claim_path, rpc_url, key_file, state_dir, stake_address, registry_file, as_json
    )
    receipt = guarded(lambda: receipt_mod.load(receipt_path), as_json)
    sent = guarded(lambda: contract.answer(claim_file.batch_id, claim_file.claim, receipt), as_json)
    _sent(
        f"challenge of request {claim_file.claim.request_id!r} answered with the proof; the challenger's bond is the node's",
        sent,
        as_json,
    )


@chain_app.command("slash")
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
    from zkinfer.cli import guarded

    claim_file, contract = _claim_and_contract(
        claim_path, rpc_url, key_file, state_dir, stake_address, registry_file, as_json
    )
    sent = guarded(lambda: contract.slash(claim_file.batch_id, claim_file.claim), as_json)
    _sent(f"node {claim_file.node} slashed for request {claim_file.claim.request_id!r}", sent, as_json)


@chain_app.command("withdraw")
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
    from zkinfer.cli import guarded

    contract = _open(rpc_url, key_file, state_dir, stake_address, registry_file, as_json)
    if bond is not None:
        amount = _wei(bond, "--bond")
        guarded(lambda: contract.withdraw_bond(amount), as_json)
    balance = guarded(lambda: contract.node(contract.chain.address).balance, as_json)
    sent = guarded(lambda: contract.withdraw(), as_json)
    _sent(f"withdrew {balance} wei to {contract.chain.address}", sent, as_json, amount_wei=balance)


@chain_app.command("status")
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
) -> None:
    """Bonds, models (each checked: is its verifier the circuit's?), claims in their window, challenges and
    slashes, read from the contract and its events."""
    from zkinfer.cli import guarded, out, shown, step

    path = _registry(registry_file, state_dir, circuits, as_json)
    contract = _open(rpc_url, None, state_dir, stake_address, path, as_json, need_key=False)
    with step("reading the contract (and compiling the given circuits' verifiers)"):
        report = guarded(
            lambda: contract.status(from_block, circuits or [], [path, *(verifier_registries or [])]), as_json
        )
    if as_json:
        _json_out(report.to_json())
        return
    p = report.params
    out.print(
        shown(
            f"stake contract {report.address} on chain {report.chain_id} (owner {report.owner}); burned {report.burned / WEI_PER_ETH:g} ETH"
        )
    )
    out.print(
        shown(
            f"min bond {p.min_bond / WEI_PER_ETH:g} ETH, challenge bond {p.challenge_bond / WEI_PER_ETH:g} ETH, window {p.challenge_window_s} s, "
            f"answer within {p.answer_period_s} s, slash share {p.slash_share_bps / 100:g} %"
        )
    )
    out.print(
        shown(
            f"{len(report.models)} model(s); {report.claims_posted} claim(s) posted, {sum(b['claims'] for b in report.batches_in_window)} still challengeable"
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
            f"model {m['model_id'][:18]}… verifier {m['verifier']}, {shown(m['layout'])}: {verdicts[check['status']]} {shown(check['detail'])}",
            highlight=False,
        )
    for n in report.nodes:
        state = "SLASHED" if n.slashed else "active"
        out.print(
            shown(
                f"node {n.address}: {state}, bond {n.bond / WEI_PER_ETH:g} ETH, {n.open_challenges} open challenge(s), withdrawable {n.balance / WEI_PER_ETH:g} ETH"
            )
        )
    for c in report.challenges:
        out.print(
            shown(
                f"challenge {c.key[:18]}… batch {c.batch_id} of {c.node} by {c.challenger}: {c.state} (deadline {c.deadline})"
            )
        )
    for s in report.slashes:
        out.print(
            shown(
                f"slash of {s['node']} (claim {s['claim_key'][:18]}…): {s['amount_wei'] / WEI_PER_ETH:g} ETH, "
                f"{s['reward_wei'] / WEI_PER_ETH:g} to {s['beneficiary']}, {s['burned_wei'] / WEI_PER_ETH:g} burned"
            )
        )


def register_challenge(app: typer.Typer) -> None:
    """Add the top-level `zkinfer challenge` command."""
    app.command("challenge")(challenge_command)


def challenge_command(
    claim_path: Annotated[
        Path | None, typer.Option("--claim", help="The claim file of the claim to challenge (from the node)")
    ] = None,
    evidence_path: Annotated[
        Path | None,
        typer.Option(
            "--evidence",
            help="Gateway evidence (zkinfer verify-evidence): a contradiction is a fraud proof, the rest a challenge",
        ),
    ] = None,
    rpc_url: RpcUrl = None,
    key_file: KeyFile = None,
    state_dir: StateDir = Path(".zkinfer-chain"),
    stake_address: StakeAddress = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
) -> None:
    """Challenge a node's claim on chain (with the contract's challenge bond), or slash it at once with
    a fraud proof from gateway evidence; exit 0 submitted, 1 the evidence does not hold, 2 bad input or refused."""
    from zkinfer.chain import challenge
    from zkinfer.chain.claims import ClaimError
    from zkinfer.cli import fail, guarded
    from zkinfer.network import evidence

    if claim_path is None and evidence_path is None:
        fail("give --claim CLAIM.json (a node's claim file), --evidence EVIDENCE.json, or both", 2, as_json)
    claim_file = None if claim_path is None else guarded(lambda: challenge.load_claim_file(claim_path), as_json)
    contract = _open(
        rpc_url,
        key_file,
        state_dir,
        stake_address or (claim_file.contract if claim_file else None),
        registry_file,
        as_json,
    )
    if evidence_path is None:
        assert claim_file is not None
        key, sent = guarded(
            lambda: contract.challenge(claim_file.batch_id, claim_file.claim, claim_file.merkle_proof), as_json
        )
        info = contract.challenge_info(key, claim_file.batch_id)
        _sent(
            f"challenged request {claim_file.claim.request_id!r} of node {info.node}; it must answer by {info.deadline}",
            sent,
            as_json,
            claim_key=info.key,
            deadline=info.deadline,
        )
        return
    document = guarded(lambda: evidence.read(evidence_path), as_json)
    try:
        action = challenge.evidence_action(document, claim_file)
    except (ClaimError, challenge.EvidenceDoesNotHold) as exc:
        fail(f"{evidence_path}: {exc}", exc.exit_code, as_json)
        raise
    batch_id = (
        claim_file.batch_id
        if claim_file
        else guarded(lambda: challenge.find_single_claim(contract, action.claim), as_json)
    )
    proof = claim_file.merkle_proof if claim_file else ()
    if action.kind == "fraud":
        # evidence.check verified the receipt fully (signed by the accused, proof, binding): no second verification
        sent = guarded(
            lambda: contract.prove_fraud(batch_id, action.claim, action.receipt, proof, verified=True), as_json
        )
        _sent(
            f"fraud proven on request {action.claim.request_id!r} (batch {batch_id}): the node is slashed",
            sent,
            as_json,
            kind="fraud",
            batch_id=batch_id,
        )
        return
    key, sent = guarded(lambda: contract.challenge(batch_id, action.claim, proof), as_json)
    _sent(
        f"challenged request {action.claim.request_id!r} (batch {batch_id}) on the evidence",
        sent,
        as_json,
        kind="challenge",
        claim_key="0x" + key.hex(),
    )
