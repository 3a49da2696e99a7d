"""The certificate oracle (contracts/ZkinferOracle.sol) on a real anvil: quorum certificates of real BLS
signatures checked on chain and read by a consumer contract (tests/contracts/OracleConsumer.sol), and statements
a real ezkl proof contradicts slashed through the stake contract.

One dev chain and one proof of the tiny MLP (`small_circuit`, verified by its on-chain verifier through the
stake's verifyModelProof) per module, and one stake, key registry and oracle (threshold 3) with six nodes bonded
and their keys registered (account 9's is the key that signed the receipt) and one (account 7) bonded without a
key. The tests slash disjoint nodes: the first two slash nobody, the third nodes 1-3, the last node 9.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import chain_harness
from tests.cli import zkinfer
from tests.conftest import prove_signed
from tests.waiting import wait_until
from zkinfer.chain import account, claims, devchain, solidity
from zkinfer.chain.account import Chain
from zkinfer.chain.deploy import Sent, contract, deploy, transact
from zkinfer.chain.oracle import Oracle, _proven_args
from zkinfer.chain.signatures import Signatures
from zkinfer.chain.stake_client import Stake
from zkinfer.chain.stake_types import StakeParams, StakeReverted
from zkinfer.core.crypto import bls, identity
from zkinfer.core.formats.certificate import Certificate, SignedGroup
from zkinfer.core.formats.receipt import Receipt, load
from zkinfer.core.formats.statement import SignedStatement, Statement, from_receipt, sign
from zkinfer.core.support.errors import ChainError
from zkinfer.network import certificate, evidence
from zkinfer.network.certificate_posts import CertificatePoster, ChainTarget
from zkinfer.network.record_types import CertificateRecord, PostState
from zkinfer.network.records import Records

anvil = chain_harness.anvil  # a fixture, requested by name
OWNER, PROVER, UNKEYED, RECEIPT_SIGNER = 0, 8, 7, 9
NODES = (1, 2, 3, 4, 5, 9)  # (account 6's key in devchain.DEV_KEYS is not a prefunded one)
THRESHOLD = 3
PARAMS = StakeParams(min_bond=10**18, challenge_bond=10**17, challenge_window_s=600, answer_period_s=300)
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


@dataclass(frozen=True)
class World:
    chains: list[Chain]  # one connection per prefunded account
    verifier: str
    receipt: Receipt
    keys: dict[int, identity.NodeKey]  # account -> its BLS key
    work: Path
    dev: devchain.DevChain

    def cli(self, who: int) -> list[str | Path]:
        """The chain options of a CLI command signing as account `who` (the deployments file in `work`)."""
        key = chain_harness.key_file(self.dev, who, self.work)
        return ["--rpc-url", self.dev.rpc_url, "--key-file", key, "--registry", self.work / "deployments.json"]

    def receipt_json(self) -> dict[str, Any]:
        return dict(json.loads((self.work / "receipt.json").read_text()))

    def sign(self, statement: Statement, who: int) -> SignedStatement:
        return sign(statement, self.keys[who].secret, self.keys[who].public_key)

    def certificate(self, statement: Statement, who: list[int]) -> Certificate:
        return certificate.make([self.sign(statement, w) for w in who])


@dataclass(frozen=True)
class System:
    stake: Stake
    signatures: Signatures
    oracle: Oracle
    world: World

    def as_prover(self) -> Oracle:
        return self.oracle.as_signer(self.world.chains[PROVER])

    def bond(self, who: int) -> int:
        return self.stake.node(self.world.chains[who].address).bond


@pytest.fixture(scope="module")
def world(anvil: devchain.DevChain, small_circuit: Path, node_key_file: Path, tmp_path_factory: Any) -> World:
    from zkinfer.chain.verifier import deploy_verifier

    work = tmp_path_factory.mktemp("oracle")
    (work / "input.json").write_text(json.dumps({"input_data": [[0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]]}))
    receipt = load(prove_signed(small_circuit, work / "input.json", work / "receipt.json", node_key_file))
    chains = [account.connect(anvil.rpc_url, key) for key in anvil.keys]
    verifier = deploy_verifier(small_circuit, chains[OWNER], work / "deployments.json").deployment.address
    keys = {who: identity.new_key() for who in [*NODES, UNKEYED]}
    keys[RECEIPT_SIGNER] = identity.load_key(node_key_file)
    return World(chains, verifier, receipt, keys, work, anvil)


@pytest.fixture(scope="module")
def system(world: World) -> System:
    """A fresh stake (the tiny MLP registered), key registry and oracle (threshold 3); nodes bonded and keyed."""
    owner = world.chains[OWNER]
    stake, _ = Stake.deploy(owner, PARAMS)
    stake.register_model(
        claims.receipt_model_id(world.receipt), world.verifier, claims.Layout.of_receipt(world.receipt)
    )
    signatures, _ = Signatures.deploy(owner, stake.address)
    signatures.grant_slasher()
    done = zkinfer(
        "chain", "deploy-oracle", "--threshold", str(THRESHOLD), "--stake", stake.address, "--signatures",
        signatures.address, *world.cli(OWNER), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    oracle = Oracle(owner, json.loads(done.stdout)["address"])
    for who in [*NODES, UNKEYED]:
        stake.as_signer(world.chains[who]).register_node(PARAMS.min_bond)
    for who in NODES:
        signatures.as_signer(world.chains[who]).register_key(world.keys[who])
    return System(stake, signatures, oracle, world)


def reverted(error: str) -> Any:
    return pytest.raises(StakeReverted, match=rf"reverted: {error}\(")


def honest(world: World, request_id: str) -> Statement:
    return from_receipt(world.receipt, request_id)


def lie(world: World, request_id: str) -> Statement:
    """The receipt's statement with another output: what a node that skipped the work might sign."""
    true = honest(world, request_id)
    return dataclasses.replace(true, output=tuple(tuple(v + 1 for v in values) for values in true.output))


def slashed_nodes(system: System, sent: Sent) -> list[str]:
    from web3.logs import DISCARD  # web3 only when a test runs: importing it raises the recursion limit

    events = system.stake.contract.events.Slashed().process_receipt(sent.receipt, errors=DISCARD)  # ours only
    return [str(e["args"]["node"]) for e in events]


def address(system: System, who: int) -> str:
    return system.world.chains[who].address


def test_a_certificate_is_accepted_and_a_consumer_contract_reads_it(world: World, system: System) -> None:
    said = honest(world, "t1:bet-1")
    posted_key, sent = system.oracle.post_certificate(world.certificate(said, [3, 1, 2]))
    answer = system.oracle.answer(said.circuit, said.request_id)
    assert answer is not None and not answer.contradicted
    assert (answer.output, answer.output_scales) == (said.output, said.output_scales)
    assert answer.statement_digest == said.digest() and answer.input_digest == said.input_digest
    assert answer.signers == tuple(sorted((address(system, w) for w in (1, 2, 3)), key=lambda a: int(a, 16)))
    assert [(p.request_id, p.statement_digest, p.key) for p in system.oracle.posted()] == [
        (said.request_id, said.digest(), "0x" + posted_key.hex())
    ]
    assert system.oracle.answer(said.circuit, "t1:bet-2") is None
    consumer_code = solidity.compile_cached(
        CONTRACTS.parent / "tests" / "contracts" / "OracleConsumer.sol", "OracleConsumer"
    )
    consumer_address = deploy(world.chains[PROVER], consumer_code, system.oracle.address).contract_address
    assert consumer_address is not None
    consumer = contract(world.chains[PROVER], consumer_address, consumer_code)
    circuit = claims.model_id(said.circuit)
    other_input = bytes(32)
    with pytest.raises(ChainError, match="settle"):  # the bet named another input than the one certified
        transact(world.chains[PROVER], consumer.functions.settle(circuit, said.request_id, other_input), "settle")
    expected_input = claims.model_id(said.input_digest)  # its 32 bytes
    transact(world.chains[PROVER], consumer.functions.settle(circuit, said.request_id, expected_input), "settle")
    label = said.output[0].index(max(said.output[0]))
    assert (
        consumer.functions.settledLabel(
            system.oracle.contract.functions.answerKey(circuit, said.request_id).call()
        ).call()
        == label + 1
    )
    with reverted("AlreadyCertified"):  # one certificate per (circuit, request id): the first stands
        system.oracle.post_certificate(world.certificate(lie(world, "t1:bet-1"), [4, 5, 9]))
    # a proof that agrees with the certificate slashes nobody
    with pytest.raises(claims.ClaimError, match="certified output"):
        system.as_prover().contradict_certificate(said.circuit, said.request_id, world.receipt, verified=True)
    with reverted("NotContradicted"):
        system.as_prover()._send("contradictCertificate", circuit, said.request_id, _proven_args(world.receipt))
    assert all(system.bond(w) == PARAMS.min_bond for w in NODES)
    assert sent.gas_used > 0


def test_certificates_the_contract_refuses(world: World, system: System) -> None:
    said = honest(world, "t1:refused")
    with reverted("BelowThreshold"):
        system.oracle.post_certificate(world.certificate(said, [1, 2]))
    with reverted("UnknownKey"):  # bonded, but its key was never registered (no proof of possession)
        system.oracle.post_certificate(world.certificate(said, [1, 2, UNKEYED]))
    good = world.certificate(said, [1, 2, 3]).groups[0]
    other = world.certificate(honest(world, "t1:other"), [1, 2, 3]).groups[0]
    two = world.certificate(said, [1, 2]).groups[0]
    for aggregate in (other.aggregate_signature, two.aggregate_signature):  # another message; one signer short
        with reverted("InvalidSignature"):
            system.oracle.post_certificate(Certificate((SignedGroup(said, good.signers, aggregate),)))
    assert system.oracle.answer(said.circuit, said.request_id) is None


def test_the_gateway_posts_its_certificates_and_keeps_a_failed_one(
    world: World, system: System, tmp_path: Path
) -> None:
    """`zkinfer gateway --post-certificates`: queued with the certificate, posted in the background, kept and
    retried after a failed try, and listed by `zkinfer chain status`."""
    records = Records(tmp_path / "gateway.db")
    records.add_certificate(gateway_record(world, "t1:posted"), post=True)
    records.add_certificate(gateway_record(world, "t1:off"))  # made without --post-certificates: never queued
    [(seq, queued, attempts)] = records.due_posts(time.time())
    down = CertificatePoster(records, ChainTarget(dead_rpc_url(), world.dev.keys[PROVER], None, tmp_path).open)
    assert down.post_one(seq, queued, attempts) is PostState.PENDING
    assert records.due_posts(time.time()) == []  # not before its backoff
    [later] = records.posts()
    assert (later["state"], later["attempts"], later["tx_hash"]) == ("pending", 1, None)
    assert "no Ethereum node answers" in later["detail"] and records.certificate("t1:posted") is not None
    live = ChainTarget(world.dev.rpc_url, world.dev.keys[PROVER], None, world.work / "deployments.json")

    async def background() -> None:  # what the running gateway does: the poster task, woken by each certificate
        poster = CertificatePoster(records, live.open, clock=lambda: time.time() + 3600)  # past the backoff
        poster.start()
        records.add_certificate(gateway_record(world, "t1:again", who=[2, 3, 4]), post=True)
        poster.wake()
        await asyncio.to_thread(
            wait_until,
            lambda: all(p["state"] == "posted" for p in records.posts()) or None,
            what="both certificates posted",
            timeout_s=60,
        )
        await poster.stop()

    asyncio.run(background())
    assert all(p["tx_hash"].startswith("0x") for p in records.posts())  # both posted by the poster
    answer = system.oracle.answer(honest(world, "x").circuit, "t1:posted")
    assert answer is not None and answer.statement_digest == queued.statement_digest
    # someone posted first for this request (another statement): kept as "taken", not retried; the same one: posted
    records.add_certificate(gateway_record(world, "t1:posted", [4, 5, 9], lie(world, "t1:posted")), post=True)
    records.add_certificate(gateway_record(world, "t1:bet-1"), post=True)  # test 1 posted this very statement
    poster = CertificatePoster(records, live.open)
    assert [poster.post_one(*due) for due in records.due_posts(time.time())] == [PostState.TAKEN, PostState.POSTED]
    registry: list[str | Path] = ["--registry", world.work / "deployments.json"]  # where deploy-oracle put it
    status = zkinfer(
        "chain", "status", "--rpc-url", world.dev.rpc_url, "--stake", system.stake.address, *registry, "--json"
    )
    assert status.returncode == 0, status.stdout + status.stderr
    listed = {c["request_id"]: c["statement_digest"] for c in json.loads(status.stdout)["certificates"]}
    assert listed["t1:posted"] == queued.statement_digest and "t1:again" in listed and "t1:off" not in listed


def gateway_record(
    world: World, request_id: str, who: list[int] | None = None, said: Statement | None = None
) -> CertificateRecord:
    said = said or honest(world, request_id)
    made = world.certificate(said, who or [1, 2, 3])
    return CertificateRecord(request_id, "tiny", said.digest(), made.to_json(), ["a", "b", "c"], [], time.time())


def dead_rpc_url() -> str:
    with socket.socket() as s:  # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_contradicted_certificate_slashes_every_signer(world: World, system: System) -> None:
    false = lie(world, "t1:lie")
    system.oracle.post_certificate(world.certificate(false, [1, 2, 3]))
    with reverted("ClaimsInWindow"):  # a signer cannot take its bond out before the lie can be proven
        system.stake.as_signer(world.chains[1]).withdraw_bond(PARAMS.min_bond)
    elsewhere = dataclasses.replace(lie(world, "t1:lie-2"), input_digest="sha256:" + "00" * 32)
    system.oracle.post_certificate(world.certificate(elsewhere, [4, 5, 9]))
    with reverted("OtherInput"):  # the proof is of another input than that certificate's
        system.as_prover()._send(
            "contradictCertificate", claims.model_id(false.circuit), elsewhere.request_id, _proven_args(world.receipt)
        )
    sent = system.as_prover().contradict_certificate(false.circuit, false.request_id, world.receipt, verified=True)
    assert sorted(slashed_nodes(system, sent)) == sorted(address(system, w) for w in (1, 2, 3))
    assert [system.bond(w) for w in NODES] == [0, 0, 0, *[PARAMS.min_bond] * 3]
    answer = system.oracle.answer(false.circuit, false.request_id)
    assert answer is not None and answer.contradicted
    with reverted("AlreadyContradicted"):
        system.as_prover().contradict_certificate(false.circuit, false.request_id, world.receipt, verified=True)
    share = PARAMS.min_bond * PARAMS.slash_share_bps // 10_000
    assert system.stake.node(world.chains[PROVER].address).balance == 3 * share


def test_a_signed_statement_a_proof_contradicts_slashes_its_signer(world: World, system: System) -> None:
    prover = system.as_prover()
    with reverted("InvalidSignature"):  # node 5's key named, node 9's signature
        forged = world.sign(lie(world, "t1:x"), 9)
        prover.slash_contradiction(dataclasses.replace(forged, public_key=world.keys[5].public_key), world.receipt)
    with reverted("UnknownKey"):
        prover.slash_contradiction(world.sign(lie(world, "t1:x"), UNKEYED), world.receipt, verified=True)
    true = world.sign(honest(world, "t1:x"), 5)
    with pytest.raises(claims.ClaimError, match="signed output"):
        prover.slash_contradiction(true, world.receipt, verified=True)
    args = _proven_args(world.receipt)
    with reverted("NotContradicted"):
        prover._send(
            "slashContradiction",
            true.statement.signing_bytes(),
            true.public_key,
            _points(true)[0],
            _points(true)[1],
            args,
        )
    # the node's lie and its own receipt, as gateway evidence: no claim was posted, so the oracle slashes it
    document = evidence.contradiction(world.sign(lie(world, "t1:x"), RECEIPT_SIGNER), world.receipt_json(), 0, 1)
    (world.work / "evidence.json").write_text(json.dumps(document))
    done = zkinfer(
        "challenge", "--evidence", world.work / "evidence.json", "--stake", system.stake.address, "--oracle",
        system.oracle.address, *world.cli(PROVER), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["kind"] == "contradiction"
    assert [system.bond(w) for w in (4, 5, RECEIPT_SIGNER)] == [PARAMS.min_bond, PARAMS.min_bond, 0]
    with reverted("AlreadySlashed"):
        prover.slash_contradiction(world.sign(lie(world, "t1:x"), RECEIPT_SIGNER), world.receipt, verified=True)


def _points(signed: SignedStatement) -> tuple[bytes, bytes]:
    from zkinfer.chain import bls_points

    assert bls.verify(signed.public_key, signed.statement.signing_bytes(), signed.signature)
    return bls_points.g1_point(signed.public_key), bls_points.g2_point(signed.signature)
