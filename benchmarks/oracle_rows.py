"""The certificate oracle's rows of `bench_chain.py` (contracts/ZkinferOracle.sol): gas to post a quorum
certificate of 3 and of 5 signers (keys summed with G1ADD, one hash to G2, one two-pair pairing check, the
answer stored), to slash the signer of one statement a proof contradicts (signature check + the model's
verifier + slashFor), and to slash the 3 signers of a contradicted certificate (no signature check: it was
checked when posted).

Each circuit gets its own stake contract (its model registered against the verifier `row_deploy_verifier`
deployed), key registry and oracle (threshold 3); nodes are the dev chain's accounts 1-5, each bonded with a
fresh BLS key registered (proof of possession), and account 7 sends the contradictions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from benchmarks.bench_chain import Bench, Case, Row

NODES = (1, 2, 3, 4, 5)
PROVER = 7
THRESHOLD = 3


def _as(bench: Bench, index: int) -> Any:
    from zkinfer.chain import account, devchain

    return account.connect(bench.chain.rpc_url, devchain.DEV_KEYS[index])


def _lie(case: Case, request_id: str) -> Any:
    from zkinfer.core.formats.statement import from_receipt

    true = from_receipt(case.receipt, request_id)
    return dataclasses.replace(true, output=tuple(tuple(v + 1 for v in values) for values in true.output))


def _certificate(case: Case, statement: Any, who: tuple[int, ...]) -> Any:
    from zkinfer.core.formats.statement import sign
    from zkinfer.network import certificate

    keys = case.facts["oracle_keys"]
    return certificate.make([sign(statement, keys[w].secret, keys[w].public_key) for w in who])


def row_oracle_setup(bench: Bench, case: Case) -> Row:
    from zkinfer.chain import claims
    from zkinfer.chain.oracle import Oracle
    from zkinfer.chain.signatures import Signatures
    from zkinfer.chain.stake_client import Stake
    from zkinfer.core.crypto import identity

    stake, _ = Stake.deploy(bench.chain)
    stake.register_model(
        claims.receipt_model_id(case.receipt), case.facts["verifier"], claims.Layout.of_receipt(case.receipt)
    )
    signatures, _ = Signatures.deploy(bench.chain, stake.address)
    oracle, deployed = Oracle.deploy(bench.chain, stake.address, signatures.address, THRESHOLD)
    stake.grant_slasher(oracle.address)
    keys = {who: identity.new_key() for who in NODES}
    for who in NODES:
        stake.as_signer(_as(bench, who)).register_node(stake.params().min_bond)
        signatures.as_signer(_as(bench, who)).register_key(keys[who])
    case.facts.update(oracle=oracle, oracle_keys=keys)
    return Row(case.name, f"oracle: deploy (threshold {THRESHOLD})", deployed.gas_used)


def row_oracle_post_3(bench: Bench, case: Case) -> Row:
    from zkinfer.core.formats.statement import from_receipt

    _, sent = case.facts["oracle"].post_certificate(
        _certificate(case, from_receipt(case.receipt, "bench-3"), NODES[:3])
    )
    return Row(case.name, "oracle: post a certificate, 3 signers", sent.gas_used)


def row_oracle_post_5(bench: Bench, case: Case) -> Row:
    from zkinfer.core.formats.statement import from_receipt

    _, sent = case.facts["oracle"].post_certificate(_certificate(case, from_receipt(case.receipt, "bench-5"), NODES))
    return Row(case.name, "oracle: post a certificate, 5 signers", sent.gas_used)


def row_oracle_contradiction(bench: Bench, case: Case) -> Row:
    from zkinfer.core.formats.statement import sign

    key = case.facts["oracle_keys"][NODES[4]]
    signed = sign(_lie(case, "bench-lie"), key.secret, key.public_key)
    sent = case.facts["oracle"].as_signer(_as(bench, PROVER)).slash_contradiction(signed, case.receipt, verified=True)
    return Row(case.name, "oracle: contradiction slash (1 statement)", sent.gas_used)


def row_oracle_contradict_certificate(bench: Bench, case: Case) -> Row:
    oracle = case.facts["oracle"]
    lie = _lie(case, "bench-certified-lie")
    oracle.post_certificate(_certificate(case, lie, NODES[:3]))
    sent = oracle.as_signer(_as(bench, PROVER)).contradict_certificate(
        lie.circuit, lie.request_id, case.receipt, verified=True
    )
    return Row(case.name, "oracle: contradicted certificate (3 slashed)", sent.gas_used)


ROWS = [
    row_oracle_setup,
    row_oracle_post_3,
    row_oracle_post_5,
    row_oracle_contradiction,
    row_oracle_contradict_certificate,
]
