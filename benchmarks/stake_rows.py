"""The stake contract's rows of `bench_chain.py`: gas to register, claim (alone and per claim in a
batch of 64), challenge, answer with the proof, prove fraud and slash, and the seconds from a
challenge to its end on anvil (slash: the deadline skipped with evm_increaseTime; answer: the node
proving only when challenged, as an optimistic node does); and the challenge-bond floor those
measurements give at deploy-stake's default prices (answer gas and proving time: `zkinfer.chain.economics`).

Each circuit gets a fresh stake contract (deployed by bench's first account, the owner) with its
model registered against the verifier `row_deploy_verifier` deployed; the node, challenger and
liar are the dev chain's next prefunded accounts.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.bench_chain import Bench, Case, Row

BATCH = 64
NODE, CHALLENGER, LIAR = 1, 2, 3


def _as(bench: Bench, index: int) -> Any:
    from zkinfer.chain import account, devchain

    return account.connect(bench.chain.rpc_url, devchain.DEV_KEYS[index])


def _advance(bench: Bench, seconds: int) -> None:
    from zkinfer.chain import devchain

    devchain.rpc(bench.chain.rpc_url, "evm_increaseTime", [seconds])
    devchain.rpc(bench.chain.rpc_url, "evm_mine")


def row_stake_register_model(bench: Bench, case: Case) -> Row:
    from zkinfer.chain import claims
    from zkinfer.chain.stake_client import Stake
    from zkinfer.chain.stake_types import StakeParams

    params = StakeParams(challenge_window_s=600, answer_period_s=300)
    stake, deployed = Stake.deploy(bench.chain, params)
    layout = claims.Layout.of_receipt(case.receipt)
    sent = stake.register_model(claims.receipt_model_id(case.receipt), case.facts["verifier"], layout)
    case.facts.update(
        stake=stake,
        params=params,
        node=stake.as_signer(_as(bench, NODE)),
        challenger=stake.as_signer(_as(bench, CHALLENGER)),
        liar=stake.as_signer(_as(bench, LIAR)),
    )
    return Row(
        case.name,
        "stake: register model (owner)",
        sent.gas_used,
        f"stake contract deploy {deployed.gas_used:,} gas; "
        f"layout {layout.n_input}+{layout.n_params}+{layout.n_output} felts",
    )


def row_stake_register_node(bench: Bench, case: Case) -> Row:
    params = case.facts["params"]
    sent = case.facts["node"].register_node(params.min_bond)
    case.facts["liar"].register_node(params.min_bond)
    return Row(case.name, "stake: register node (bond)", sent.gas_used)


def row_stake_claim_single(bench: Bench, case: Case) -> Row:
    from zkinfer.chain import claims

    claim = claims.from_verified_receipt(case.receipt, "bench-single")
    posted = case.facts["node"].post_claim(claim)
    case.facts["single"] = (posted.batch_id, claim)
    return Row(case.name, "stake: post one claim", posted.sent.gas_used)


def row_stake_claim_batch(bench: Bench, case: Case) -> Row:
    from zkinfer.chain import claims

    batch = [claims.from_verified_receipt(case.receipt, f"bench-{i}") for i in range(BATCH)]
    posted = case.facts["node"].post_batch(batch)
    case.facts["batch"] = (posted, batch)
    return Row(
        case.name,
        f"stake: per claim in a batch of {BATCH}",
        posted.sent.gas_used // BATCH,
        f"the batch's root: {posted.sent.gas_used:,} gas in all",
    )


def row_stake_challenge(bench: Bench, case: Case) -> Row:
    posted, batch = case.facts["batch"]
    started = time.perf_counter()
    _, sent = case.facts["challenger"].challenge(posted.batch_id, batch[5], posted.tree.proof(5))
    case.facts["challenged_at"] = started
    return Row(case.name, f"stake: challenge (Merkle, {len(posted.tree.proof(5))} siblings)", sent.gas_used)


def row_stake_answer(bench: Bench, case: Case) -> Row:
    """The node proves only now (optimistic mode) and answers with the proof."""
    import json

    from zkinfer.prover.prove import Prover

    posted, batch = case.facts["batch"]
    prover = Prover(case.circuit_dir, prefer_gpu=False)
    input_file = bench.work / f"{case.name}-answer-input.json"
    input_file.write_text(json.dumps({"input_data": [t.values for t in case.receipt.input.tensors or []]}))
    proven = prover.prove(prover.load_input(input_file))
    sent = case.facts["node"].answer(posted.batch_id, batch[5], proven, verified=True)
    seconds = time.perf_counter() - case.facts["challenged_at"]
    case.facts["answer"] = (sent.gas_used, proven.timings.prove_ms / 1000)
    note = (
        f"challenge → answered {seconds:.1f} s on anvil, "
        f"proving on demand ({proven.timings.prove_ms / 1000:.1f} s of it proving)"
    )
    return Row(case.name, "stake: answer with the proof", sent.gas_used, note)


def row_stake_slash(bench: Bench, case: Case) -> Row:
    """A lie left unanswered: challenge, the deadline passes, anyone slashes."""
    from zkinfer.chain import claims

    true = claims.from_verified_receipt(case.receipt, "bench-lie")
    lie = claims.Claim(true.model_id, true.request_id, true.input_hash, b"\x01" * 32)
    posted = case.facts["liar"].post_claim(lie)
    started = time.perf_counter()
    case.facts["challenger"].challenge(posted.batch_id, lie)
    _advance(bench, case.facts["params"].answer_period_s + 1)
    sent = case.facts["challenger"].slash(posted.batch_id, lie)
    seconds = time.perf_counter() - started
    return Row(
        case.name,
        "stake: slash after the deadline",
        sent.gas_used,
        f"challenge → slashed {seconds:.2f} s on anvil "
        f"with the {case.facts['params'].answer_period_s} s deadline skipped (evm_increaseTime)",
    )


def row_stake_fraud(bench: Bench, case: Case) -> Row:
    """A lie contradicted by a valid proof of the same input: slashed at once."""
    from zkinfer.chain import claims
    from zkinfer.chain.stake_client import Stake

    stake: Stake = case.facts["stake"]
    liar = stake.as_signer(_as(bench, 4))
    liar.register_node(case.facts["params"].min_bond)
    true = claims.from_verified_receipt(case.receipt, "bench-fraud")
    lie = claims.Claim(true.model_id, true.request_id, true.input_hash, b"\x02" * 32)
    posted = liar.post_claim(lie)
    sent = case.facts["challenger"].prove_fraud(posted.batch_id, lie, case.receipt, verified=True)
    return Row(case.name, "stake: fraud proof (verify + slash)", sent.gas_used)


def row_stake_griefing_floor(bench: Bench, case: Case) -> Row:
    """The smallest challengeBond that leaves an honest node no worse off after answering a challenge, from the
    answer just measured, at `zkinfer chain deploy-stake`'s default prices (zkinfer.chain.economics)."""
    from zkinfer.chain import economics
    from zkinfer.chain.amounts import parse_eth, parse_gwei

    gas, proving_s = case.facts["answer"]
    cost = economics.AnswerCost(
        parse_gwei(economics.GAS_PRICE_GWEI, "gas price"),
        parse_eth(economics.PROVING_COST_PER_S, "proving cost"),
        gas,
        round(proving_s, 1),
    )
    return Row(case.name, "stake: challenge-bond floor (griefing)", None, f"{cost.explain()}")


ROWS = [
    row_stake_register_model,
    row_stake_register_node,
    row_stake_claim_single,
    row_stake_claim_batch,
    row_stake_challenge,
    row_stake_answer,
    row_stake_griefing_floor,
    row_stake_slash,
    row_stake_fraud,
]
