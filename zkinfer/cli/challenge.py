"""`zkinfer challenge --claim | --evidence`: challenge a node's claim on chain, or slash it at once with
gateway evidence: a contradiction as a fraud proof (stake contract), an equivocation on its two signed
statements (signatures contract)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zkinfer.cli.chain_options import (
    AsJson,
    KeyFile,
    OracleAddress,
    RpcUrl,
    SignaturesAddress,
    StakeAddress,
    StakeRegistry,
    StateDir,
    open_signatures,
    open_stake,
    show_sent,
)
from zkinfer.cli.output import fail, guarded


def register(app: typer.Typer) -> None:
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
    signatures_address: SignaturesAddress = None,
    oracle_address: OracleAddress = None,
    registry_file: StakeRegistry = None,
    as_json: AsJson = False,
) -> None:
    """Challenge a node's claim on chain (with the contract's challenge bond), or slash it at once: with a
    fraud proof from contradiction evidence (against the node's posted claim; with no claim, through the
    oracle's contradiction slash, when one is given or recorded), or with the two signed statements of
    equivocation evidence (through the signatures contract, when one is given or recorded); exit 0 submitted,
    1 the evidence does not hold, 2 bad input or refused."""
    from zkinfer.chain import challenge
    from zkinfer.chain.claims import ClaimError
    from zkinfer.core.formats import evidence

    if claim_path is None and evidence_path is None:
        fail("give --claim CLAIM.json (a node's claim file), --evidence EVIDENCE.json, or both", 2, as_json)
    if evidence_path is not None:
        document = guarded(lambda: evidence.read(evidence_path), as_json)
        if isinstance(document, dict) and document.get("kind") == "equivocation":
            contract = open_signatures(
                rpc_url, key_file, state_dir, signatures_address, registry_file, as_json, required=False
            )
            if contract is not None:
                _slash_equivocation(contract, document, evidence_path, as_json)
                return
    claim_file = None if claim_path is None else guarded(lambda: challenge.load_claim_file(claim_path), as_json)
    contract = open_stake(
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
        show_sent(
            f"challenged request {claim_file.claim.request_id!r} of node {info.node}; it must answer by "
            f"{info.deadline}",
            sent,
            as_json,
            claim_key=info.key,
            deadline=info.deadline,
        )
        return
    try:
        action = challenge.evidence_action(document, claim_file)
    except (ClaimError, challenge.EvidenceDoesNotHold) as exc:
        fail(f"{evidence_path}: {exc}", exc.exit_code, as_json)
        raise
    if action.kind == "fraud" and claim_file is None:
        try:
            batch_id = challenge.find_single_claim(contract, action.claim)
        except ClaimError:  # no claim to prove fraud on: the signed statement itself, through the oracle
            if not _slash_contradiction(contract, oracle_address, registry_file, state_dir, document, action, as_json):
                guarded(lambda: challenge.find_single_claim(contract, action.claim), as_json)  # says why, exit 2
            return
    else:
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
        show_sent(
            f"fraud proven on request {action.claim.request_id!r} (batch {batch_id}): the node is slashed",
            sent,
            as_json,
            kind="fraud",
            batch_id=batch_id,
        )
        return
    key, sent = guarded(lambda: contract.challenge(batch_id, action.claim, proof), as_json)
    show_sent(
        f"challenged request {action.claim.request_id!r} (batch {batch_id}) on the evidence",
        sent,
        as_json,
        kind="challenge",
        claim_key="0x" + key.hex(),
    )


def _slash_equivocation(contract: Any, document: Any, evidence_path: Path, as_json: bool) -> None:
    from zkinfer.chain import challenge, signatures

    try:
        first, second = signatures.equivocation_pair(document)
    except challenge.EvidenceDoesNotHold as exc:
        fail(f"{evidence_path}: {exc}", exc.exit_code, as_json)
        raise
    slashed = guarded(lambda: contract.slash_equivocation(first, second), as_json)
    show_sent(
        f"equivocation proven by node {slashed.node}'s own signatures: it is slashed",
        slashed.sent,
        as_json,
        kind="equivocation",
        node=slashed.node,
        reason="0x" + slashed.reason.hex(),
    )


def _slash_contradiction(
    stake: Any,
    address: str | None,
    registry_file: Path | None,
    state_dir: Path,
    document: Any,
    action: Any,
    as_json: bool,
) -> bool:
    """Slash the signer of contradiction evidence through the oracle given or recorded (False when there is
    none): its signed statement and its own receipt, whose proof the model's verifier accepts."""
    from zkinfer.chain.oracle import find_oracle
    from zkinfer.cli.chain_options import registry as registry_path
    from zkinfer.core.formats.statement import SignedStatement

    path = registry_path(registry_file, state_dir, None, as_json)
    oracle = guarded(lambda: find_oracle(stake.chain, address, path), as_json)
    if oracle is None:
        return False
    signed = SignedStatement.from_json(document["statement"], "evidence.statement")
    # evidence.check verified the receipt fully (signed by the accused, proof, binding): no second verification
    sent = guarded(lambda: oracle.slash_contradiction(signed, action.receipt, verified=True), as_json)
    show_sent(
        f"contradiction proven on request {signed.statement.request_id!r} by the node's own signature and proof: "
        "it is slashed (oracle)",
        sent,
        as_json,
        kind="contradiction",
    )
    return True
