"""A typed client for `contracts/ZkinferOracle.sol`: quorum certificates posted on chain, certified answers
read back, and signed statements that a valid proof contradicts slashed.

The contract checks everything itself (the statement's bytes, the signers' registered keys and bonds, the
aggregate signature, the proof through the stake's model verifier); this client only turns zkinfer's documents
into its arguments and refuses, before any gas, what the contract would refuse for sure: a label certificate
(several statements: it certifies labels, not values), a receipt that does not verify, or one that proves the
statement's own output. Points go on chain uncompressed beside their compressed form (EIP-2537 takes them so;
the contract checks they are the same point).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkinfer.chain import bls_points, stake_reverts
from zkinfer.chain.account import Chain
from zkinfer.chain.calldata import proof_args
from zkinfer.chain.claims import ClaimError, model_id
from zkinfer.chain.deploy import Sent, code_matches, contract, deploy, transact
from zkinfer.chain.solidity import Compiled, compile_cached
from zkinfer.core.formats.certificate import Certificate
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.formats.statement import SignedStatement, Statement, StatementError, from_receipt, proven_instances
from zkinfer.core.support.errors import ChainError

SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "ZkinferOracle.sol"
NAME = "ZkinferOracle"
ROLE = "oracle"  # its role in deployments.json


@functools.cache
def compiled() -> Compiled:
    """The oracle contract, compiled with the pinned solc (cached: `solidity.compile_cached`)."""
    return compile_cached(SOURCE, NAME)


@dataclass(frozen=True)
class CertifiedAnswer:
    """What the oracle records for (circuit, request id): what a consumer contract reads."""

    circuit: str
    request_id: str
    statement_digest: str
    input_digest: str
    output_hash: str
    output: tuple[tuple[int, ...], ...]
    output_scales: tuple[int, ...]
    signers: tuple[str, ...]
    posted_at: int
    contradicted: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "circuit": self.circuit,
            "request_id": self.request_id,
            "statement_digest": self.statement_digest,
            "input_digest": self.input_digest,
            "output_hash": self.output_hash,
            "output": [list(t) for t in self.output],
            "output_scales": list(self.output_scales),
            "signers": list(self.signers),
            "posted_at": self.posted_at,
            "contradicted": self.contradicted,
        }


@dataclass(frozen=True)
class PostedCertificate:
    """One CertificatePosted event: what `zkinfer chain status` lists."""

    key: str
    circuit: str
    request_id: str
    statement_digest: str
    signers: tuple[str, ...]
    poster: str
    block: int
    tx_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "circuit": self.circuit,
            "request_id": self.request_id,
            "statement_digest": self.statement_digest,
            "signers": list(self.signers),
            "poster": self.poster,
            "block": self.block,
            "tx_hash": self.tx_hash,
        }


def _sha(raw: bytes) -> str:
    return "sha256:" + bytes(raw).hex()


class Oracle:
    """One deployed oracle contract on one chain, signing with the chain's key."""

    def __init__(self, chain: Chain, address: str, *, check_code: bool = True) -> None:
        self.chain = chain
        if check_code and not code_matches(chain, address, compiled()):
            raise ChainError(f"{address}: the code there is not {NAME} as compiled from {SOURCE.name}")
        self.contract = contract(chain, address, compiled())
        self.address = str(self.contract.address)
        self._errors = stake_reverts.error_table(compiled().abi)

    @classmethod
    def deploy(cls, chain: Chain, stake: str, keys: str, threshold: int) -> tuple[Oracle, Sent]:
        """Deploy an oracle over `stake` (which must grant it SLASHER_ROLE) and the key registry `keys`,
        accepting certificates of at least `threshold` signers."""
        from web3 import Web3

        if threshold < 1:
            raise ChainError(f"threshold {threshold}: a certificate needs at least one signer")
        sent = deploy(chain, compiled(), Web3.to_checksum_address(stake), Web3.to_checksum_address(keys), threshold)
        assert sent.contract_address is not None
        return cls(chain, sent.contract_address, check_code=False), sent

    def as_signer(self, chain: Chain) -> Oracle:
        """The same contract, signing with another key."""
        other = Oracle.__new__(Oracle)
        other.chain, other.contract, other.address, other._errors = chain, self.contract, self.address, self._errors
        return other

    def _send(self, fn: str, *args: Any) -> Sent:
        try:
            return transact(self.chain, getattr(self.contract.functions, fn)(*args), f"{NAME}.{fn}")
        except ChainError as exc:
            raise stake_reverts.decoded(exc, fn, self._errors, NAME) from exc

    @property
    def threshold(self) -> int:
        return int(self.contract.functions.threshold().call())

    # ---- certificates ----

    def post_certificate(self, certificate: Certificate) -> tuple[bytes, Sent]:
        """Post a one-statement certificate; returns its answer key and the transaction."""
        if len(certificate.groups) != 1:
            raise ChainError(
                f"a label certificate ({len(certificate.groups)} statements) certifies labels, not one output: "
                "the oracle records one statement's values"
            )
        group = certificate.groups[0]
        registry = self.contract.functions
        keys = self.chain.web3.eth.contract(address=registry.keys().call(), abi=_NODE_OF_ABI)
        from eth_hash.auto import keccak

        nodes = {key: str(keys.functions.nodeOf(keccak(key)).call()) for key in group.signers}
        order = sorted(group.signers, key=lambda k: int(nodes[k], 16))
        sent = self._send(
            "postCertificate",
            group.statement.signing_bytes(),
            order,
            [bls_points.g1_point(k) for k in order],
            bls_points.g2_point(group.aggregate_signature),
        )
        from web3.logs import DISCARD

        # the receipt also holds the stake's BondLocked events (one per signer): not the oracle's, skipped
        events = self.contract.events.CertificatePosted().process_receipt(sent.receipt, errors=DISCARD)
        return bytes(events[0]["args"]["key"]), sent

    def answer(self, circuit: str, request_id: str) -> CertifiedAnswer | None:
        """The certified answer for (circuit digest, request id), or None when none was posted."""
        functions = self.contract.functions
        if not functions.isCertified(model_id(circuit), request_id).call():
            return None
        got = functions.certified(model_id(circuit), request_id).call()
        digest, input_digest, output_hash, _, _, contradicted, posted_at, output, sizes, scales, signers = got
        tensors, at = [], 0
        for size in sizes:
            tensors.append(tuple(int(v) for v in output[at : at + size]))
            at += size
        return CertifiedAnswer(
            circuit,
            request_id,
            _sha(digest),
            _sha(input_digest),
            "0x" + bytes(output_hash).hex(),
            tuple(tensors),
            tuple(int(s) for s in scales),
            tuple(str(s) for s in signers),
            int(posted_at),
            bool(contradicted),
        )

    def posted(self, from_block: int = 0) -> list[PostedCertificate]:
        """Every certificate posted on this oracle (its events), oldest first."""
        events = self.contract.events.CertificatePosted().get_logs(from_block=from_block)
        return [
            PostedCertificate(
                "0x" + bytes(e["args"]["key"]).hex(),
                _sha(e["args"]["circuit"]),
                str(e["args"]["requestId"]),
                _sha(e["args"]["statementDigest"]),
                tuple(str(s) for s in e["args"]["signers"]),
                str(e["args"]["poster"]),
                int(e["blockNumber"]),
                "0x" + bytes(e["transactionHash"]).hex().removeprefix("0x"),
            )
            for e in events
        ]

    # ---- contradictions ----

    def contradict_certificate(
        self, circuit: str, request_id: str, receipt: Receipt, *, verified: bool = False
    ) -> Sent:
        """Slash every signer of the certificate for (circuit, request id) that `receipt`'s proof contradicts."""
        certified = self.answer(circuit, request_id)
        if certified is None:
            raise ChainError(f"no certificate for request {request_id!r} of circuit {circuit} on {self.address}")
        proven = _proven_statement(receipt, request_id, verified)
        if proven.circuit != circuit or proven.input_digest != certified.input_digest:
            raise ClaimError("the receipt proves another circuit or input than the certified statement's")
        if proven.output == certified.output:
            raise ClaimError("the receipt proves the certified output: the certificate is true, nobody is slashed")
        return self._send("contradictCertificate", model_id(circuit), request_id, _proven_args(receipt))

    def slash_contradiction(self, signed: SignedStatement, receipt: Receipt, *, verified: bool = False) -> Sent:
        """Slash the node whose registered key signed `signed` when `receipt`'s proof contradicts it."""
        proven = _proven_statement(receipt, signed.statement.request_id, verified)
        said = signed.statement
        if proven.claim() != said.claim():
            raise ClaimError("the receipt proves another circuit, input or weights than the statement's")
        if proven.output == said.output:
            raise ClaimError("the receipt proves the signed output: the statement is true, nobody is slashed")
        return self._send(
            "slashContradiction",
            said.signing_bytes(),
            signed.public_key,
            bls_points.g1_point(signed.public_key),
            bls_points.g2_point(signed.signature),
            _proven_args(receipt),
        )


def deploy_and_record(chain: Chain, stake: Any, keys: str, threshold: int, registry_file: Path) -> tuple[Oracle, Sent]:
    """Deploy an oracle over `stake` (a `Stake` client) and the key registry `keys`, record it (role "oracle"),
    and grant it SLASHER_ROLE on the stake (the chain's key must be the stake's admin)."""
    from zkinfer.chain import registry

    oracle, sent = Oracle.deploy(chain, stake.address, keys, threshold)
    registry.record(registry_file, registry.deployed(ROLE, compiled(), chain.chain_id, chain.address, sent))
    stake.grant_slasher(oracle.address)
    return oracle, sent


def open_oracle(chain: Chain, address: str | None, registry_file: Path) -> Oracle:
    """The oracle at `address`, else the latest `registry_file` records on this chain; either way only once the
    code there is exactly ZkinferOracle."""
    from zkinfer.chain import registry

    if address is None:
        address = registry.recorded_address(registry_file, ROLE, chain.chain_id, "oracle", "--oracle", "deploy-oracle")
    return Oracle(chain, address)


def find_oracle(chain: Chain, address: str | None, registry_file: Path) -> Oracle | None:
    """The oracle at `address`, else the latest `registry_file` records on this chain (its code checked either
    way); None when neither (no oracle is in use here)."""
    from zkinfer.chain import registry

    if address is None:
        found = registry.find(registry.load(registry_file), ROLE, chain.chain_id)
        if found is None:
            return None
        address = found.address
    return Oracle(chain, address)


_NODE_OF_ABI = [
    {
        "type": "function",
        "name": "nodeOf",
        "stateMutability": "view",
        "inputs": [{"name": "keyHash", "type": "bytes32"}],
        "outputs": [{"name": "", "type": "address"}],
    }
]


def _proven_statement(receipt: Receipt, request_id: str, verified: bool) -> Statement:
    """The statement `receipt` proves, after checking it verifies (unless the caller did)."""
    if not verified:
        from zkinfer.verify.policy import Policy
        from zkinfer.verify.verifier import verify_receipt

        verdict = verify_receipt(receipt, Policy(), "receipt")
        if not verdict.verified:
            raise ClaimError(
                f"the receipt does not verify ({', '.join(verdict.failed())} failed): the contract would reject it"
            )
    try:
        return from_receipt(receipt, request_id)
    except StatementError as exc:
        raise ClaimError(f"receipt: no statement can be read from it ({exc})") from exc


def _proven_args(receipt: Receipt) -> tuple[bytes, list[int], list[int]]:
    """The contract's `Proven` tuple: proof, instances, and the values per input tensor."""
    proof, instances = proof_args(receipt)
    return proof, instances, [len(t) for t in proven_instances(receipt)[1].input_felts()]
