"""Statements as on-chain claims, and the Merkle trees that post many claims for the gas of one.

A claim is what `contracts/ZkinferStake.sol` holds a node to: (modelId, requestId, inputHash,
outputHash). The contract compares a proof with it without trusting anyone's decoding, so the two
hashes are keccak256 over the field elements *exactly as the proof's public instances carry them*:
each felt as a 32-byte big-endian word (the `uint256` the verifier takes), concatenated. ezkl writes
felts as 64 little-endian hex digits; `felt_word` is the one conversion.

- modelId: the circuit digest's 32 bytes (verifying key + settings, `digest.circuit_digest`).
- requestId: keccak256 of the request id's UTF-8 bytes (the statement's request id).
- inputHash: over the input section (the public input's felts, or its Poseidon commitments).
- outputHash: over the output felts (the statement's quantized output, each value mod the field).

A `Statement` holds an input *digest* (sha256, for signatures), not the felts, so turning one into a
claim takes the felts too and checks they are the ones the statement digests: a claim never says
more than the signed statement did.

Merkle tree (must agree byte for byte with the contract, which checks proofs with OpenZeppelin's
MerkleProof; tests compare them through eth_call): leaf = keccak256(0x00 ‖ modelId ‖ requestId ‖
inputHash ‖ outputHash), a 129-byte preimage; inner node = keccak256(min(a, b) ‖ max(a, b)), OpenZeppelin's
commutative hash, a 64-byte preimage; levels pair neighbours left to right and carry an odd last node up
unchanged. Sorted pairs make a proof just the siblings; the leaf's prefix and the preimages' different
lengths keep an inner node from ever passing for a leaf, so the inner hash needs no prefix of its own.
(Before OpenZeppelin, inner nodes had a 0x01 prefix: a stake contract deployed then has other code, which the
chain commands refuse by their code check, so no tree of the old rule is ever sent.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from zkinfer.core.crypto.digest import circuit_digest, digest_bytes, is_digest
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.formats.statement import (
    FIELD_MODULUS,
    Statement,
    StatementError,
    from_receipt,
    input_digest,
    proven_instances,
)
from zkinfer.core.support.errors import ChainError
from zkinfer.core.zkp.ezkl_views import Settings, SettingsError
from zkinfer.core.zkp.instance_layout import InstanceLayout

LEAF_PREFIX = b"\x00"
MAX_DEPTH = 32  # the contract refuses longer proofs (a batch of up to 2^32 claims)


class ClaimError(ChainError):
    """A claim, claim file or batch is malformed, or does not match the statement, receipt or contract."""


def felt_word(felt: str) -> bytes:
    """ezkl's felt (64 little-endian hex digits) as the 32-byte big-endian word the EVM sees."""
    raw = bytes.fromhex(felt)
    if len(raw) != 32:
        raise ClaimError(f"field element {felt[:16]}…: expected 64 hex digits")
    value = int.from_bytes(raw, "little")
    if value >= FIELD_MODULUS:
        raise ClaimError(f"field element {felt[:16]}… is not below the BN254 field modulus")
    return value.to_bytes(32, "big")


def felt_int(felt: str) -> int:
    """The felt as the `uint256` a verifier's `instances` array takes."""
    return int.from_bytes(felt_word(felt), "big")


def hash_words(words: Sequence[bytes]) -> bytes:
    return keccak(b"".join(words))


def hash_felts(felts: Sequence[str]) -> bytes:
    """inputHash / outputHash: keccak256 over the felts as 32-byte words (the contract's `hashFelts`)."""
    return hash_words([felt_word(f) for f in felts])


def signed_word(value: int) -> bytes:
    """A signed quantized value (a statement's output) as the field element the proof carries."""
    return (value % FIELD_MODULUS).to_bytes(32, "big")


def model_id(circuit: str) -> bytes:
    """The contract's modelId for a circuit digest (sha256:<hex> → its 32 bytes)."""
    if not is_digest(circuit):
        raise ClaimError(f"circuit {circuit[:80]!r}: not a sha256:<64 hex> circuit digest")
    return bytes.fromhex(circuit.removeprefix("sha256:"))


def request_id_hash(request_id: str) -> bytes:
    return keccak(request_id.encode())


@dataclass(frozen=True)
class Claim:
    """One claim as the contract's `Claim` struct; `request_id` (text) is kept beside its hash."""

    model_id: bytes
    request_id: str
    input_hash: bytes
    output_hash: bytes

    @property
    def request_hash(self) -> bytes:
        return request_id_hash(self.request_id)

    def as_tuple(self) -> tuple[bytes, bytes, bytes, bytes]:
        """The ABI tuple (modelId, requestId, inputHash, outputHash)."""
        return (self.model_id, self.request_hash, self.input_hash, self.output_hash)

    def leaf(self) -> bytes:
        return leaf_hash(*self.as_tuple())

    def to_json(self) -> dict[str, Any]:
        return {
            "model_id": "0x" + self.model_id.hex(),
            "request_id": self.request_id,
            "input_hash": "0x" + self.input_hash.hex(),
            "output_hash": "0x" + self.output_hash.hex(),
        }

    @classmethod
    def from_json(cls, document: Any, where: str = "claim") -> Claim:
        if not isinstance(document, dict) or set(document) != {"model_id", "request_id", "input_hash", "output_hash"}:
            raise ClaimError(
                f"{where}: expected an object with exactly model_id, request_id, input_hash and output_hash"
            )
        if not isinstance(document["request_id"], str):
            raise ClaimError(f"{where}.request_id: not a string")
        hashes = [parse_bytes32(document[k], f"{where}.{k}") for k in ("model_id", "input_hash", "output_hash")]
        return cls(hashes[0], document["request_id"], hashes[1], hashes[2])


def parse_bytes32(value: Any, where: str) -> bytes:
    text = value.removeprefix("0x") if isinstance(value, str) else ""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ClaimError(f"{where}: expected 0x and 64 hex digits")
    return raw


def leaf_hash(model: bytes, request: bytes, input_hash: bytes, output_hash: bytes) -> bytes:
    return keccak(LEAF_PREFIX + model + request + input_hash + output_hash)


def from_statement(statement: Statement, input_visibility: str, input_felts: list[list[str]]) -> Claim:
    """The claim for a statement, given the input felts the proof will expose (the public input's
    values, or one Poseidon commitment per input tensor when hashed); they must be the ones the
    statement's input digest covers."""
    try:
        digest = input_digest(input_visibility, input_felts)
    except StatementError as exc:
        raise ClaimError(f"the input felts for request {statement.request_id!r}: {exc}") from exc
    if digest != statement.input_digest:
        raise ClaimError(
            f"the input felts digest to {digest}, statement {statement.request_id!r} says {statement.input_digest}: "
            "they are another input"
        )
    outputs = [signed_word(v) for values in statement.output for v in values]
    return Claim(
        model_id(statement.circuit),
        statement.request_id,
        hash_words([felt_word(f) for t in input_felts for f in t]),
        hash_words(outputs),
    )


def from_verified_receipt(receipt: Receipt, request_id: str) -> Claim:
    """The claim a receipt's proof attests (call only once the receipt has verified)."""
    try:
        statement = from_receipt(receipt, request_id)
        layout, proven = proven_instances(receipt)
    except StatementError as exc:
        raise ClaimError(f"receipt: no statement can be read from it ({exc})") from exc
    return from_statement(statement, layout.input_visibility, proven.input_felts())


@dataclass(frozen=True)
class Layout:
    """How a model's proof instances split (the contract's registration): ezkl puts the hashed
    input's commitments first, then the weights' commitments, then a public input, then outputs."""

    n_input: int
    n_params: int
    n_output: int
    input_first: bool  # true when the input is hashed
    params_hash: bytes  # keccak over the weights' commitment felts; 32 zero bytes for fixed weights

    @classmethod
    def of_settings(cls, view: Settings, params_commitment: list[str] | None = None, where: str = "settings") -> Layout:
        """The contract's registration of a circuit, from its instance layout (`zkinfer.core.zkp.instance_layout`)."""
        try:
            layout = InstanceLayout.of(view)
        except SettingsError as exc:
            raise ClaimError(str(exc)) from exc
        in_vis, params_vis, out_vis = layout.input_visibility, layout.param_visibility, layout.output_visibility
        if in_vis not in ("public", "hashed") or out_vis != "public":
            raise ClaimError(
                f"{where}: input {in_vis}, weights {params_vis}, output {out_vis}: "
                "the chain needs a public or hashed input, fixed or hashed weights and a public output"
            )
        if view.batch_size != 1:
            raise ClaimError(
                f"{where}: batch size {view.batch_size}: "
                "one claim binds one request, so the chain takes circuits of batch size 1"
            )
        params = list(params_commitment or [])
        if len(params) != layout.n_weights_commitments:
            fix = (
                "give the weights' Poseidon commitment (a receipt of the circuit has it)"
                if params_vis == "hashed"
                else "no weights commitment belongs to it"
            )
            raise ClaimError(
                f"{where}: weights are {params_vis} ({layout.n_weights_commitments} commitment(s)), "
                f"{len(params)} given: {fix}"
            )
        return cls(
            layout.input_size,
            len(params),
            layout.output_values,
            in_vis == "hashed",
            hash_felts(params) if params else bytes(32),
        )

    @classmethod
    def of_receipt(cls, receipt: Receipt) -> Layout:
        """The registration a receipt's circuit needs, with the weights commitment its proof attests."""
        try:
            _, proven = proven_instances(receipt)
        except StatementError as exc:
            raise ClaimError(f"receipt: {exc}") from exc
        weights = None if proven.weights_commitment is None else list(proven.weights_commitment)
        return cls.of_settings(receipt.model.settings_view, weights, "receipt.model.settings")

    def split(self, instances: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """(input, weights, output) felts of a proof's flat instances, as the contract splits them."""
        if len(instances) != self.n_input + self.n_params + self.n_output:
            raise ClaimError(
                f"the proof has {len(instances)} public instances, "
                f"the model's layout {self.n_input} + {self.n_params} + {self.n_output}"
            )
        first, second = (self.n_input, self.n_params) if self.input_first else (self.n_params, self.n_input)
        head, middle, outputs = (
            list(instances[:first]),
            list(instances[first : first + second]),
            list(instances[first + second :]),
        )
        return (head, middle, outputs) if self.input_first else (middle, head, outputs)


def receipt_model_id(receipt: Receipt) -> bytes:
    return model_id(circuit_digest(digest_bytes(receipt.model.verifying_key), receipt.model.settings))


class MerkleTree:
    """The batch tree over claim leaves, as the contract checks it (see the module docstring)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise ClaimError("a batch needs at least one claim")
        if len(leaves) > 1 << MAX_DEPTH:
            raise ClaimError(f"a batch holds at most 2^{MAX_DEPTH} claims")
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            level = self.levels[-1]
            self.levels.append(
                [node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
            )

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """The siblings from leaf `index` up to the root (levels where it has none add nothing)."""
        if not 0 <= index < len(self.levels[0]):
            raise ClaimError(f"leaf {index}: the batch has {len(self.levels[0])} claims")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def claim_key(batch_id: int, leaf: bytes) -> bytes:
    """The contract's key for a claim's challenge: keccak256(abi.encode(batchId, leaf))."""
    return keccak(batch_id.to_bytes(32, "big") + leaf)


def node_hash(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's `Hashes.commutativeKeccak256`: keccak256 of the sorted pair, no prefix."""
    return keccak(min(a, b) + max(a, b))


def root_of(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = node_hash(node, sibling)
    return node


def default_request_id(receipt_path: Path) -> str:
    """A receipt's request id when `post-claims` is given none: `receipt-` and the first 16 hex
    digits of the file's SHA-256 (a receipt from `zkinfer prove` names no request)."""
    from zkinfer.core.crypto.digest import digest_file
    from zkinfer.core.support.errors import UsageError

    try:
        return "receipt-" + digest_file(receipt_path).removeprefix("sha256:")[:16]
    except OSError as exc:
        raise UsageError(f"{receipt_path}: cannot read the receipt ({exc.strerror or exc})") from exc
