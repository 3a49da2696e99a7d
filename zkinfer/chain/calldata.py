"""A receipt's proof as its circuit's on-chain verifier takes it, and its instances split by role.

The ezkl verifier contract has one function, `verifyProof(bytes proof, uint256[] instances)`: the
proof bytes exactly as the receipt carries them, and the public instances flattened in ezkl's order
(input commitments, weights commitments, public input values, outputs), each felt (64 little-endian
hex digits) as the uint256 it denotes. `verifier_calldata` is the one encoding; it decodes to what
ezkl's own `encode_evm_calldata` gives (a test checks it). The chain sees only this: proof and
instances, never the receipt's stated values, signature or pins.
"""

from __future__ import annotations

from dataclasses import dataclass

from zkinfer.chain.claims import Layout, felt_int
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.support.errors import ChainError
from zkinfer.core.zkp import ezkl_adapter as _ezkl

SIGNATURE = "verifyProof(bytes,uint256[])"
SELECTOR = bytes.fromhex("1e8e1e13")  # keccak256(SIGNATURE)[:4]; a test recomputes it


class NotAFieldElement(ChainError):
    """A receipt's instance is not a BN254 field element: no verifier can be asked about it."""


@dataclass(frozen=True)
class InstanceParts:
    """A proof's public instances by role: the input (public values, or one Poseidon commitment per
    hashed input tensor), the weights' commitments (hashed weights only) and the output."""

    input: list[str]
    weights: list[str]
    output: list[str]


def flat_instances(receipt: Receipt) -> list[str]:
    """The proof's instances as one list, each checked to be a field element (ezkl's order)."""
    flat = [felt for column in receipt.proof.instances for felt in column]
    for j, felt in enumerate(flat):
        if not _ezkl.is_felt(felt):
            raise NotAFieldElement(
                f"field proof.instances (flat index {j}) = {felt[:80]!r} is not a field element "
                "(64 hex digits, little-endian, below the BN254 modulus)"
            )
    return flat


def proof_args(receipt: Receipt) -> tuple[bytes, list[int]]:
    """`verifyProof`'s arguments: the proof bytes and the instances as uint256."""
    return bytes(receipt.proof.hex), [felt_int(f) for f in flat_instances(receipt)]


def verifier_calldata(receipt: Receipt) -> bytes:
    """The calldata of `verifyProof(proof, instances)` for this receipt."""
    from eth_abi.abi import encode

    proof, instances = proof_args(receipt)
    return SELECTOR + encode(["bytes", "uint256[]"], [proof, instances])


def split_instances(receipt: Receipt) -> InstanceParts:
    """Split the proof's instances into (input, weights, output) as the circuit settings lay them
    out: the same layout `zkinfer.verify.checks.expected_instances` binds to the stated input and
    output, and the one the stake contract registers per model (`claims.Layout`)."""
    layout = Layout.of_receipt(receipt)
    input_part, weights, output = layout.split(flat_instances(receipt))
    return InstanceParts(input=input_part, weights=weights, output=output)
