"""The stake contract on a real anvil, with real ezkl proofs of the tiny MLP verified on chain.

One dev chain (tests/chain_harness.py) and one verifier per model per module; each test deploys its own stake
contract (cheap on anvil) so the tests do not share bonds or claims. Honest nodes answer challenges with genuine
receipts; lying nodes claim another output than their proof attests and are slashed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import chain_harness
from tests.conftest import prove_signed
from zkinfer.chain import account, claims, devchain, solidity
from zkinfer.chain.account import Chain
from zkinfer.chain.calldata import proof_args
from zkinfer.chain.claims import Claim, ClaimError, MerkleTree
from zkinfer.chain.deploy import deploy
from zkinfer.chain.stake_client import Stake
from zkinfer.chain.stake_types import StakeParams, StakeReverted
from zkinfer.core.formats.receipt import Receipt, load
from zkinfer.core.formats.statement import FIELD_MODULUS

anvil = chain_harness.anvil  # a fixture, requested by name
INPUTS = (
    [0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4],
    [0.8, 0.2, 0.0, 0.6, 0.9, 0.1, 0.5, 0.3],
    [0.3, 0.3, 0.6, 0.1, 0.2, 0.9, 0.8, 0.0],
)
PARAMS = StakeParams(
    min_bond=10**18, challenge_bond=10**17, challenge_window_s=600, answer_period_s=300, slash_share_bps=5000
)
OWNER, NODE, CHALLENGER, LIAR, WATCHER, STRANGER = range(6)


@dataclass(frozen=True)
class World:
    dev: devchain.DevChain
    chains: list[Chain]  # one connection per prefunded account
    verifier: str  # the tiny circuit's verifier
    other_verifier: str  # another model's verifier (same layout)
    receipts: list[Receipt]  # genuine, verified receipts of INPUTS
    other_receipt: Receipt  # a genuine receipt of the other model, for INPUTS[0]

    def advance(self, seconds: int) -> None:
        devchain.rpc(self.dev.rpc_url, "evm_increaseTime", [seconds])
        devchain.rpc(self.dev.rpc_url, "evm_mine")


def _deployed_verifier(chain: Chain, circuit_dir: Path, work: Path) -> str:
    from zkinfer.chain.verifier import deploy_verifier

    return deploy_verifier(circuit_dir, chain, work / f"{circuit_dir.parent.name}-deployments.json").deployment.address


@pytest.fixture(scope="module")
def world(
    anvil: devchain.DevChain,
    small_circuit: Path,
    tiny_dir: Path,
    node_key_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> World:
    from tests import tiny
    from tests.conftest import SMALL_DECOMPOSITION
    from zkinfer import compile_model
    from zkinfer.core.formats.receipt import save
    from zkinfer.prover.keys import ensure
    from zkinfer.verify.policy import Policy
    from zkinfer.verify.verifier import verify_receipt

    work = tmp_path_factory.mktemp("stake")
    receipts = []
    for i, values in enumerate(INPUTS):
        (work / f"input{i}.json").write_text(json.dumps({"input_data": [values]}))
        receipts.append(
            load(prove_signed(small_circuit, work / f"input{i}.json", work / f"receipt{i}.json", node_key_file))
        )
    # another model with the same layout (8 inputs, 3 outputs): other weights, so another key and verifier
    tiny.mlp(work / "other.onnx", seed=7)
    other = compile_model(
        work / "other.onnx",
        tiny_dir / "calibration.json",
        work / "other" / "circuit",
        search=False,
        decomposition=SMALL_DECOMPOSITION,
    )
    ensure(other)
    other_receipt = load(prove_signed(other.path, work / "input0.json", work / "other_receipt.json", node_key_file))
    for r in [*receipts, other_receipt]:
        assert verify_receipt(r, Policy(), "receipt").verified
    save(other_receipt, work / "other_receipt.json")
    chains = [account.connect(anvil.rpc_url, key) for key in anvil.keys[:6]]
    return World(
        anvil,
        chains,
        _deployed_verifier(chains[OWNER], small_circuit, work),
        _deployed_verifier(chains[OWNER], other.path, work),
        receipts,
        other_receipt,
    )


@pytest.fixture
def stake(world: World) -> Stake:
    """A fresh stake contract with the tiny circuit's model registered and NODE and LIAR bonded."""
    contract, _ = Stake.deploy(world.chains[OWNER], PARAMS)
    layout = claims.Layout.of_receipt(world.receipts[0])
    sent = contract.register_model(claims.receipt_model_id(world.receipts[0]), world.verifier, layout)
    assert names(contract, sent) == ["ModelRegistered"]
    contract.register_model(
        claims.receipt_model_id(world.other_receipt),
        world.other_verifier,
        claims.Layout.of_receipt(world.other_receipt),
    )
    for who in (NODE, LIAR):
        assert names(contract, signer(contract, world, who).register_node(PARAMS.min_bond)) == ["NodeRegistered"]
    return contract


def signer(contract: Stake, world: World, who: int) -> Stake:
    return contract.as_signer(world.chains[who])


def names(contract: Stake, sent: Any) -> list[str]:
    """The contract's events in a transaction, by name, in order (every transition emits one)."""
    by_topic = {}
    for item in contract.contract.abi:
        if item["type"] == "event":
            from eth_hash.auto import keccak

            by_topic[keccak(f"{item['name']}({','.join(i['type'] for i in item['inputs'])})".encode())] = item["name"]
    return [by_topic[bytes(log["topics"][0])] for log in sent.receipt["logs"] if log["address"] == contract.address]


def reverted(error: str) -> Any:
    return pytest.raises(StakeReverted, match=rf"reverted: {error}\(")


def honest(world: World, i: int, request: str) -> Claim:
    return claims.from_verified_receipt(world.receipts[i], request)


def lie(world: World, i: int, request: str) -> Claim:
    """A claim of input i with another input's output: what a node that skipped the work might say."""
    true = honest(world, i, request)
    other = honest(world, (i + 1) % len(INPUTS), request)
    assert other.output_hash != true.output_hash
    return Claim(true.model_id, request, true.input_hash, other.output_hash)


def force(contract: Stake, fn: str, *args: Any) -> Any:
    """Send a call the client would refuse locally, so the contract itself is what refuses it."""
    return contract._send(fn, *args)


def test_merkle_tree_and_hashes_agree_with_the_contract(world: World, stake: Stake) -> None:
    rng = random.Random(11)
    functions = stake.contract.functions
    for size in (1, 2, 3, 5, 8, 13, 64):
        batch = [Claim(rng.randbytes(32), f"r{i}", rng.randbytes(32), rng.randbytes(32)) for i in range(size)]
        tree = MerkleTree([c.leaf() for c in batch])
        for i, c in enumerate(batch):
            assert bytes(functions.leafOf(c.as_tuple()).call()) == c.leaf()
            assert (
                bytes(functions.merkleRoot(c.leaf(), tree.proof(i)).call())
                == tree.root
                == claims.root_of(c.leaf(), tree.proof(i))
            )
        assert bytes(functions.claimKey(size, batch[0].leaf()).call()) == claims.claim_key(size, batch[0].leaf())
        if size > 1:  # an inner node is not a leaf: its own "proof" does not reach the root from a claim
            assert bytes(functions.merkleRoot(tree.levels[1][0], [rng.randbytes(32)]).call()) != tree.root
    receipt = world.receipts[0]
    layout = claims.Layout.of_receipt(receipt)
    felts = [f for column in receipt.proof.instances for f in column]
    inputs, _, outputs = layout.split(felts)
    words = [claims.felt_int(f) for f in felts]
    claim = honest(world, 0, "r")
    assert bytes(functions.hashFelts(words, 0, layout.n_input).call()) == claims.hash_felts(inputs) == claim.input_hash
    assert (
        bytes(functions.hashFelts(words, layout.n_input, layout.n_output).call())
        == claims.hash_felts(outputs)
        == claim.output_hash
    )


def test_honest_node_over_100_batched_claims_with_random_challenges_is_never_slashed(
    world: World, stake: Stake
) -> None:
    node, challenger, watcher = (signer(stake, world, who) for who in (NODE, CHALLENGER, WATCHER))
    batch = [honest(world, i % len(INPUTS), f"req-{i}") for i in range(100)]
    posted = [node.post_batch(batch[:64]), node.post_batch(batch[64:])]
    assert [names(stake, p.sent) for p in posted] == [["BatchPosted"], ["BatchPosted"]]
    with reverted("ClaimsInWindow"):
        node.withdraw_bond(PARAMS.min_bond)
    chosen = random.Random(5).sample(range(100), 6)
    for n, i in enumerate(chosen):
        where, index = (posted[0], i) if i < 64 else (posted[1], i - 64)
        assert where.tree is not None
        who = challenger if n % 2 else watcher
        key, sent = who.challenge(where.batch_id, batch[i], where.tree.proof(index))
        assert names(stake, sent) == ["Challenged"]
        with reverted("AlreadyChallenged"):  # the same claim cannot be challenged twice at once
            challenger.challenge(where.batch_id, batch[i], where.tree.proof(index))
        with reverted("DeadlineNotPassed"):
            watcher.slash(where.batch_id, batch[i])
        answered = node.answer(where.batch_id, batch[i], world.receipts[i % len(INPUTS)], verified=True)
        assert names(stake, answered) == ["ChallengeAnswered"]
        assert stake.challenge_info(key, where.batch_id).state == "answered"
        with reverted("NoOpenChallenge"):  # replaying the answer wins nothing more
            node.answer(where.batch_id, batch[i], world.receipts[i % len(INPUTS)], verified=True)
        with reverted("ClaimResolved"):  # a proven claim cannot be challenged again
            challenger.challenge(where.batch_id, batch[i], where.tree.proof(index))
        with reverted("NoOpenChallenge"):
            watcher.slash(where.batch_id, batch[i])
    info = stake.node(world.chains[NODE].address)
    assert (info.bond, info.slashed, info.open_challenges) == (PARAMS.min_bond, False, 0)
    assert info.balance == len(chosen) * PARAMS.challenge_bond  # the frivolous challengers' bonds
    assert (
        stake.node(world.chains[CHALLENGER].address).balance == stake.node(world.chains[WATCHER].address).balance == 0
    )
    status = stake.status()
    assert status.claims_posted == 100 and not status.slashes and {c.state for c in status.challenges} == {"answered"}
    world.advance(PARAMS.challenge_window_s + 1)
    assert posted[0].tree is not None
    with reverted("ChallengeWindowClosed"):
        challenger.challenge(posted[0].batch_id, batch[0], posted[0].tree.proof(0))
    web3 = world.chains[NODE].web3
    before = web3.eth.get_balance(world.chains[NODE].address)
    unbonded = node.withdraw_bond(PARAMS.min_bond)
    assert names(stake, unbonded) == ["BondWithdrawn"]
    paid = node.withdraw()
    assert names(stake, paid) == ["Withdrawn"]
    fees = sum(s.gas_used * s.receipt["effectiveGasPrice"] for s in (unbonded, paid))
    assert (
        web3.eth.get_balance(world.chains[NODE].address)
        == before + PARAMS.min_bond + len(chosen) * PARAMS.challenge_bond - fees
    )
    with reverted("BondTooLow"):  # an unbonded node posts nothing
        node.post_claim(batch[0])


def test_lying_node_left_unanswered_is_slashed_after_the_deadline(world: World, stake: Stake) -> None:
    liar, challenger, watcher = (signer(stake, world, who) for who in (LIAR, CHALLENGER, WATCHER))
    claim = lie(world, 0, "req-lie")
    batch = [honest(world, 1, "req-a"), claim, honest(world, 2, "req-b")]
    posted = liar.post_batch(batch)
    assert posted.tree is not None
    key, _ = challenger.challenge(posted.batch_id, claim, posted.tree.proof(1))
    with pytest.raises(ClaimError, match="another output"):  # its own proof does not say what it claimed
        liar.answer(posted.batch_id, claim, world.receipts[0], verified=True)
    with reverted("OutputMismatch"):
        force(liar, "answer", posted.batch_id, claim.as_tuple(), *proof_args(world.receipts[0]))
    with reverted("DeadlineNotPassed"):
        watcher.slash(posted.batch_id, claim)
    world.advance(PARAMS.challenge_window_s + 1)
    with reverted("ChallengesOpen"):  # the window closed, but a node cannot run from an open challenge
        liar.withdraw_bond(PARAMS.min_bond)
    with reverted("AnswerTooLate"):
        force(liar, "answer", posted.batch_id, claim.as_tuple(), *proof_args(world.receipts[0]))
    slashed = watcher.slash(posted.batch_id, claim)  # anyone may; the reward goes to the challenger
    assert names(stake, slashed) == ["Slashed"]
    reward = PARAMS.min_bond * PARAMS.slash_share_bps // 10_000
    assert stake.node(world.chains[LIAR].address).bond == 0 and stake.node(world.chains[LIAR].address).slashed
    assert stake.node(world.chains[CHALLENGER].address).balance == PARAMS.challenge_bond + reward
    assert stake.node(world.chains[WATCHER].address).balance == 0
    assert stake.status().burned == PARAMS.min_bond - reward
    assert stake.challenge_info(key, posted.batch_id).state == "slashed"
    with reverted("NoOpenChallenge"):
        watcher.slash(posted.batch_id, claim)
    with reverted("NodeIsSlashed"):
        liar.post_claim(batch[0])
    assert names(stake, challenger.withdraw()) == ["Withdrawn"]
    with reverted("NothingToWithdraw"):
        challenger.withdraw()


def test_fraud_proof_slashes_at_once_and_refunds_an_open_challenge(world: World, stake: Stake) -> None:
    liar, challenger, watcher = (signer(stake, world, who) for who in (LIAR, CHALLENGER, WATCHER))
    claim = lie(world, 1, "req-fraud")
    posted = liar.post_claim(claim)
    assert names(stake, posted.sent) == ["ClaimPosted"]
    challenger.challenge(posted.batch_id, claim)
    with pytest.raises(ClaimError, match="another input"):
        watcher.prove_fraud(posted.batch_id, claim, world.receipts[0], verified=True)
    fraud = watcher.prove_fraud(posted.batch_id, claim, world.receipts[1])  # verifies the receipt locally first
    assert names(stake, fraud) == ["ChallengeRefunded", "FraudProven", "Slashed"]
    reward = PARAMS.min_bond * PARAMS.slash_share_bps // 10_000
    assert stake.node(world.chains[WATCHER].address).balance == reward
    assert stake.node(world.chains[CHALLENGER].address).balance == PARAMS.challenge_bond
    assert stake.node(world.chains[LIAR].address).open_challenges == 0
    with reverted("ClaimResolved"):
        force(watcher, "proveFraud", posted.batch_id, claim.as_tuple(), [], *proof_args(world.receipts[1]))
    # an honest claim has no fraud proof: its own proof "contradicts" nothing
    node = signer(stake, world, NODE)
    true = honest(world, 2, "req-true")
    posted = node.post_claim(true)
    with pytest.raises(ClaimError, match="no fraud"):
        watcher.prove_fraud(posted.batch_id, true, world.receipts[2], verified=True)
    with reverted("NotFraud"):
        force(watcher, "proveFraud", posted.batch_id, true.as_tuple(), [], *proof_args(world.receipts[2]))


def test_proofs_of_another_input_another_model_or_tampered_are_rejected(world: World, stake: Stake) -> None:
    node, challenger = signer(stake, world, NODE), signer(stake, world, CHALLENGER)
    claim = honest(world, 0, "req-x")
    posted = node.post_claim(claim)
    challenger.challenge(posted.batch_id, claim)
    with pytest.raises(ClaimError, match="another input"):
        node.answer(posted.batch_id, claim, world.receipts[1], verified=True)
    with reverted("InputMismatch"):
        force(node, "answer", posted.batch_id, claim.as_tuple(), *proof_args(world.receipts[1]))
    with pytest.raises(ClaimError, match="proves model"):
        node.answer(posted.batch_id, claim, world.other_receipt, verified=True)
    with reverted("InvalidProof"):  # the claim's model's verifier judges it, and refuses the other model's proof
        force(node, "answer", posted.batch_id, claim.as_tuple(), *proof_args(world.other_receipt))
    proof, instances = proof_args(world.receipts[0])
    with reverted("InvalidProof"):
        force(
            node,
            "answer",
            posted.batch_id,
            claim.as_tuple(),
            proof[:100] + bytes([proof[100] ^ 1]) + proof[101:],
            instances,
        )
    with reverted("InstanceNotInField"):  # x + p is x to the field, but not to the hash: refused outright
        force(node, "answer", posted.batch_id, claim.as_tuple(), proof, [instances[0] + FIELD_MODULUS, *instances[1:]])
    with reverted("WrongInstanceCount"):
        force(node, "answer", posted.batch_id, claim.as_tuple(), proof, instances[:-1])
    # a fraud "proof" made with another model's verifier cannot slash either
    with reverted("InvalidProof"):
        force(
            challenger,
            "proveFraud",
            posted.batch_id,
            (claim.model_id, claim.request_hash, claim.input_hash, claim.output_hash),
            [],
            *proof_args(world.other_receipt),
        )
    assert names(stake, node.answer(posted.batch_id, claim, world.receipts[0], verified=True)) == ["ChallengeAnswered"]


def test_access_control_every_state_change_refuses_the_wrong_caller(world: World, stake: Stake) -> None:
    stranger, node = signer(stake, world, STRANGER), signer(stake, world, NODE)
    claim = honest(world, 0, "req-ac")
    with reverted("AccessControlUnauthorizedAccount"):
        stranger.register_model(b"\x01" * 32, world.verifier, claims.Layout.of_receipt(world.receipts[0]))
    with reverted("ModelExists"):  # a registered model never changes, not even by the owner
        stake.register_model(claim.model_id, world.other_verifier, claims.Layout.of_receipt(world.receipts[0]))
    with reverted("NotRegistered"):
        stranger.post_claim(claim)
    with reverted("NotRegistered"):
        stranger.post_batch([claim])
    with reverted("NotRegistered"):
        stranger.add_bond(1)
    with reverted("NotRegistered"):
        stranger.withdraw_bond(1)
    with reverted("NothingToWithdraw"):
        stranger.withdraw()
    with reverted("BondTooLow"):
        stranger.register_node(PARAMS.min_bond - 1)
    with reverted("AlreadyRegistered"):
        node.register_node(PARAMS.min_bond)
    with pytest.raises(ClaimError, match="not registered"):  # refused before any gas is spent
        node.post_claim(Claim(b"\x02" * 32, "r", claim.input_hash, claim.output_hash))
    with reverted("UnknownModel"):  # and by the contract itself
        force(node, "postClaim", *Claim(b"\x02" * 32, "r", claim.input_hash, claim.output_hash).as_tuple())
    posted = node.post_claim(claim)
    with reverted("WrongChallengeBond"):
        stranger._send("challenge", posted.batch_id, claim.as_tuple(), [], value=PARAMS.challenge_bond - 1)
    with reverted("NotInBatch"):
        stranger.challenge(posted.batch_id, honest(world, 1, "req-ac"))
    with reverted("UnknownBatch"):
        stranger.challenge(999, claim)
    stranger.challenge(posted.batch_id, claim)
    with reverted("NotClaimant"):  # only the node that claimed answers for it
        stranger.answer(posted.batch_id, claim, world.receipts[0], verified=True)
    with reverted("NoOpenChallenge"):
        stranger.slash(posted.batch_id, honest(world, 1, "req-ac"))
    assert names(stake, node.add_bond(5)) == ["BondAdded"]


def test_a_payout_that_reenters_is_paid_once(world: World, stake: Stake, tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[1] / "contracts" / "ReentrantNode.sol"
    attacker_code = solidity.compile_file(source, "ReentrantNode")
    attacker = deploy(world.chains[STRANGER], attacker_code, stake.address)
    assert attacker.contract_address is not None
    from zkinfer.chain.deploy import contract, transact

    evil = contract(world.chains[STRANGER], attacker.contract_address, attacker_code)
    transact(world.chains[STRANGER], evil.functions.register(), "register", PARAMS.min_bond)
    held = world.chains[OWNER].web3.eth.get_balance(stake.address)
    transact(world.chains[STRANGER], evil.functions.cashOut(PARAMS.min_bond), "cash out")
    assert evil.functions.received().call() == PARAMS.min_bond and evil.functions.payments().call() == 1
    assert evil.functions.reentered().call() is False
    assert bytes(evil.functions.reentryError().call()) == _selector("ReentrancyGuardReentrantCall()")
    assert world.chains[OWNER].web3.eth.get_balance(stake.address) == held - PARAMS.min_bond


def test_slasher_role_slashes_at_once_once_per_reason_and_verify_model_proof_judges_real_proofs(
    world: World, stake: Stake
) -> None:
    """The interface the signature-evidence and certificate contracts build on, against the real verifier."""
    stranger, slasher = signer(stake, world, STRANGER), signer(stake, world, WATCHER)
    node_address, watcher_address = world.chains[NODE].address, world.chains[WATCHER].address
    reason = b"\x07" * 32
    with reverted("AccessControlUnauthorizedAccount"):  # nobody slashes before the admin grants the role
        slasher._send("slashFor", node_address, watcher_address, reason)
    with reverted("AccessControlUnauthorizedAccount"):  # and only the admin grants it
        stranger.grant_slasher(watcher_address)
    stake.grant_slasher(watcher_address)
    model = claims.receipt_model_id(world.receipts[0])
    proof, instances = proof_args(world.receipts[0])
    proven = honest(world, 0, "req-interface")
    assert tuple(map(bytes, stake.contract.functions.verifyModelProof(model, proof, instances).call())) == (
        proven.input_hash,
        proven.output_hash,
    )
    with reverted("InvalidProof"):
        force(stake, "verifyModelProof", model, proof[:-32] + bytes(32), instances)
    assert stake.is_active_node(node_address)
    sent = slasher._send("slashFor", node_address, watcher_address, reason)
    assert names(stake, sent) == ["Slashed"]
    event = stake._event(sent, "Slashed")
    reward = PARAMS.min_bond * PARAMS.slash_share_bps // 10_000
    assert (bytes(event["reason"]), event["amount"], event["reward"]) == (reason, PARAMS.min_bond, reward)
    assert stake.node(watcher_address).balance == reward and stake.status().burned == PARAMS.min_bond - reward
    assert not stake.is_active_node(node_address)
    with reverted("AlreadySlashedFor"):
        slasher._send("slashFor", world.chains[LIAR].address, watcher_address, reason)
    with reverted("NothingAtStake"):
        slasher._send("slashFor", node_address, watcher_address, b"\x08" * 32)


def _selector(signature: str) -> bytes:
    from eth_hash.auto import keccak

    return keccak(signature.encode())[:4]


def test_cli_deploy_register_claim_challenge_answer_status_and_evidence_fraud(
    world: World, small_circuit: Path, tmp_path: Path
) -> None:
    from tests.cli import zkinfer
    from zkinfer.core.crypto import identity
    from zkinfer.core.crypto.digest import digest_file
    from zkinfer.core.formats import statement
    from zkinfer.network import evidence

    keys = {}
    for who in (OWNER, NODE, WATCHER):
        keys[who] = tmp_path / f"key{who}"
        keys[who].write_text(world.dev.keys[who])

    def run(who: int, *args: str | Path, code: int = 0) -> dict[str, Any]:
        ran = zkinfer(
            *args,
            "--rpc-url",
            world.dev.rpc_url,
            "--key-file",
            keys[who],
            "--registry",
            tmp_path / "deployments.json",
            "--json",
            cwd=tmp_path,
        )
        assert ran.returncode == code, ran.stdout + ran.stderr
        document = json.loads(ran.stdout)
        assert isinstance(document, dict)
        return document

    deployed = run(OWNER, "chain", "deploy-stake", "--window", "600", "--answer-period", "300")
    assert (
        deployed["gas_used"] > 0
        and json.loads((tmp_path / "deployments.json").read_text())["deployments"][0]["address"] == deployed["address"]
    )
    verifier_registry = tmp_path / "verifiers.json"
    ran = zkinfer(
        "chain",
        "deploy-verifier",
        small_circuit,
        "--rpc-url",
        world.dev.rpc_url,
        "--key-file",
        keys[OWNER],
        "--registry",
        verifier_registry,
        "--json",
    )
    assert ran.returncode == 0, ran.stderr
    model = run(OWNER, "chain", "register-model", small_circuit, "--verifier-registry", verifier_registry)
    assert model["model_id"] == "0x" + claims.receipt_model_id(world.receipts[0]).hex()
    run(NODE, "chain", "register-node", "--bond", "1")
    liar = Stake(world.chains[LIAR], deployed["address"])
    liar.register_node(10**18)
    for i in (0, 1):
        (tmp_path / f"req-{i}.json").write_text(json.dumps(world.receipts[i].model_dump(mode="json")))
    posted = run(
        NODE, "chain", "post-claims", tmp_path / "req-0.json", tmp_path / "req-1.json", "-o", tmp_path / "claims"
    )
    assert len(posted["claim_files"]) == 2
    # without --request-id a claim's request id is its receipt's digest prefix (a receipt from `prove` names no request)
    assert posted["request_ids"] == [
        "receipt-" + digest_file(tmp_path / f"req-{i}.json").removeprefix("sha256:")[:16] for i in (0, 1)
    ]
    claim_1 = Path(posted["claim_files"][1])
    assert claim_1.name == posted["request_ids"][1] + ".claim.json" and claim_1.exists()
    challenged = run(WATCHER, "challenge", "--claim", claim_1)
    assert challenged["deadline"] > 0
    run(NODE, "chain", "answer", "--claim", claim_1, "--receipt", tmp_path / "req-1.json")
    # a liar signs another output than its own proof attests, and claims it on chain
    liar_key = identity.new_key()
    receipt_json = identity.sign_receipt(world.receipts[2], liar_key).model_dump(mode="json")
    proven = statement.from_receipt(world.receipts[2], "req-lie")
    lie = statement.Statement(
        proven.circuit,
        proven.request_id,
        proven.input_digest,
        proven.weights_commitment,
        proven.output_scales,
        ((proven.output[0][0] + 5, *proven.output[0][1:]),),
    )
    signed = statement.sign(lie, liar_key.secret, liar_key.public_key)
    liar.post_claim(claims.from_statement(lie, "public", statement.proven_input_felts(world.receipts[2])))
    (tmp_path / "evidence.json").write_text(
        json.dumps(evidence.contradiction(signed, receipt_json, 0, 1, node="mallory"))
    )
    fraud = run(WATCHER, "challenge", "--evidence", tmp_path / "evidence.json")
    assert fraud["kind"] == "fraud"
    forged = json.loads((tmp_path / "evidence.json").read_text())
    forged["statement"]["signature"] = forged["statement"]["signature"][:-2] + (
        "00" if forged["statement"]["signature"][-2:] != "00" else "01"
    )
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert "does not hold" in run(WATCHER, "challenge", "--evidence", tmp_path / "forged.json", code=1)["error"]
    ran = zkinfer(
        "chain",
        "status",
        "--rpc-url",
        world.dev.rpc_url,
        "--registry",
        tmp_path / "deployments.json",
        "--json",
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    status = json.loads(ran.stdout)
    nodes = {n["address"]: n for n in status["nodes"]}
    assert (
        nodes[world.chains[NODE].address]["slashed"] is False and nodes[world.chains[NODE].address]["balance"] == 10**17
    )
    assert nodes[world.chains[LIAR].address]["slashed"] is True and nodes[world.chains[LIAR].address]["bond"] == 0
    assert [c["state"] for c in status["challenges"]] == ["answered"] and len(status["slashes"]) == 1
    assert status["slashes"][0]["beneficiary"] == world.chains[WATCHER].address and status["claims_posted"] == 3


def test_equivocation_evidence_becomes_a_bonded_challenge_of_the_matching_claim(world: World, stake: Stake) -> None:
    from zkinfer.chain.challenge import ClaimFile, evidence_action
    from zkinfer.core.crypto import identity
    from zkinfer.core.formats import statement
    from zkinfer.network import evidence

    key = identity.new_key()
    proven = statement.from_receipt(world.receipts[0], "req-eq")
    other = statement.Statement(
        proven.circuit,
        "req-eq-2",
        proven.input_digest,
        None,
        proven.output_scales,
        ((proven.output[0][0] - 3, *proven.output[0][1:]),),
    )
    a, b = statement.sign(proven, key.secret, key.public_key), statement.sign(other, key.secret, key.public_key)
    document = json.loads(json.dumps(evidence.equivocation(a, b, node="mallory")))
    felts = statement.proven_input_felts(world.receipts[0])
    said = claims.from_statement(other, "public", felts)  # the node claimed the false one on chain
    liar = signer(stake, world, LIAR)
    posted = liar.post_claim(said)
    claim_file = ClaimFile(
        world.chains[LIAR].chain_id, stake.address, world.chains[LIAR].address, posted.batch_id, said, ()
    )
    with pytest.raises(ClaimError, match="claim file"):
        evidence_action(document, None)
    with pytest.raises(ClaimError, match="not the evidence's statement"):
        evidence_action(
            document,
            ClaimFile(
                claim_file.chain_id,
                claim_file.contract,
                claim_file.node,
                posted.batch_id,
                honest(world, 1, "req-eq"),
                (),
            ),
        )
    action = evidence_action(document, claim_file)
    assert action.kind == "challenge" and action.claim == said
    key_, sent = signer(stake, world, WATCHER).challenge(posted.batch_id, action.claim)
    assert (
        names(stake, sent) == ["Challenged"]
        and stake.challenge_info(key_, posted.batch_id).node == world.chains[LIAR].address
    )


def test_a_claim_naming_an_unregistered_model_is_challengeable_and_slashed_unanswered(
    world: World, stake: Stake
) -> None:
    """Issue 18 item 7: a leaf whose model is not registered can never be answered with a proof, so a
    challenge of it is accepted and, unanswered, it is slashed; the client never posts such a leaf."""
    liar, challenger, watcher = (signer(stake, world, who) for who in (LIAR, CHALLENGER, WATCHER))
    true = honest(world, 0, "req-registered")
    ghost = Claim(b"\x07" * 32, "req-ghost", true.input_hash, true.output_hash)  # a model nobody registered
    with pytest.raises(ClaimError, match="not registered"):  # checked before any gas is spent
        liar.post_batch([true, ghost])
    tree = MerkleTree([true.leaf(), ghost.leaf()])
    posted = force(
        liar, "postBatch", tree.root, 2
    )  # the contract cannot see a batch's leaves: a node that skips the check
    batch_id = int(stake._event(posted, "BatchPosted")["batchId"])
    key, sent = challenger.challenge(batch_id, ghost, tree.proof(1))
    assert names(stake, sent) == ["Challenged"] and stake.node(world.chains[LIAR].address).open_challenges == 1
    with reverted("UnknownModel"):  # no proof can answer it
        force(liar, "answer", batch_id, ghost.as_tuple(), *proof_args(world.receipts[0]))
    with reverted("DeadlineNotPassed"):
        watcher.slash(batch_id, ghost)
    world.advance(PARAMS.answer_period_s + 1)
    assert names(stake, watcher.slash(batch_id, ghost)) == ["Slashed"]
    assert stake.node(world.chains[LIAR].address).slashed and stake.challenge_info(key, batch_id).state == "slashed"
    reward = PARAMS.min_bond * PARAMS.slash_share_bps // 10_000
    assert stake.node(world.chains[CHALLENGER].address).balance == PARAMS.challenge_bond + reward


def test_a_node_cannot_challenge_or_prove_fraud_on_its_own_claims(world: World, stake: Stake) -> None:
    """Issue 18 item 14: self-challenges would recycle bonds or fake activity, and a node proving fraud
    on its own lie would take the challenger's reward: both refused (SelfChallenge)."""
    node, liar, challenger = (signer(stake, world, who) for who in (NODE, LIAR, CHALLENGER))
    claim = honest(world, 0, "req-self")
    posted = node.post_claim(claim)
    with reverted("SelfChallenge"):
        node.challenge(posted.batch_id, claim)
    false = lie(world, 1, "req-self-lie")
    lied = liar.post_claim(false)
    challenger.challenge(lied.batch_id, false)
    with reverted("SelfChallenge"):  # the liar front-running its challenger's slash to keep the reward
        liar.prove_fraud(lied.batch_id, false, world.receipts[1], verified=True)
    assert (
        not stake.node(world.chains[LIAR].address).slashed
        and stake.node(world.chains[NODE].address).open_challenges == 0
    )
    assert names(stake, challenger.challenge(posted.batch_id, claim)[1]) == ["Challenged"]  # anyone else still may


def test_layout_splits_instances_in_ezkl_order() -> None:
    felts = [f"{i:064x}" for i in range(7)]
    public = claims.Layout(n_input=3, n_params=2, n_output=2, input_first=False, params_hash=bytes(32))
    assert public.split(felts) == (felts[2:5], felts[0:2], felts[5:7])  # [weights][input][output]
    hashed = claims.Layout(n_input=1, n_params=2, n_output=4, input_first=True, params_hash=bytes(32))
    assert hashed.split(felts) == (felts[0:1], felts[1:3], felts[3:7])  # [input commitment][weights][output]
    with pytest.raises(ClaimError, match="public instances"):
        public.split(felts[:-1])
    assert claims.signed_word(-1) == (FIELD_MODULUS - 1).to_bytes(32, "big")
    assert claims.felt_word("01" + "00" * 31) == (1).to_bytes(32, "big")  # ezkl's felts are little-endian


def test_optimistic_node_posts_batches_and_answers_only_the_challenged_claims(
    world: World, stake: Stake, tmp_path: Path
) -> None:
    from zkinfer.chain.challenge import load_claim_file
    from zkinfer.chain.optimistic import OptimisticNode
    from zkinfer.core.formats import statement

    node = OptimisticNode(signer(stake, world, NODE), tmp_path / "book", batch_size=4, spot_check_p=0.0)
    posted = []
    for i in range(10):
        receipt = world.receipts[i % len(INPUTS)]
        said = statement.from_receipt(receipt, f"opt-{i}")
        claim, drawn, batch = node.claim(said, "public", statement.proven_input_felts(receipt))
        assert claim == honest(world, i % len(INPUTS), f"opt-{i}") and drawn is False
        posted += [batch] if batch else []
    with pytest.raises(ClaimError, match="already claimed"):
        node.claim(
            statement.from_receipt(world.receipts[0], "opt-1"),
            "public",
            statement.proven_input_felts(world.receipts[0]),
        )
    last = node.flush()
    assert len(posted) == 2 and last is not None and node.flush() is None and stake.status().claims_posted == 10
    # a client holding claim files challenges two of them; the node proves (here: has) only those
    challenger = signer(stake, world, CHALLENGER)
    for request in ("opt-2", "opt-9"):
        document = load_claim_file(tmp_path / "book" / f"{request}.claim.json")
        challenger.challenge(document.batch_id, document.claim, document.merkle_proof)
    asked: list[str] = []

    def prove(document: Any) -> Receipt:
        asked.append(document.claim.request_id)
        return world.receipts[int(document.claim.request_id.split("-")[1]) % len(INPUTS)]

    assert {d.claim.request_id for d in node.open_challenges()} == {"opt-2", "opt-9"}
    assert len(node.answer_challenges(prove)) == 2 and sorted(asked) == ["opt-2", "opt-9"]
    assert node.open_challenges() == [] and stake.node(world.chains[NODE].address).balance == 2 * PARAMS.challenge_bond
    always = OptimisticNode(signer(stake, world, NODE), tmp_path / "book2", batch_size=64, spot_check_p=1.0)
    assert (
        always.claim(
            statement.from_receipt(world.receipts[1], "opt-spot"),
            "public",
            statement.proven_input_felts(world.receipts[1]),
        )[1]
        is True
    )
