"""Statements: what a node signs when it answers equals what its proof attests, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkinfer.core.crypto import identity
from zkinfer.core.formats import statement
from zkinfer.core.formats.receipt import load
from zkinfer.core.formats.statement import Statement, StatementError
from zkinfer.core.support.errors import ZkinferError
from zkinfer.prover.prove import Prover


def _sample(prover: Prover, path: Path) -> list:
    return prover.load_input(path)


def test_the_answer_time_statement_is_the_one_the_proof_attests(
    tiny_circuit: Path, tiny_dir: Path, receipt_file: Path
) -> None:
    prover = Prover(tiny_circuit)
    said = prover.statement(_sample(prover, tiny_dir / "input.json"), "req-1")
    proven = statement.from_receipt(load(receipt_file), "req-1")
    assert said == proven
    assert said.signing_bytes() == proven.signing_bytes()
    receipt = load(receipt_file)
    assert said.dequantized() == [t.values for t in receipt.output.tensors]


def test_a_hashed_input_statement_binds_the_commitment(
    hashed_circuit: Path, tiny_dir: Path, hashed_receipt_file: Path
) -> None:
    prover = Prover(hashed_circuit)
    said = prover.statement(_sample(prover, tiny_dir / "input.json"), "r")
    receipt = load(hashed_receipt_file)
    assert said == statement.from_receipt(receipt, "r")
    assert receipt.input.commitment is not None
    assert said.input_digest == statement.input_digest("hashed", [[c] for c in receipt.input.commitment])


def test_another_input_gives_another_statement(receipt_file: Path, ceremony_receipt_file: Path) -> None:
    a, b = statement.from_receipt(load(receipt_file), "r"), statement.from_receipt(load(ceremony_receipt_file), "r")
    assert a.input_digest != b.input_digest and a.signing_bytes() != b.signing_bytes()
    assert a.circuit == b.circuit  # same circuit, other input


def test_several_nodes_aggregate_over_the_same_statement(receipt_file: Path, ceremony_receipt_file: Path) -> None:
    said = statement.from_receipt(load(receipt_file), "req-7")
    nodes = [identity.new_key() for _ in range(3)]
    signed = [statement.sign(said, k.secret, k.public_key) for k in nodes]
    assert all(s.is_valid() for s in signed)
    together = identity.aggregate([s.signature for s in signed])
    keys = [k.public_key for k in nodes]
    pops = [identity.proof_of_possession(k) for k in nodes]
    assert statement.verify_aggregate(said, keys, pops, together)
    # another request id, another claim: not what they signed
    assert not statement.verify_aggregate(statement.from_receipt(load(receipt_file), "req-8"), keys, pops, together)
    assert not statement.verify_aggregate(
        statement.from_receipt(load(ceremony_receipt_file), "req-7"), keys, pops, together
    )
    # every listed key must have signed, must prove it holds its secret, and be listed once
    assert not statement.verify_aggregate(said, [*keys, identity.new_key().public_key], [*pops, pops[0]], together)
    assert not statement.verify_aggregate(said, keys[:2], pops[:2], together)
    assert not statement.verify_aggregate(said, keys, [pops[1], pops[0], pops[2]], together)
    assert not statement.verify_aggregate(
        said, [keys[0], keys[0]], [pops[0], pops[0]], identity.aggregate([signed[0].signature] * 2)
    )
    assert not statement.verify_aggregate(said, [], [], together)


def test_a_receipt_signature_cannot_be_replayed_as_a_statement_signature(receipt_file: Path) -> None:
    receipt = load(receipt_file)
    assert receipt.signature is not None
    replay = statement.SignedStatement(
        statement.from_receipt(receipt, "r"),
        bytes.fromhex(receipt.signature.public_key),
        bytes.fromhex(receipt.signature.signature),
    )
    assert not replay.is_valid()


def test_signed_statements_round_trip_and_tampering_breaks_the_signature(receipt_file: Path) -> None:
    key = identity.new_key()
    signed = statement.sign(statement.from_receipt(load(receipt_file), "r"), key.secret, key.public_key)
    again = statement.SignedStatement.from_json(json.loads(json.dumps(signed.to_json())))
    assert again == signed and again.is_valid()
    document = signed.to_json()
    document["statement"]["output"][0][0] += 1
    forged = statement.SignedStatement.from_json(document)
    with pytest.raises(StatementError, match="does not verify"):
        forged.verify()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="zkinfer.statement/9"), "schema"),
        (lambda d: d.update(request_id="a b"), "request_id"),
        (lambda d: d.update(request_id="x" * 129), "request_id"),
        (lambda d: d.update(circuit="sha256:XYZ"), "circuit"),
        (lambda d: d.update(output=[[1.5]]), "output"),
        (lambda d: d.update(output=[[True]]), "output"),
        (lambda d: d.update(output=[[10**80]]), "output"),
        (lambda d: d.update(output_scales=[1, 2]), "output scales"),
        (lambda d: d.update(weights_commitment=["zz"]), "weights_commitment"),
        (lambda d: d.update(extra=1), "unexpected fields"),
        (lambda d: d.pop("output"), "missing fields"),
    ],
)
def test_malformed_statements_are_typed_errors_naming_the_field(change: object, message: str) -> None:
    good = Statement(
        circuit="sha256:" + "0" * 64,
        request_id="r",
        input_digest="sha256:" + "1" * 64,
        weights_commitment=None,
        output_scales=(7,),
        output=((1, -2),),
    )
    document = good.to_json()
    change(document)  # type: ignore[operator]
    with pytest.raises(StatementError, match=message):
        Statement.from_json(document)
    assert issubclass(StatementError, ZkinferError)


def test_field_elements_decode_as_signed_integers() -> None:
    assert statement.felt_to_int((5).to_bytes(32, "little").hex()) == 5
    assert statement.felt_to_int((statement.FIELD_MODULUS - 3).to_bytes(32, "little").hex()) == -3
    with pytest.raises(StatementError, match="modulus"):
        statement.felt_to_int(statement.FIELD_MODULUS.to_bytes(32, "little").hex())


def test_a_batch_circuits_statement_takes_its_own_row() -> None:
    felts = [(v % 7).to_bytes(32, "little").hex() for v in range(8)]
    common = {
        "circuit": "sha256:" + "0" * 64,
        "request_id": "r",
        "input_visibility": "public",
        "weights_commitment": None,
        "output_scales": [0],
    }
    rows = [statement.make(**common, input_felts=[felts], output_felts=[felts], row=r, rows=2) for r in range(2)]  # type: ignore[arg-type]
    assert rows[0].output == ((0, 1, 2, 3),) and rows[1].output == ((4, 5, 6, 0),)
    with pytest.raises(StatementError, match="batch row"):
        statement.make(**common, input_felts=[felts], output_felts=[felts], row=2, rows=2)  # type: ignore[arg-type]


def test_a_promise_is_signed_apart_and_names_its_statement() -> None:
    key = identity.new_key()
    said = Statement(
        circuit="sha256:" + "0" * 64,
        request_id="r",
        input_digest="sha256:" + "1" * 64,
        weights_commitment=None,
        output_scales=(7,),
        output=((1, -2),),
    )
    signed = statement.sign(said, key.secret, key.public_key)
    promised = statement.promise(signed, "job_1", 1_900_000_000, key.secret)
    promised.verify()
    assert promised.promise.statement_digest == said.digest()
    again = statement.SignedPromise.from_json(json.loads(json.dumps(promised.to_json())))
    assert again == promised
    # the statement's signature is no promise's, and a changed deadline breaks the signature
    with pytest.raises(StatementError, match="does not verify"):
        statement.SignedPromise(promised.promise, key.public_key, signed.signature).verify()
    later = statement.SignedPromise(
        statement.Promise(said.digest(), "job_1", 1_900_000_001), key.public_key, promised.signature
    )
    with pytest.raises(StatementError, match="does not verify"):
        later.verify()
