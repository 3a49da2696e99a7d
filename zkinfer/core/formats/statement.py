"""The statement: what a node claims the moment it answers, and what its proof later attests.

A statement is (circuit digest, request id, input digest, weights commitment, proven output).
Honest nodes that run the same circuit on the same input sign *identical bytes*, because every
field is exact: the input digest covers the input's field elements (the public instances the proof
will carry, or the input's Poseidon commitment when the input is hashed), and the output is the
witness's quantized output (integers at the circuit's output scales), which is deterministic
integer arithmetic and exactly what the proof attests. A float answer, even quantized, can differ
from the proven output by several units (`benchmarks/bench_consensus.py` measures how often), so
it could neither be aggregated across nodes nor held against a node's proof.

Identical bytes is what lets signatures aggregate (FastAggregateVerify over one message) into a
quorum certificate, and what makes a statement *contradicted* by a valid proof of the same
circuit and input (see `zkinfer.network.evidence`) proof of a lie.

The request id binds a statement to one request, so certificates and evidence name it; it is not
part of what the proof attests (receipts carry no request id), so `from_receipt` takes it as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from zkinfer.core.crypto import bls
from zkinfer.core.crypto.digest import canonical_json, circuit_digest, digest_bytes, digest_json
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.support.errors import ZkinferError
from zkinfer.core.zkp.ezkl_views import SettingsError
from zkinfer.core.zkp.instance_layout import InstanceLayout, ProvenInstances

SCHEMA: Final = "zkinfer.statement/1"
DOMAIN: Final = b"zkinfer.statement/1\x00"  # a statement signature can never pass for a receipt one, nor the reverse
FIELD_MODULUS: Final = (
    21888242871839275222246405745257275088548364400416034343698204186575808495617  # BN254 scalar field
)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_FELT = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-f]*$")
MAX_OUTPUT_VALUES: Final = 1 << 20


class StatementError(ZkinferError):
    """A statement or signed statement is malformed, or does not verify."""


def felt_to_int(felt: str) -> int:
    """ezkl's field element (64 hex digits, little-endian) as the signed integer it encodes."""
    value = int.from_bytes(bytes.fromhex(felt), "little")
    if value >= FIELD_MODULUS:
        raise StatementError(f"field element {felt[:16]}… is not below the BN254 field modulus")
    return value - FIELD_MODULUS if value > FIELD_MODULUS // 2 else value


def _felts(values: list[str], where: str) -> list[str]:
    lowered = [v.lower() for v in values]
    for j, felt in enumerate(lowered):
        if not _FELT.fullmatch(felt):
            raise StatementError(f"{where}[{j}]: not a field element (64 hex digits)")
    return lowered


def input_digest(visibility: str, felts: list[list[str]]) -> str:
    """The digest of a request's input as the proof sees it: the public input's field elements
    (one list per input tensor), or the Poseidon commitments (one per tensor) when hashed."""
    if visibility not in ("public", "hashed"):
        raise StatementError(f"input visibility {visibility!r}: expected public or hashed")
    canonical = [_felts(tensor, f"input[{i}]") for i, tensor in enumerate(felts)]
    return digest_json({"domain": "zkinfer.input/1", "visibility": visibility, "felts": canonical})


@dataclass(frozen=True)
class Statement:
    """One node's claim about one request; `signing_bytes` is what it signs."""

    circuit: str  # the circuit digest (verifying key + every decoding setting), see `digest.circuit_digest`
    request_id: str
    input_digest: str
    weights_commitment: tuple[str, ...] | None  # the weights' Poseidon commitment when the circuit hashes them
    output_scales: tuple[int, ...]
    output: tuple[tuple[int, ...], ...]  # per output tensor, flat row-major quantized values

    def __post_init__(self) -> None:
        if not _DIGEST.fullmatch(self.circuit):
            raise StatementError("statement.circuit: not a sha256:<64 hex> digest")
        if not REQUEST_ID.fullmatch(self.request_id):
            raise StatementError("statement.request_id: 1-128 characters of A-Z a-z 0-9 . _ : -")
        if not _DIGEST.fullmatch(self.input_digest):
            raise StatementError("statement.input_digest: not a sha256:<64 hex> digest")
        if self.weights_commitment is not None:
            _felts(list(self.weights_commitment), "statement.weights_commitment")
        if len(self.output_scales) != len(self.output):
            raise StatementError(f"statement: {len(self.output_scales)} output scales for {len(self.output)} outputs")
        if sum(len(o) for o in self.output) > MAX_OUTPUT_VALUES:
            raise StatementError(f"statement.output: more than {MAX_OUTPUT_VALUES} values")
        half = FIELD_MODULUS // 2
        for i, values in enumerate(self.output):
            if any(type(v) is not int or not -half <= v <= half for v in values):
                raise StatementError(f"statement.output[{i}]: every value must be an integer field element (signed)")
        if any(type(s) is not int or not -64 <= s <= 64 for s in self.output_scales):
            raise StatementError("statement.output_scales: integers in [-64, 64]")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "circuit": self.circuit,
            "request_id": self.request_id,
            "input_digest": self.input_digest,
            "weights_commitment": None if self.weights_commitment is None else list(self.weights_commitment),
            "output_scales": list(self.output_scales),
            "output": [list(o) for o in self.output],
        }

    @classmethod
    def from_json(cls, document: Any, where: str = "statement") -> Statement:
        if not isinstance(document, dict):
            raise StatementError(f"{where}: not a JSON object")
        expected = {"schema", "circuit", "request_id", "input_digest", "weights_commitment", "output_scales", "output"}
        if set(document) != expected:
            extra, missing = sorted(set(document) - expected), sorted(expected - set(document))
            raise StatementError(f"{where}: unexpected fields {extra} / missing fields {missing}")
        if document["schema"] != SCHEMA:
            raise StatementError(f"{where}.schema: {str(document['schema'])[:40]!r} is not {SCHEMA!r}")
        for name in ("circuit", "request_id", "input_digest"):
            if not isinstance(document[name], str):
                raise StatementError(f"{where}.{name}: not a string")
        weights = document["weights_commitment"]
        if weights is not None and not (isinstance(weights, list) and all(isinstance(w, str) for w in weights)):
            raise StatementError(f"{where}.weights_commitment: not null or a list of field elements")
        scales, output = document["output_scales"], document["output"]
        if not (isinstance(scales, list) and isinstance(output, list) and all(isinstance(o, list) for o in output)):
            raise StatementError(f"{where}.output / output_scales: not lists")
        try:
            return cls(
                circuit=document["circuit"],
                request_id=document["request_id"],
                input_digest=document["input_digest"],
                weights_commitment=None if weights is None else tuple(weights),
                output_scales=tuple(scales),
                output=tuple(tuple(o) for o in output),
            )
        except StatementError as exc:
            raise StatementError(f"{where}: {exc}") from exc

    def signing_bytes(self) -> bytes:
        return DOMAIN + canonical_json(self.to_json())

    def digest(self) -> str:
        return digest_bytes(self.signing_bytes())

    def claim(self) -> tuple[str, str, tuple[str, ...] | None]:
        """What the output is a function of: the same claim with two outputs is a contradiction."""
        return (self.circuit, self.input_digest, self.weights_commitment)

    def dequantized(self) -> list[list[float]]:
        """The output as floats (value / 2^scale), as the receipt states it."""
        return [[v / 2.0**s for v in values] for values, s in zip(self.output, self.output_scales, strict=True)]


@dataclass(frozen=True)
class SignedStatement:
    """A statement with the BLS signature of the node that made it."""

    statement: Statement
    public_key: bytes  # 48 bytes, compressed G1
    signature: bytes  # 96 bytes, compressed G2

    def to_json(self) -> dict[str, Any]:
        return {
            "statement": self.statement.to_json(),
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, document: Any, where: str = "signed statement") -> SignedStatement:
        if not isinstance(document, dict) or set(document) != {"statement", "public_key", "signature"}:
            raise StatementError(f"{where}: expected an object with exactly statement, public_key and signature")
        statement = Statement.from_json(document["statement"], f"{where}.statement")
        return cls(
            statement,
            _hex(document["public_key"], bls.PUBLIC_KEY_BYTES, f"{where}.public_key"),
            _hex(document["signature"], bls.SIGNATURE_BYTES, f"{where}.signature"),
        )

    def verify(self) -> None:
        """Raise StatementError unless the signature is valid for this statement and key."""
        if not bls.key_validate(self.public_key):
            raise StatementError(f"public key {self.public_key.hex()[:16]}… is not a valid BLS12-381 public key")
        if not bls.verify(self.public_key, self.statement.signing_bytes(), self.signature):
            raise StatementError(
                f"the signature of {self.public_key.hex()[:16]}… does not verify over statement "
                f"{self.statement.digest()}"
            )

    def is_valid(self) -> bool:
        try:
            self.verify()
        except StatementError:
            return False
        return True


def _hex(value: Any, size: int, where: str) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value.lower()) or len(value) != 2 * size:
        raise StatementError(f"{where}: expected {2 * size} hex digits")
    return bytes.fromhex(value)


def sign(statement: Statement, secret: int, public_key: bytes) -> SignedStatement:
    return SignedStatement(statement, public_key, bls.sign(secret, statement.signing_bytes()))


def make(
    *,
    circuit: str,
    request_id: str,
    input_visibility: str,
    input_felts: list[list[str]],
    weights_commitment: list[str] | None,
    output_scales: list[int],
    output_felts: list[list[str]],
    row: int = 0,
    rows: int = 1,
) -> Statement:
    """A statement from a witness's field elements (the node, at answer time) or a receipt's; for a
    circuit proving `rows` requests at once (on axis 0), the one in batch row `row`."""
    if not 0 <= row < rows:
        raise StatementError(f"batch row {row}: the circuit proves {rows} row(s)")
    if rows > 1:
        if input_visibility == "hashed":
            raise StatementError(
                "a batch circuit with a hashed input commits to the whole batch: no statement binds one row"
            )
        input_felts = [_row(f, rows, row, f"input[{i}]") for i, f in enumerate(input_felts)]
        output_felts = [_row(f, rows, row, f"output[{i}]") for i, f in enumerate(output_felts)]
    return Statement(
        circuit=circuit,
        request_id=request_id,
        input_digest=input_digest(input_visibility, input_felts),
        weights_commitment=None
        if weights_commitment is None
        else tuple(_felts(weights_commitment, "weights commitment")),
        output_scales=tuple(int(s) for s in output_scales),
        output=tuple(tuple(felt_to_int(f) for f in _felts(o, f"output[{i}]")) for i, o in enumerate(output_felts)),
    )


def _row(felts: list[str], rows: int, row: int, where: str) -> list[str]:
    if len(felts) % rows:
        raise StatementError(f"{where}: {len(felts)} values do not split into {rows} batch rows")
    size = len(felts) // rows
    return felts[row * size : (row + 1) * size]


def from_receipt(receipt: Receipt, request_id: str, row: int = 0, rows: int = 1) -> Statement:
    """The statement a receipt's proof attests, for `request_id` (and, for a circuit proving
    `rows` requests at once on axis 0, the one in batch row `row`). Every part is read from the
    proof's public instances through the circuit's layout (`zkinfer.core.zkp.instance_layout`), never
    from what the receipt states; only meaningful once the receipt has verified."""
    layout, proven = proven_instances(receipt)
    return make(
        circuit=circuit_digest(digest_bytes(receipt.model.verifying_key), receipt.model.settings),
        request_id=request_id,
        input_visibility=layout.input_visibility,
        input_felts=proven.input_felts(),
        weights_commitment=None if proven.weights_commitment is None else list(proven.weights_commitment),
        output_scales=receipt.model.settings_view.output_scales,
        output_felts=proven.output_felts(),
        row=row,
        rows=rows,
    )


def proven_instances(receipt: Receipt) -> tuple[InstanceLayout, ProvenInstances]:
    """The receipt's circuit layout and its proof's instances decoded by it (StatementError when
    the settings describe no layout or the proof's instances do not fit it)."""
    try:
        layout = InstanceLayout.of(receipt.model.settings_view)
        return layout, layout.decode(receipt.proof.instances)
    except SettingsError as exc:
        raise StatementError(str(exc)) from exc


def proven_input_felts(receipt: Receipt) -> list[list[str]]:
    """The input as the receipt's proof attests it: the public values per tensor, or one Poseidon
    commitment per tensor when hashed (read through the circuit's layout, never the receipt's word)."""
    return proven_instances(receipt)[1].input_felts()


def verify_aggregate(
    statement: Statement, public_keys: list[bytes], proofs_of_possession: list[bytes], aggregate_signature: bytes
) -> bool:
    """True when every key proved possession of its secret (which stops a rogue-key attack: a key
    made up to cancel the others) and together they signed this one statement."""
    if not public_keys or len(public_keys) != len(proofs_of_possession) or len(set(public_keys)) != len(public_keys):
        return False
    if not all(bls.pop_verify(pk, pop) for pk, pop in zip(public_keys, proofs_of_possession, strict=True)):
        return False
    return bls.fast_aggregate_verify(public_keys, statement.signing_bytes(), aggregate_signature)


PROMISE_SCHEMA: Final = "zkinfer.promise/1"
PROMISE_DOMAIN: Final = b"zkinfer.promise/1\x00"
RECEIPT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@dataclass(frozen=True)
class Promise:
    """A node's signed commitment to prove a statement: the receipt id to fetch it by, and the time
    (Unix seconds) by which it will be proven. Signed apart from the statement, which must stay the
    same bytes for every honest node to aggregate. A promise past its time with no receipt that
    proves the statement is the "unproven" kind of evidence (`zkinfer.network.evidence`)."""

    statement_digest: str  # Statement.digest() of the statement it promises to prove
    receipt_id: str
    prove_by: int

    def __post_init__(self) -> None:
        if not _DIGEST.fullmatch(self.statement_digest):
            raise StatementError("promise.statement_digest: not a sha256:<64 hex> digest")
        if not RECEIPT_ID.fullmatch(self.receipt_id):
            raise StatementError("promise.receipt_id: 1-64 characters of A-Z a-z 0-9 _ -")
        if type(self.prove_by) is not int or not 0 < self.prove_by < 1 << 40:
            raise StatementError("promise.prove_by: a Unix time in seconds")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": PROMISE_SCHEMA,
            "statement_digest": self.statement_digest,
            "receipt_id": self.receipt_id,
            "prove_by": self.prove_by,
        }

    @classmethod
    def from_json(cls, document: Any, where: str = "promise") -> Promise:
        expected = {"schema", "statement_digest", "receipt_id", "prove_by"}
        if not isinstance(document, dict) or set(document) != expected:
            raise StatementError(f"{where}: expected an object with exactly {sorted(expected)}")
        if document["schema"] != PROMISE_SCHEMA:
            raise StatementError(f"{where}.schema: not {PROMISE_SCHEMA!r}")
        if not isinstance(document["statement_digest"], str) or not isinstance(document["receipt_id"], str):
            raise StatementError(f"{where}: statement_digest and receipt_id must be strings")
        try:
            return cls(document["statement_digest"], document["receipt_id"], document["prove_by"])
        except StatementError as exc:
            raise StatementError(f"{where}: {exc}") from exc

    def signing_bytes(self) -> bytes:
        return PROMISE_DOMAIN + canonical_json(self.to_json())


@dataclass(frozen=True)
class SignedPromise:
    promise: Promise
    public_key: bytes
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "promise": self.promise.to_json(),
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, document: Any, where: str = "signed promise") -> SignedPromise:
        if not isinstance(document, dict) or set(document) != {"promise", "public_key", "signature"}:
            raise StatementError(f"{where}: expected an object with exactly promise, public_key and signature")
        promise = Promise.from_json(document["promise"], f"{where}.promise")
        return cls(
            promise,
            _hex(document["public_key"], bls.PUBLIC_KEY_BYTES, f"{where}.public_key"),
            _hex(document["signature"], bls.SIGNATURE_BYTES, f"{where}.signature"),
        )

    def verify(self) -> None:
        if not bls.key_validate(self.public_key) or not bls.verify(
            self.public_key, self.promise.signing_bytes(), self.signature
        ):
            raise StatementError(f"the promise's signature by {self.public_key.hex()[:16]}… does not verify")


def promise(signed: SignedStatement, receipt_id: str, prove_by: int, secret: int) -> SignedPromise:
    """The node's promise to prove `signed` (its own statement) under `receipt_id` by `prove_by`."""
    made = Promise(signed.statement.digest(), receipt_id, prove_by)
    return SignedPromise(made, signed.public_key, bls.sign(secret, made.signing_bytes()))
