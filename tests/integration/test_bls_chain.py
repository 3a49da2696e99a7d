"""zkinfer's BLS signatures checked by contracts/BLS.sol on a real anvil (the EIP-2537 precompiles), keys
registered with their proofs of possession, and equivocation slashed on the signatures alone
(contracts/ZkinferSignatures.sol) through the stake contract's slashFor (SLASHER_ROLE granted by its
admin). One anvil for the module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from tests import chain_harness
from zkinfer.chain import bls_points, deploy, solidity, stake_reverts
from zkinfer.chain.account import Chain
from zkinfer.chain.signatures import Signatures
from zkinfer.chain.stake_client import Stake
from zkinfer.chain.stake_types import SOURCE as STAKE_SOURCE
from zkinfer.chain.stake_types import StakeReverted
from zkinfer.core.crypto import bls, identity
from zkinfer.core.formats.statement import SignedStatement, Statement, sign
from zkinfer.core.support.errors import ChainError

anvil, chain = chain_harness.anvil, chain_harness.chain
HERE = Path(__file__).resolve().parents[1] / "contracts"
BOND = 10**18
CIRCUIT = "sha256:" + "ab" * 32


def statement(output: tuple[tuple[int, ...], ...] = ((1, -2, 3),), **changes: Any) -> Statement:
    fields: dict[str, Any] = {
        "circuit": CIRCUIT,
        "request_id": "req-1",
        "input_digest": "sha256:" + "cd" * 32,
        "weights_commitment": None,
        "output_scales": (7,),
        "output": output,
    }
    return Statement(**{**fields, **changes})


@dataclass
class World:
    chain: Chain
    stake: Stake
    signatures: Signatures
    anvil: Any

    def as_account(self, index: int) -> Signatures:
        return self.signatures.as_signer(chain_harness.other_account(self.anvil, index))

    def bond(self, index: int) -> None:
        self.stake.as_signer(chain_harness.other_account(self.anvil, index)).register_node(BOND)

    def slashed(self, index: int) -> bool:
        return self.stake.node(chain_harness.other_account(self.anvil, index).address).slashed

    def balance(self, index: int) -> int:
        return self.stake.node(chain_harness.other_account(self.anvil, index).address).balance


@pytest.fixture(scope="module")
def world(anvil: Any, chain: Chain) -> Iterator[World]:
    stake, _ = Stake.deploy(chain)  # min bond 1 ETH, half of a slashed bond to whoever proved the lie
    deployed, _ = Signatures.deploy(chain, stake.address)
    assert not deployed.may_slash()
    deployed.grant_slasher()
    assert deployed.may_slash()
    yield World(chain, stake, deployed, anvil)


def test_a_zkinfer_signature_verifies_on_chain_and_nothing_else_does(world: World) -> None:
    key = identity.new_key()
    message = statement().signing_bytes()
    signature = bls.sign(key.secret, message)
    assert bls.py_ecc().Sign(key.secret, message) == signature  # the reference implementation's bytes
    contract = world.signatures
    assert contract.verify_signature(key.public_key, message, signature)
    assert not contract.verify_signature(key.public_key, message + b" ", signature)  # another message
    assert not contract.verify_signature(identity.new_key().public_key, message, signature)  # another key
    pop = bls.pop_prove(key.secret)  # a signature under the other tag (DST) of the key's bytes
    assert not contract.verify_signature(key.public_key, key.public_key, pop)
    check = contract.contract.functions.verifySignature
    point, sig_point = bls_points.g1_point(key.public_key), bls_points.g2_point(signature)
    off_curve = sig_point[:-1] + bytes([sig_point[-1] ^ 1])
    assert not check(point, message, off_curve).call()
    assert not check(point[:-1] + bytes([point[-1] ^ 1]), message, sig_point).call()  # a key off the curve
    unpadded = b"\x01" + point[1:]  # a field element whose 16 padding bytes are not zero
    assert not check(unpadded, message, sig_point).call()
    assert not check(point[:-1], message, sig_point).call()  # malformed lengths: false, never a revert


def _outside_subgroup() -> tuple[bytes, bytes]:
    """A G1 point on the curve but outside the order-r subgroup: (compressed, uncompressed)."""
    for x in range(1, 100):
        rhs = (x**3 + 4) % bls.P
        y = pow(rhs, (bls.P + 1) // 4, bls.P)
        if y * y % bls.P == rhs and not bls._g1_order_r(x, y):
            sign = (2 * y) // bls.P
            compressed = (x | (1 << 383) | (sign << 381)).to_bytes(48, "big")
            return compressed, x.to_bytes(64, "big") + y.to_bytes(64, "big")
    raise AssertionError("no such x below 100")


def test_the_pairing_precompile_refuses_a_key_outside_the_subgroup(world: World) -> None:
    """What BLS.sol relies on (EIP-2537): PAIRING checks subgroup membership itself."""
    compressed, point = _outside_subgroup()
    assert not bls.key_validate(compressed)
    good = bls_points.g1_point(identity.new_key().public_key)
    g2 = bls_points.g2_point(bls.sign(identity.new_key().secret, b"m"))
    pairing = to_checksum_address("0x" + "00" * 19 + "0f")
    assert world.chain.web3.eth.call({"to": pairing, "data": good + g2})[-1] in (0, 1)  # on-subgroup: an answer
    with pytest.raises(Exception):  # noqa: B017 - web3 raises its own error type for a failed call
        world.chain.web3.eth.call({"to": pairing, "data": point + g2})
    assert not world.signatures.contract.functions.verifySignature(point, b"m", g2).call()


def test_a_bonded_node_registers_one_key_with_its_proof_of_possession(world: World) -> None:
    world.bond(1)
    node = world.as_account(1)
    key = identity.new_key()
    with pytest.raises(StakeReverted) as unbonded:  # account 2 has no bond
        world.as_account(2).register_key(key)
    assert unbonded.value.error == "NotActiveNode"
    for proof, point, error in [
        (bls.pop_prove(identity.new_key().secret), bls_points.g1_point(key.public_key), "InvalidPossession"),
        (bls.sign(key.secret, key.public_key), bls_points.g1_point(key.public_key), "InvalidPossession"),
        (bls.pop_prove(key.secret), bls_points.g1_point(identity.new_key().public_key), "BadKeyEncoding"),
    ]:
        with pytest.raises(StakeReverted) as refused:
            node._send("registerKey", key.public_key, point, bls_points.g2_point(proof))
        assert refused.value.error == error
    proof = bls_points.g2_point(bls.pop_prove(key.secret))
    point = bls_points.g1_point(key.public_key)
    for flags in (0x20, 0x40, 0x80):  # the other y (sign bit), "infinity", "uncompressed": not this point
        altered = bytes([key.public_key[0] ^ flags]) + key.public_key[1:]
        with pytest.raises(StakeReverted) as encoding:
            node._send("registerKey", altered, point, proof)
        assert encoding.value.error == "BadKeyEncoding"
    compressed, point = _outside_subgroup()
    with pytest.raises(StakeReverted) as outside:
        node._send("registerKey", compressed, point, bls_points.g2_point(bls.pop_prove(key.secret)))
    assert outside.value.error == "InvalidPossession"
    sent = node.register_key(key)
    assert world.signatures.node_of(key.public_key) == node.chain.address
    assert 150_000 < sent.gas_used < 400_000
    with pytest.raises(StakeReverted) as second:
        node.register_key(identity.new_key())
    assert second.value.error == "NodeHasKey"
    world.bond(2)
    with pytest.raises(StakeReverted) as taken:
        world.as_account(2).register_key(key)
    assert taken.value.error == "KeyTaken"


def _registered(world: World, index: int) -> identity.NodeKey:
    world.bond(index)
    key = identity.new_key()
    world.as_account(index).register_key(key)
    return key


def _signed(key: identity.NodeKey, made: Statement) -> SignedStatement:
    return sign(made, key.secret, key.public_key)


def test_equivocation_slashes_at_once_and_only_once(world: World) -> None:
    key = _registered(world, 3)
    node = world.as_account(3).chain.address
    a = _signed(key, statement())
    b = _signed(key, statement(output=((1, -2, 4),), request_id="req-2"))  # one claim, another answer
    accuser = world.as_account(4)
    slashed = accuser.slash_equivocation(a, b)
    assert slashed.node == node
    assert world.slashed(3) and world.stake.node(node).bond == 0
    assert world.balance(4) == BOND * world.stake.params().slash_share_bps // 10_000  # the configured share
    assert world.stake.events("Slashed")[-1]["args"]["reason"] == slashed.reason
    assert slashed.sent.gas_used < 450_000
    with pytest.raises(StakeReverted) as again:
        world.as_account(5).slash_equivocation(b, a)
    assert again.value.error == "AlreadySlashed"
    other = "sha256:" + "0e" * 32  # another lie of the node, once its bond is gone: the stake refuses it
    with pytest.raises(StakeReverted) as nothing:
        world.as_account(5).slash_equivocation(
            _signed(key, statement(input_digest=other)), _signed(key, statement(output=((7,),), input_digest=other))
        )
    assert nothing.value.error == "NothingAtStake"


def test_what_is_not_equivocation_does_not_slash(world: World) -> None:
    key = _registered(world, 6)
    node = world.as_account(6).chain.address
    a = _signed(key, statement())
    accuser = world.as_account(7)
    cases = [
        (a, a, "SameAnswer"),  # the same statement twice
        (a, _signed(key, statement(request_id="req-9")), "SameAnswer"),  # same answer, another request
        (a, _signed(key, statement(output=((9,),), input_digest="sha256:" + "ee" * 32)), "DifferentClaims"),
        (a, _signed(key, statement(output=((9,),), weights_commitment=("00" * 32,))), "DifferentClaims"),
        (a, SignedStatement(statement(output=((9,),)), key.public_key, a.signature), "InvalidSignatures"),
    ]
    stranger = identity.new_key()
    cases.append(
        (_signed(stranger, statement()), _signed(stranger, statement(output=((9,),))), "UnknownKey"),
    )
    for first, second, error in cases:
        with pytest.raises(StakeReverted) as refused:
            accuser.slash_equivocation(first, second)
        assert refused.value.error == error
    with pytest.raises(StakeReverted) as own:
        world.as_account(6).slash_equivocation(a, _signed(key, statement(output=((9,),))))
    assert own.value.error == "SelfReport"
    with pytest.raises(ChainError):
        accuser.slash_equivocation(a, _signed(stranger, statement(output=((9,),))))
    assert world.stake.is_active_node(node)


def test_the_codec_reads_a_statement_as_zkinfer_writes_it(world: World) -> None:
    probe = solidity.compile_sources(
        {
            "CodecProbe.sol": (HERE / "CodecProbe.sol").read_text(),
            "StatementCodec.sol": (STAKE_SOURCE.parent / "StatementCodec.sol").read_text(),
        },
        "CodecProbe",
    )
    address = deploy.deploy(world.chain, probe).contract_address
    assert address is not None
    codec = deploy.contract(world.chain, address, probe).functions
    weights = ("01" + "00" * 31, "ff" * 32)
    made = statement(
        output=((5, -7, 0), (), (123456789012345678901234567890,)),
        output_scales=(7, 0, -3),
        request_id="A.b_c:d-9",
        weights_commitment=weights,
    )
    request_id, _, _, values, lengths, scales, felts = codec.read(made.signing_bytes()).call()
    assert request_id == b"A.b_c:d-9"
    assert values == [5, -7, 0, 123456789012345678901234567890] and lengths == [3, 0, 1]
    assert scales == [7, 0, -3]
    assert felts == [int.from_bytes(bytes.fromhex(w), "little") for w in weights]  # as the proof's instances
    assert codec.toFelt(-7).call() == 21888242871839275222246405745257275088548364400416034343698204186575808495617 - 7
    text = made.signing_bytes()
    not_a_statement = keccak(b"NotAStatement(uint256)")[:4]
    for broken in [
        text.replace(b'"req', b'"re"q'),
        text.replace(b"[[5,", b"[[05,"),
        text.replace(b"[[5,", b"[[-0,"),
        text.replace(b"sha256:ab", b"sha256:AB"),
        text[:-1],
        text + b" ",
        b"zkinfer.receipt/1\x00" + text[20:],
        text.replace(b'"output_scales"', b'"output_scale"'),
    ]:
        with pytest.raises(Exception) as refused:
            codec.parse(broken).call()
        assert (stake_reverts.revert_data(refused.value) or b"")[:4] == not_a_statement


def test_the_cli_deploys_registers_a_key_and_slashes_equivocation_from_gateway_evidence(
    world: World, tmp_path: Path
) -> None:
    """A user's path: deploy-signatures (granted SLASHER_ROLE), register-key, challenge --evidence."""
    import json

    from tests.cli import zkinfer
    from zkinfer.network import evidence

    rpc = ["--rpc-url", world.anvil.rpc_url, "--registry", tmp_path / "deployments.json"]
    owner = chain_harness.key_file(world.anvil, 0, tmp_path)
    deployed = zkinfer(
        "chain", "deploy-signatures", "--stake", world.stake.address, "--key-file", owner, *rpc, "--json"
    )
    assert deployed.returncode == 0, deployed.stderr
    facts = json.loads(deployed.stdout)
    assert facts["may_slash"] is True and facts["stake"] == world.stake.address
    world.bond(8)
    key = identity.new_key()
    identity.save_key(key, tmp_path / "node.key")
    node_account = chain_harness.key_file(world.anvil, 8, tmp_path)
    registered = zkinfer("chain", "register-key", "--node-key", tmp_path / "node.key", "--key-file", node_account, *rpc)
    assert registered.returncode == 0, registered.stderr
    node = chain_harness.other_account(world.anvil, 8).address
    document = evidence.equivocation(_signed(key, statement()), _signed(key, statement(output=((0,),))), "node-8")
    (tmp_path / "equivocation.json").write_text(json.dumps(document))
    accuser = chain_harness.key_file(world.anvil, 9, tmp_path)
    slashed = zkinfer("challenge", "--evidence", tmp_path / "equivocation.json", "--key-file", accuser, *rpc, "--json")
    assert slashed.returncode == 0, slashed.stderr
    assert json.loads(slashed.stdout)["node"] == node
    assert world.slashed(8)
    assert world.balance(9) == BOND * world.stake.params().slash_share_bps // 10_000
