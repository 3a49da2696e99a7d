"""The signatures contract's rows of `bench_chain.py` (contracts/ZkinferSignatures.sol on the EIP-2537
precompiles): gas to register a node's BLS key with its proof of possession, and to slash an equivocation
(two signed statements of the circuit's real size: its receipt's statement, and the same with one output
value changed).

Each circuit gets a fresh stake contract (ZkinferStake, default parameters) and a signatures contract granted
its SLASHER_ROLE; the node and the accuser are the dev chain's accounts 4 and 5.
"""

from __future__ import annotations

from typing import Any

from benchmarks.bench_chain import Bench, Case, Row

NODE, ACCUSER = 4, 5


def _as(bench: Bench, index: int) -> Any:
    from zkinfer.chain import account, devchain

    return account.connect(bench.chain.rpc_url, devchain.DEV_KEYS[index])


def row_signatures_register_key(bench: Bench, case: Case) -> Row:
    from zkinfer.chain.signatures import Signatures
    from zkinfer.chain.stake_client import Stake
    from zkinfer.core.crypto import identity

    stake, _ = Stake.deploy(bench.chain)
    contract, deployed = Signatures.deploy(bench.chain, stake.address)
    contract.grant_slasher()
    node = _as(bench, NODE)
    stake.as_signer(node).register_node(stake.params().min_bond)
    key = identity.new_key()
    sent = contract.as_signer(node).register_key(key)
    case.facts.update(signatures=contract, bls_key=key)
    return Row(
        case.name,
        "signatures: register BLS key + PoP",
        sent.gas_used,
        f"signatures contract deploy {deployed.gas_used:,} gas; proof of possession checked on chain",
    )


def row_signatures_equivocation(bench: Bench, case: Case) -> Row:
    import dataclasses

    from zkinfer.core.formats.statement import from_receipt, sign

    key = case.facts["bls_key"]
    honest = from_receipt(case.receipt, "bench-1")
    output = list(map(list, honest.output))
    output[0][0] += 1
    lie = dataclasses.replace(honest, request_id="bench-2", output=tuple(map(tuple, output)))
    a, b = sign(honest, key.secret, key.public_key), sign(lie, key.secret, key.public_key)
    slashed = case.facts["signatures"].as_signer(_as(bench, ACCUSER)).slash_equivocation(a, b)
    size = len(honest.signing_bytes())
    return Row(
        case.name,
        "signatures: equivocation slash",
        slashed.sent.gas_used,
        f"two {size}-byte statements, {sum(map(len, honest.output))} output values each; one pairing check",
    )


ROWS = [row_signatures_register_key, row_signatures_equivocation]
