"""Evidence against nodes, checked offline: a lie contradicted by the liar's own valid proof, two
signed outputs for one claim, a promise to prove that passed. Every forgery an accuser could write
is refused with its reason, and an honest node's statements and receipts never convict it."""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli import zkinfer
from zkinfer.core.crypto import identity
from zkinfer.core.formats import statement
from zkinfer.core.formats.receipt import load, parse
from zkinfer.core.formats.statement import SignedStatement, Statement
from zkinfer.core.support.errors import ZkinferError
from zkinfer.network import evidence
from zkinfer.network.evidence import EvidenceError
from zkinfer.verify import evidence_check
from zkinfer.verify.verdict import EvidenceFacts, Verdict

NOW = int(time.time())


def _facts(verdict: Verdict) -> EvidenceFacts:
    assert verdict.evidence is not None, verdict.summary
    return verdict.evidence


def _statement(
    output: tuple[int, ...] = (3, 9, -1), request_id: str = "req-1", input_digest: str = "sha256:" + "1" * 64
) -> Statement:
    return Statement(
        circuit="sha256:" + "0" * 64,
        request_id=request_id,
        input_digest=input_digest,
        weights_commitment=None,
        output_scales=(7,),
        output=(output,),
    )


def _changed(said: Statement, request_id: str | None = None, delta: int = 1) -> Statement:
    """The same claim with another output (the first value moved by `delta`)."""
    first = (said.output[0][0] + delta, *said.output[0][1:])
    return Statement(
        said.circuit,
        request_id or said.request_id,
        said.input_digest,
        said.weights_commitment,
        said.output_scales,
        (first, *said.output[1:]),
    )


def _sign(said: Statement, key: identity.NodeKey) -> SignedStatement:
    return statement.sign(said, key.secret, key.public_key)


@pytest.fixture(scope="module")
def liar() -> identity.NodeKey:
    return identity.new_key()


@pytest.fixture(scope="module")
def honest(node_key_file: Path) -> identity.NodeKey:
    """The key that signed the fixtures' receipts."""
    return identity.load_key(node_key_file)


def _document(path: Path) -> dict[str, object]:
    document = json.loads(path.read_text())
    assert isinstance(document, dict)
    return document


def _resigned(receipt_file: Path, key: identity.NodeKey) -> dict[str, object]:
    """The receipt as `key`'s own: a node proves with the public circuit and signs its receipt."""
    return identity.sign_receipt(load(receipt_file), key).model_dump(mode="json")


# --- contradiction ---------------------------------------------------------------------------------


def test_a_node_that_answers_a_and_proves_b_is_convicted_by_its_own_receipt(
    liar: identity.NodeKey, receipt_file: Path, tmp_path: Path
) -> None:
    receipt_json = _resigned(receipt_file, liar)
    proven = statement.from_receipt(parse(receipt_json), "req-5")
    lie = _sign(_changed(proven), liar)
    document = evidence.contradiction(lie, receipt_json, 0, 1, node="mallory")
    assert (
        document["schema"] == "zkinfer.evidence/1"
        and document["kind"] == "contradiction"
        and document["accused"] == liar.public_hex
    )
    verdict = evidence_check.check(json.loads(json.dumps(document)))
    assert (
        verdict.verified
        and _facts(verdict).kind == "contradiction"
        and _facts(verdict).accused == liar.public_hex
        and _facts(verdict).node == "mallory"
    )
    assert "its own receipt, whose proof verifies, proves output" in verdict.reasons()[1]
    (tmp_path / "e.json").write_text(json.dumps(document))
    ran = zkinfer("verify-evidence", tmp_path / "e.json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "HOLDS: contradiction evidence against node 'mallory'" in ran.stdout
    ran = zkinfer("verify-evidence", tmp_path / "e.json", "--json")
    assert ran.returncode == 0 and json.loads(ran.stdout)["holds"] is True


def _contradiction(
    signed: SignedStatement, receipt_json: dict[str, object], row: int = 0, rows: int = 1
) -> dict[str, object]:
    """A contradiction written by hand, as an accuser would (the builder refuses those that do not hold)."""
    return {
        "schema": "zkinfer.evidence/1",
        "kind": "contradiction",
        "accused": signed.public_key.hex(),
        "node": "x",
        "request_id": signed.statement.request_id,
        "observed_at": NOW,
        "statement": signed.to_json(),
        "receipt": receipt_json,
        "batch_row": row,
        "rows": rows,
    }


def test_forged_contradictions_do_not_hold(
    liar: identity.NodeKey, honest: identity.NodeKey, receipt_file: Path, ceremony_receipt_file: Path
) -> None:
    honest_receipt = _document(receipt_file)
    true = statement.from_receipt(load(receipt_file), "req-1")
    cases: list[tuple[dict[str, object], str]] = []
    # the honest node's true statement and its own receipt: nothing to contradict
    cases.append((_contradiction(_sign(true, honest), honest_receipt), "the statement is true"))
    # a lie the accused never signed: signed by the accuser, or the honest statement altered
    by_liar = _contradiction(_sign(_changed(true), liar), honest_receipt)
    by_liar["accused"] = honest.public_hex
    cases.append((by_liar, "not by the accused"))
    altered = _contradiction(_sign(true, honest), honest_receipt)
    altered["statement"]["statement"]["output"][0][0] += 1  # type: ignore[index]
    cases.append((altered, "forged or altered"))
    # the liar's lie against a receipt someone else signed (only the accused's own proof counts)
    cases.append((_contradiction(_sign(_changed(true), liar), honest_receipt), "not by the accused"))
    # the honest node's true statement against its receipt for another input
    cases.append((_contradiction(_sign(true, honest), _document(ceremony_receipt_file)), "other inputs"))
    # a receipt whose output was changed to differ: its proof no longer binds
    tampered = _document(receipt_file)
    tampered["output"]["tensors"][0]["values"][0] += 1.0  # type: ignore[index]
    cases.append((_contradiction(_sign(true, honest), tampered), "does not verify"))
    # the right pieces read at a batch row that does not exist
    cases.append((_contradiction(_sign(true, honest), honest_receipt, 1, 2), "no statement can be read"))
    # the evidence names another request than the statement
    renamed = _contradiction(_sign(true, honest), honest_receipt)
    renamed["request_id"] = "req-2"
    cases.append((renamed, "the evidence names 'req-2'"))
    for document, reason in cases:
        verdict = evidence_check.check(document)
        assert not verdict.verified and any(reason in r for r in verdict.reasons()), (reason, verdict.reasons())


def test_another_circuit_contradicts_nothing(
    honest: identity.NodeKey, receipt_file: Path, hashed_receipt_file: Path
) -> None:
    """The honest node's statement for the hashed-input circuit, against its receipt for the public-input one."""
    other = statement.from_receipt(load(hashed_receipt_file), "req-1")
    verdict = evidence_check.check(_contradiction(_sign(other, honest), _document(receipt_file)))
    assert not verdict.verified and any("other circuits" in r for r in verdict.reasons()), verdict.reasons()


def test_the_builders_refuse_evidence_that_would_not_hold(honest: identity.NodeKey, receipt_file: Path) -> None:
    true = _sign(statement.from_receipt(load(receipt_file), "req-1"), honest)
    with pytest.raises(EvidenceError, match="would not hold: the receipt proves exactly the signed output"):
        evidence.contradiction(true, _document(receipt_file), 0, 1)
    with pytest.raises(EvidenceError, match="same output"):
        evidence.equivocation(true, true)
    promised = statement.promise(true, "job_1", NOW + 3600, honest.secret)
    with pytest.raises(EvidenceError, match="not yet due"):
        evidence.unproven(true, promised, NOW)


def test_an_honest_node_is_never_convicted(
    honest: identity.NodeKey, receipt_file: Path, ceremony_receipt_file: Path
) -> None:
    """Every pairing of the honest node's own statements (two inputs, two request ids each) with its
    own receipts, at every batch split, and every pair of its statements: nothing holds."""
    receipts = {"a": _document(receipt_file), "b": _document(ceremony_receipt_file)}
    said = [
        _sign(statement.from_receipt(parse(r), rid), honest)
        for r in receipts.values()
        for rid in ("req-1", "gw2:req-1")
    ]
    for signed in said:
        for receipt_json in receipts.values():
            for row, rows in ((0, 1), (0, 2), (1, 2), (3, 8)):
                verdict = evidence_check.check(_contradiction(signed, receipt_json, row, rows))
                assert not verdict.verified, verdict.reasons()
    for a in said:
        for b in said:
            document = {
                "schema": "zkinfer.evidence/1",
                "kind": "equivocation",
                "accused": honest.public_hex,
                "node": "",
                "request_id": a.statement.request_id,
                "observed_at": NOW,
                "statements": [a.to_json(), b.to_json()],
            }
            assert not evidence_check.check(document).verified


# --- equivocation ----------------------------------------------------------------------------------


def test_two_outputs_for_one_claim_is_equivocation_even_across_gateways(liar: identity.NodeKey, tmp_path: Path) -> None:
    to_gateway_1 = _sign(_statement(request_id="gw1:req-7"), liar)
    to_gateway_2 = _sign(_statement(output=(3, 10, -1), request_id="gw2:req-7"), liar)
    document = evidence.equivocation(to_gateway_1, to_gateway_2, node="mallory")
    verdict = evidence_check.check(json.loads(json.dumps(document)))
    assert verdict.verified and _facts(verdict).request_id == "gw1:req-7" and "one is false" in verdict.reasons()[0]
    (tmp_path / "e.json").write_text(json.dumps(document))
    assert zkinfer("verify-evidence", tmp_path / "e.json").returncode == 0


def _equivocation(accused: bytes, a: SignedStatement, b: SignedStatement) -> dict[str, object]:
    return {
        "schema": "zkinfer.evidence/1",
        "kind": "equivocation",
        "accused": accused.hex(),
        "node": "",
        "request_id": a.statement.request_id,
        "observed_at": NOW,
        "statements": [a.to_json(), b.to_json()],
    }


def test_forged_equivocations_do_not_hold(liar: identity.NodeKey, honest: identity.NodeKey) -> None:
    a = _sign(_statement(), honest)
    cases = [
        (
            _equivocation(honest.public_key, a, _sign(_statement(request_id="req-2"), honest)),
            "same output",
        ),  # the same answer twice
        (
            _equivocation(
                honest.public_key, a, _sign(_statement(output=(0, 0, 0), input_digest="sha256:" + "2" * 64), honest)
            ),
            "other inputs",
        ),
        (
            _equivocation(honest.public_key, a, _sign(_statement(output=(0, 0, 0)), liar)),
            "statement 2 is signed by",
        ),  # the accuser's own
        (
            _equivocation(liar.public_key, _sign(_statement(), liar), _sign(_statement(output=(0, 0, 0)), honest)),
            "statement 2 is signed by",
        ),
    ]
    altered = _equivocation(honest.public_key, a, a)
    altered["statements"][1]["statement"]["output"][0][0] = 99  # type: ignore[index]
    cases.append((altered, "forged or altered"))
    renamed = _equivocation(liar.public_key, _sign(_statement(), liar), _sign(_statement(output=(0, 0, 0)), liar))
    renamed["request_id"] = "req-9"
    cases.append((renamed, "neither statement is for"))
    for document, reason in cases:
        verdict = evidence_check.check(document)
        assert not verdict.verified and any(reason in r for r in verdict.reasons()), (reason, verdict.reasons())


# --- unproven --------------------------------------------------------------------------------------


def test_an_unproven_promise_holds_until_the_node_shows_its_receipt(
    honest: identity.NodeKey, receipt_file: Path, ceremony_receipt_file: Path, tmp_path: Path
) -> None:
    said = _sign(statement.from_receipt(load(receipt_file), "req-4"), honest)
    promised = statement.promise(said, "job_4", NOW - 10, honest.secret)
    document = evidence.unproven(said, promised, NOW, node="alpha")
    verdict = evidence_check.check(document)
    assert (
        verdict.verified
        and "the accuser's observation, not a proof" in verdict.reasons()[1]
        and "--rebuttal" in verdict.reasons()[1]
    )
    # the node's own receipt proves the statement: the accusation is answered
    own = identity.sign_receipt(load(receipt_file), honest)
    rebutted = evidence_check.check(document, own)
    assert not rebutted.verified and "rebutted" in rebutted.reasons()[0]
    # another node's valid receipt of the same input does not: copying a peer's proof keeps no promise
    copied = evidence_check.check(document, identity.sign_receipt(load(receipt_file), identity.new_key()))
    assert copied.verified and "not signed by the accused" in " ".join(copied.reasons())
    # a receipt for another input does not answer it, nor one that does not verify
    assert evidence_check.check(document, identity.sign_receipt(load(ceremony_receipt_file), honest)).verified
    tampered = _document(receipt_file)
    tampered["output"]["tensors"][0]["values"][0] += 1.0  # type: ignore[index]
    assert evidence_check.check(document, parse(tampered)).verified
    (tmp_path / "e.json").write_text(json.dumps(document))
    ran = zkinfer("verify-evidence", tmp_path / "e.json")
    assert ran.returncode == 0 and "HOLDS: unproven evidence against node 'alpha'" in ran.stdout, (
        ran.stdout + ran.stderr
    )
    (tmp_path / "own.json").write_text(own.model_dump_json())
    ran = zkinfer("verify-evidence", tmp_path / "e.json", "--rebuttal", tmp_path / "own.json")
    assert ran.returncode == 1 and "rebutted" in ran.stdout and "DOES NOT HOLD" in ran.stdout, ran.stdout + ran.stderr


def _unproven(signed: SignedStatement, promised: statement.SignedPromise, observed_at: int) -> dict[str, object]:
    return {
        "schema": "zkinfer.evidence/1",
        "kind": "unproven",
        "accused": signed.public_key.hex(),
        "node": "",
        "request_id": signed.statement.request_id,
        "observed_at": observed_at,
        "statement": signed.to_json(),
        "promise": promised.to_json(),
    }


def test_forged_unproven_accusations_do_not_hold(liar: identity.NodeKey, honest: identity.NodeKey) -> None:
    said = _sign(_statement(), honest)
    due = statement.promise(said, "job_1", NOW - 100, honest.secret)
    assert evidence_check.check(_unproven(said, due, NOW)).verified
    other = statement.promise(_sign(_statement(output=(0, 0, 0)), honest), "job_1", NOW - 100, honest.secret)
    by_liar = statement.promise(said, "job_1", NOW - 100, liar.secret)
    by_liar = statement.SignedPromise(by_liar.promise, liar.public_key, by_liar.signature)
    moved = statement.SignedPromise(
        statement.Promise(due.promise.statement_digest, "job_1", NOW - 200), honest.public_key, due.signature
    )
    cases = [
        (_unproven(said, other, NOW), "the promise is for statement"),
        (_unproven(said, statement.promise(said, "job_1", NOW + 100, honest.secret), NOW), "not yet due"),
        (_unproven(said, due, NOW - 100), "not yet due"),
        (_unproven(said, due, NOW + 86400), "in the future"),
        (_unproven(said, by_liar, NOW), "not by the accused"),
        (_unproven(said, moved, NOW), "forged or altered"),  # the deadline moved earlier after signing
    ]
    for document, reason in cases:
        verdict = evidence_check.check(document)
        assert not verdict.verified and any(reason in r for r in verdict.reasons()), (reason, verdict.reasons())


# --- documents that are not evidence ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="zkinfer.evidence/2"), "evidence.schema"),
        (lambda d: d.update(kind="slander"), "evidence.kind"),
        (lambda d: d.update(extra=1), "unexpected fields"),
        (lambda d: d.pop("observed_at"), "missing fields"),
        (lambda d: d.update(accused="AB" * 48), "evidence.accused"),
        (lambda d: d.update(observed_at=1.5), "observed_at"),
        (lambda d: d.update(node="<script>"), "evidence.node"),
        (lambda d: d.update(statements=[1]), "exactly two"),
        (lambda d: d["statements"][0]["statement"].update(output="x"), "output"),
    ],
)
def test_a_document_that_is_not_evidence_is_a_usage_error(liar: identity.NodeKey, change: object, message: str) -> None:
    document = _equivocation(liar.public_key, _sign(_statement(), liar), _sign(_statement(output=(0, 0, 0)), liar))
    change(document)  # type: ignore[operator]
    with pytest.raises(EvidenceError, match=message) as caught:
        evidence_check.check(document)
    assert caught.value.exit_code == 2


def test_verify_evidence_exit_codes_for_unreadable_files(liar: identity.NodeKey, tmp_path: Path) -> None:
    (tmp_path / "garbage.json").write_text("{not json")
    ran = zkinfer("verify-evidence", tmp_path / "garbage.json")
    assert ran.returncode == 2 and "garbage.json" in ran.stderr
    document = _equivocation(liar.public_key, _sign(_statement(), liar), _sign(_statement(output=(0, 0, 0)), liar))
    text = json.dumps(document)
    (tmp_path / "dup.json").write_text(text[:-1] + ', "kind": "unproven"}')
    ran = zkinfer("verify-evidence", tmp_path / "dup.json", "--json")
    assert ran.returncode == 2 and "appears twice" in json.loads(ran.stdout)["error"]
    ran = zkinfer("verify-evidence", tmp_path / "absent.json")
    assert ran.returncode == 2 and "no such file" in ran.stderr
    document["statements"] = [document["statements"][0], document["statements"][0]]  # type: ignore[index]
    (tmp_path / "same.json").write_text(json.dumps(document))
    ran = zkinfer("verify-evidence", tmp_path / "same.json")
    assert ran.returncode == 1 and "DOES NOT HOLD" in ran.stdout


# --- mutated documents -----------------------------------------------------------------------------

_ODD_VALUES: list[object] = [
    None,
    True,
    0,
    -1,
    1.5,
    2**40,
    "",
    "x",
    "ab" * 48,
    "00" * 96,
    [],
    {},
    [1],
    {"a": 1},
    "sha256:" + "0" * 64,
]


def _leaves(document: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        found += [p for k, v in document.items() for p in _leaves(v, (*prefix, k))]
    elif isinstance(document, list):
        found += [p for i, v in enumerate(document[:16]) for p in _leaves(v, (*prefix, i))]
    return found


def _mutated(document: dict[str, object], rng: random.Random) -> dict[str, object]:
    """1-3 random edits: a key dropped, a number moved, a character changed, a value of another type."""
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(_leaves(document))
        parent: Any = document
        for key in path[:-1]:
            parent = parent[key]
        last, roll = path[-1], rng.random()
        if roll < 0.15 and isinstance(parent, dict):
            del parent[last]
        elif roll < 0.3 and type(parent[last]) is int:
            parent[last] += rng.choice([1, -1, 10**6])
        elif roll < 0.45 and isinstance(parent[last], str) and parent[last]:
            i = rng.randrange(len(parent[last]))
            parent[last] = parent[last][:i] + rng.choice("0af9Z :") + parent[last][i + 1 :]
        else:
            parent[last] = copy.deepcopy(rng.choice(_ODD_VALUES))
    return document


def _essence(document: dict[str, Any]) -> object:
    """What an evidence document asserts (the informational node name and observation time aside;
    the receipt as parsed, so an optional field absent or null is the same receipt)."""
    core = {k: v for k, v in document.items() if k not in ("node", "observed_at")}
    if "receipt" in core:
        core["receipt"] = parse(core["receipt"]).model_dump(mode="json")
    return core


def test_mutated_evidence_never_crashes_the_checker_nor_convicts() -> None:
    """Every edit of three valid documents (one per kind) is refused as unreadable (exit 2) or does
    not hold, unless it left what the document asserts unchanged. The receipt is the repository's
    signed receipt from fb59ffd, re-signed by the accused."""
    key = identity.new_key()
    receipt = identity.sign_receipt(load(Path(__file__).resolve().parents[1] / "data" / "receipt_fb59ffd.json"), key)
    proven = statement.from_receipt(receipt, "req")
    true, lie = _sign(proven, key), _sign(_changed(proven), key)
    documents = [
        evidence.contradiction(lie, receipt.model_dump(mode="json"), 0, 1),
        evidence.equivocation(lie, true),
        evidence.unproven(true, statement.promise(true, "job_1", NOW - 5, key.secret), NOW),
    ]
    rng = random.Random(10)
    held = refused = 0
    for n in range(600):
        base = documents[n % 3]
        document = _mutated(base, rng)
        try:
            verdict = evidence_check.check(document)
        except ZkinferError:
            refused += 1
            continue
        if verdict.verified:
            held += 1
            assert _essence(document) == _essence(base), document
    assert refused > 100 and held < 100, (refused, held)
