"""Quorum certificates: made from signed statements, checked offline against a pinned node set; every
attack on a certificate (unpinned or rogue signer, a signer listed twice, a missing signature, too
little weight, a changed statement, label groups that disagree) is refused with its reason."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.cli import zkinfer
from zkinfer.core.crypto import bls, identity
from zkinfer.core.formats import statement
from zkinfer.core.formats.receipt import Receipt, parse
from zkinfer.core.formats.receipt import load as load_receipt
from zkinfer.core.formats.statement import SignedStatement, Statement
from zkinfer.core.support.errors import ZkinferError
from zkinfer.network import certificate, nodeset
from zkinfer.network.certificate import Certificate, CertificateError
from zkinfer.network.nodeset import NodeSet, PinnedNode, QuorumRule
from zkinfer.verify import certificate_check
from zkinfer.verify.verdict import CertificateFacts, Verdict

NAMES = ("alpha", "beta", "gamma")


def _facts(verdict: Verdict) -> CertificateFacts:
    assert verdict.certificate is not None, verdict.summary
    return verdict.certificate


@pytest.fixture(scope="module")
def keys() -> list[identity.NodeKey]:
    return [identity.new_key() for _ in range(4)]  # three pinned, one outsider


@pytest.fixture(scope="module")
def pops(keys: list[identity.NodeKey]) -> list[bytes]:
    return [identity.proof_of_possession(k) for k in keys]


def _pinned(
    keys: list[identity.NodeKey],
    pops: list[bytes],
    *,
    threshold: int = 2,
    agree_on: str = "output",
    weights: tuple[int, ...] = (1, 1, 1),
) -> NodeSet:
    nodes = tuple(
        PinnedNode(n, f"http://127.0.0.1:{8001 + i}", keys[i].public_key, pops[i], weights[i])
        for i, n in enumerate(NAMES)
    )
    return NodeSet(nodes, QuorumRule(threshold=threshold, agree_on=agree_on), "nodes.toml")  # type: ignore[arg-type]


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


def _sign(said: Statement, *keys: identity.NodeKey) -> list[SignedStatement]:
    return [statement.sign(said, k.secret, k.public_key) for k in keys]


def _round_trip(cert: Certificate) -> Certificate:
    return Certificate.from_json(json.loads(json.dumps(cert.to_json())))


def _forge(cert: Certificate, **changes: object) -> Certificate:
    """The certificate with its (single) group's fields replaced, as an attacker would write it."""
    group = cert.groups[0]
    fields = {
        "statement": group.statement,
        "signers": group.signers,
        "aggregate_signature": group.aggregate_signature,
        **changes,
    }
    return Certificate((certificate.SignedGroup(**fields),), cert.nodes)  # type: ignore[arg-type]


def test_a_quorum_certificate_verifies_against_the_pinned_set(keys: list[identity.NodeKey], pops: list[bytes]) -> None:
    pinned = _pinned(keys, pops)
    info = {
        keys[0].public_hex: {"name": "alpha", "receipt_url": "http://127.0.0.1:8001/v1/receipts/j1", "receipt_id": "j1"}
    }
    cert = certificate.make(_sign(_statement(), keys[1], keys[0]), info)
    assert cert.groups[0].signers == tuple(sorted([keys[0].public_key, keys[1].public_key]))
    document = cert.to_json()
    assert (
        set(document) == {"schema", "statement", "signers", "aggregate_signature", "nodes"}
        and document["schema"] == "zkinfer.certificate/1"
    )
    again = _round_trip(cert)
    assert again == cert
    verdict = certificate_check.check(again, pinned)
    assert verdict.verified and verdict.reasons() == []
    assert (
        sorted(_facts(verdict).signers) == ["alpha", "beta"]
        and _facts(verdict).weight == 2
        and _facts(verdict).needed == 2
    )
    assert _facts(verdict).request_id == "req-1" and _facts(verdict).statement_digest == _statement().digest()


def test_too_little_weight_is_refused_and_the_threshold_can_be_raised(
    keys: list[identity.NodeKey], pops: list[bytes]
) -> None:
    one = certificate.make(_sign(_statement(), keys[2]))
    verdict = certificate_check.check(one, _pinned(keys, pops))
    assert not verdict.verified and verdict.reasons() == ["the valid signers' weight is 1, below the threshold 2"]
    assert certificate_check.check(one, _pinned(keys, pops), threshold=1).verified
    assert certificate_check.check(one, _pinned(keys, pops, weights=(1, 1, 2), threshold=2)).verified  # gamma weighs 2
    two = certificate.make(_sign(_statement(), keys[0], keys[1]))
    assert not certificate_check.check(two, _pinned(keys, pops), threshold=3).verified
    with pytest.raises(Exception, match="positive whole number"):
        certificate_check.check(two, _pinned(keys, pops), threshold=0)


def test_an_unpinned_signer_is_refused(keys: list[identity.NodeKey], pops: list[bytes]) -> None:
    cert = certificate.make(_sign(_statement(), keys[0], keys[3]))
    verdict = certificate_check.check(cert, _pinned(keys, pops), threshold=1)
    assert not verdict.verified
    assert f"signer {keys[3].public_hex[:16]}… is not a node in nodes.toml" in " ".join(verdict.reasons())
    assert _facts(verdict).weight == 0 and _facts(verdict).signers == []  # nothing from an invalid signer list counts


def test_a_rogue_key_that_cancels_the_pinned_keys_gains_nothing(
    keys: list[identity.NodeKey], pops: list[bytes]
) -> None:
    """The rogue-key attack: a key chosen as s·G − pk_alpha − pk_beta makes one signature by s pass
    FastAggregateVerify for alpha, beta and the rogue key together, though alpha and beta signed nothing."""
    bls.py_ecc()  # imports py_ecc.bls, putting back the recursion limit it raises
    from py_ecc import optimized_bls12_381 as curve
    from py_ecc.bls import g2_primitives

    said = _statement()
    s = identity.new_key().secret
    point = g2_primitives.pubkey_to_G1
    others = curve.add(point(keys[0].public_key), point(keys[1].public_key))  # type: ignore[arg-type]
    rogue = g2_primitives.G1_to_pubkey(curve.add(curve.multiply(curve.G1, s), curve.neg(others)))
    signature = bls.sign(s, said.signing_bytes())
    signers = tuple(sorted([keys[0].public_key, keys[1].public_key, rogue]))
    assert bls.fast_aggregate_verify(
        list(signers), said.signing_bytes(), signature
    )  # the attack works without proofs of possession
    cert = Certificate((certificate.SignedGroup(said, signers, signature),), {})
    verdict = certificate_check.check(_round_trip(cert), _pinned(keys, pops))
    assert not verdict.verified and _facts(verdict).weight == 0
    assert any("is not a node in" in r for r in verdict.reasons())
    # and the rogue key cannot be pinned: it has no proof of possession (it holds no secret for it)
    with pytest.raises(nodeset.NodeSetError, match="proof of possession"):
        PinnedNode("rogue", "http://127.0.0.1:9", rogue, bls.sign(s, rogue))
    # without the rogue key, the signature of s is not alpha's and beta's
    assert not certificate_check.check(
        _forge(cert, signers=tuple(sorted([keys[0].public_key, keys[1].public_key]))), _pinned(keys, pops)
    ).verified


def test_a_signer_listed_twice_counts_once_and_voids_the_group(keys: list[identity.NodeKey], pops: list[bytes]) -> None:
    signed = _sign(_statement(), keys[0])[0]
    doubled = identity.aggregate([signed.signature, signed.signature])
    cert = Certificate(
        (certificate.SignedGroup(signed.statement, (keys[0].public_key, keys[0].public_key), doubled),), {}
    )
    assert bls.fast_aggregate_verify(
        [keys[0].public_key] * 2, signed.statement.signing_bytes(), doubled
    )  # BLS alone would accept it
    verdict = certificate_check.check(_round_trip(cert), _pinned(keys, pops))
    assert not verdict.verified and _facts(verdict).weight == 0
    assert f"signer {keys[0].public_hex[:16]}… is listed 2 times" in " ".join(verdict.reasons())


def test_an_aggregate_missing_a_signer_or_a_changed_statement_does_not_verify(
    keys: list[identity.NodeKey], pops: list[bytes]
) -> None:
    pinned = _pinned(keys, pops)
    two = certificate.make(_sign(_statement(), keys[0], keys[1]))
    claimed = tuple(sorted([keys[0].public_key, keys[1].public_key, keys[2].public_key]))
    verdict = certificate_check.check(_forge(two, signers=claimed), pinned)  # gamma listed, never signed
    assert (
        not verdict.verified
        and "aggregate signature does not verify" in verdict.reasons()[0]
        and _facts(verdict).weight == 0
    )
    document = two.to_json()
    document["statement"]["output"][0][1] += 1  # the statement changed after signing
    verdict = certificate_check.check(Certificate.from_json(document), pinned)
    assert (
        not verdict.verified
        and "a listed node did not sign it, or the statement changed after signing" in verdict.reasons()[0]
    )
    document = two.to_json()
    document["statement"]["request_id"] = "req-2"  # replayed for another request
    assert not certificate_check.check(Certificate.from_json(document), pinned).verified


def test_make_refuses_forged_and_equivocating_signatures(keys: list[identity.NodeKey]) -> None:
    good = _sign(_statement(), keys[0])[0]
    forged = SignedStatement(_statement(output=(4, 9, -1)), keys[0].public_key, good.signature)
    with pytest.raises(CertificateError, match="does not verify"):
        certificate.make([forged])
    with pytest.raises(CertificateError, match="equivocation"):
        certificate.make([good, *_sign(_statement(output=(3, 8, -1)), keys[0])])
    with pytest.raises(CertificateError, match="nothing to certify"):
        certificate.make([])
    with pytest.raises(CertificateError, match="label"):  # different labels never share a certificate
        certificate.make([good, *_sign(_statement(output=(30, 9, -1)), keys[1])])


def test_a_label_certificate_holds_groups_with_one_label(keys: list[identity.NodeKey], pops: list[bytes]) -> None:
    signed = [*_sign(_statement(output=(3, 9, -1)), keys[0], keys[1]), *_sign(_statement(output=(2, 8, 0)), keys[2])]
    cert = certificate.make(signed)
    assert len(cert.groups) == 2 and len(cert.groups[0].signers) == 2  # the larger group first
    assert set(cert.to_json()) == {"schema", "statements", "nodes"}
    again = _round_trip(cert)
    assert again == cert
    label_set = _pinned(keys, pops, threshold=3, agree_on="label")
    verdict = certificate_check.check(again, label_set)
    assert verdict.verified and _facts(verdict).weight == 3 and sorted(_facts(verdict).signers) == list(NAMES)
    # the node set agrees on outputs: two outputs are no agreement
    verdict = certificate_check.check(again, _pinned(keys, pops, threshold=2))
    assert not verdict.verified and "agrees on the output" in verdict.reasons()[0]


@pytest.mark.parametrize(
    ("other", "reason"),
    [
        (_statement(output=(30, 9, -1)), "group 2 has labels [0], group 1 [1]"),
        (_statement(output=(2, 8, 0), input_digest="sha256:" + "2" * 64), "group 2 names input"),
        (_statement(output=(2, 8, 0), request_id="req-2"), "group 2 is for request 'req-2'"),
    ],
)
def test_label_groups_that_disagree_are_refused(
    keys: list[identity.NodeKey], pops: list[bytes], other: Statement, reason: str
) -> None:
    first = certificate.make(_sign(_statement(), keys[0], keys[1]))
    second = certificate.make(_sign(other, keys[2]))
    cert = Certificate((*first.groups, *second.groups), {})  # written by hand: make refuses it
    verdict = certificate_check.check(_round_trip(cert), _pinned(keys, pops, threshold=2, agree_on="label"))
    assert not verdict.verified and any(reason in r for r in verdict.reasons()), verdict.reasons()
    assert _facts(verdict).weight == 3  # the signatures are real; the groups just are not one answer


def test_a_signer_in_two_label_groups_is_refused(keys: list[identity.NodeKey], pops: list[bytes]) -> None:
    first = certificate.make(_sign(_statement(), keys[0], keys[1]))
    second = certificate.make(_sign(_statement(output=(2, 8, 0)), keys[1], keys[2]))
    verdict = certificate_check.check(
        Certificate((*first.groups, *second.groups), {}), _pinned(keys, pops, threshold=3, agree_on="label")
    )
    assert not verdict.verified and any("also signed another group's statement" in r for r in verdict.reasons())
    assert _facts(verdict).weight == 2  # beta's second group is not counted


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="zkinfer.receipt/1"), "schema"),
        (lambda d: d.update(extra=1), "unexpected fields"),
        (lambda d: d.pop("nodes"), "missing fields"),
        (lambda d: d.update(signers=["AB" * 48]), r"signers\[0\]"),
        (lambda d: d.update(signers="ab" * 48), "signers"),
        (lambda d: d.update(aggregate_signature="00"), "aggregate_signature"),
        (lambda d: d["statement"].update(output=[[1.5, 2, 3]]), "output"),
        (lambda d: d.update(nodes={"ab" * 48: {"name": 7}}), "nodes"),
        (lambda d: d.update(nodes={"x": {}}), "nodes"),
        (lambda d: d.update(statements=[]), "unexpected fields"),
    ],
)
def test_a_document_that_is_not_a_certificate_is_a_usage_error(
    keys: list[identity.NodeKey], change: object, message: str
) -> None:
    document = certificate.make(_sign(_statement(), keys[0])).to_json()
    change(document)  # type: ignore[operator]
    with pytest.raises(CertificateError, match=message) as caught:
        Certificate.from_json(document)
    assert caught.value.exit_code == 2


def test_receipts_attest_the_certified_statement(
    keys: list[identity.NodeKey], receipt_file: Path, ceremony_receipt_file: Path
) -> None:
    receipt = load_receipt(receipt_file)
    said = statement.from_receipt(receipt, "req-9")
    cert = certificate.make(_sign(said, keys[0], keys[1]))
    assert certificate_check.check_receipts(cert, [(receipt, 0, 1)]) == []
    other = certificate_check.check_receipts(cert, [(load_receipt(ceremony_receipt_file), 0, 1)])
    assert len(other) == 1 and "proves another statement" in other[0] and "input, output differ" in other[0], other
    # a receipt whose stated output was changed no longer verifies, so it attests nothing
    document = json.loads(receipt_file.read_text())
    document["output"]["tensors"][0]["values"][0] += 0.5
    tampered = certificate_check.check_receipts(cert, [(load_receipt_document(document), 0, 1)])
    assert len(tampered) == 1 and "does not verify" in tampered[0] and "binding" in tampered[0], tampered
    # the right receipt, read at a batch row that is not its own
    assert "no statement can be read" in certificate_check.check_receipts(cert, [(receipt, 1, 2)], verify=False)[0]


def load_receipt_document(document: dict[str, object]) -> Receipt:
    return parse(document)


def _write(tmp_path: Path, cert: Certificate, pinned: NodeSet) -> tuple[Path, Path]:
    (tmp_path / "cert.json").write_text(json.dumps(cert.to_json()))
    (tmp_path / "nodes.toml").write_text(nodeset.dump(pinned))
    return tmp_path / "cert.json", tmp_path / "nodes.toml"


def test_zkinfer_verify_checks_a_certificate(keys: list[identity.NodeKey], pops: list[bytes], tmp_path: Path) -> None:
    cert_path, nodes_path = _write(
        tmp_path, certificate.make(_sign(_statement(), keys[0], keys[1])), _pinned(keys, pops)
    )
    ran = zkinfer("verify", cert_path, "--nodes", nodes_path)
    assert ran.returncode == 0, ran.stderr
    assert "VALID quorum certificate" in ran.stdout and "alpha" in ran.stdout and "weight 2 of 2 needed" in ran.stdout
    ran = zkinfer("verify", cert_path, "--nodes", nodes_path, "--threshold", "3", "--json")
    assert ran.returncode == 1, ran.stderr
    verdict = json.loads(ran.stdout)
    assert (
        verdict["ok"] is False
        and verdict["needed"] == 3
        and verdict["reasons"] == ["the valid signers' weight is 2, below the threshold 3"]
    )
    ran = zkinfer("verify", cert_path)
    assert ran.returncode == 2 and "--nodes" in ran.stderr
    (tmp_path / "dup.json").write_text(cert_path.read_text()[:-1] + ', "nodes": {}}')
    ran = zkinfer("verify", tmp_path / "dup.json", "--nodes", nodes_path)
    assert ran.returncode == 2 and "appears twice" in ran.stderr
    (tmp_path / "bad.toml").write_text("[quorum]\nthreshold = 9\n")
    ran = zkinfer("verify", cert_path, "--nodes", tmp_path / "bad.toml")
    assert ran.returncode == 2 and "bad.toml" in ran.stderr
    # a certificate can pin its circuit; receipt pins do not apply to it and are refused, not ignored
    assert zkinfer("verify", cert_path, "--nodes", nodes_path, "--expect-circuit", _statement().circuit).returncode == 0
    ran = zkinfer("verify", cert_path, "--nodes", nodes_path, "--expect-circuit", "sha256:" + "f" * 64)
    assert ran.returncode == 1 and "not the expected sha256:fff" in ran.stdout
    ran = zkinfer("verify", cert_path, "--nodes", nodes_path, "--expect-signer", keys[0].public_hex, "--strict")
    assert (
        ran.returncode == 2
        and "--strict, --expect-signer" not in ran.stderr
        and "--expect-signer, --strict: receipt options" in ran.stderr
    )
    (tmp_path / "receipt.json").write_text(json.dumps({"schema_version": "zkinfer.receipt/1"}))
    ran = zkinfer("verify", tmp_path / "receipt.json", "--nodes", nodes_path)
    assert ran.returncode == 2 and "not a quorum certificate" in ran.stderr


def test_zkinfer_verify_checks_a_certificate_with_its_receipts(
    keys: list[identity.NodeKey], pops: list[bytes], receipt_file: Path, ceremony_receipt_file: Path, tmp_path: Path
) -> None:
    said = statement.from_receipt(load_receipt(receipt_file), "req-3")
    cert_path, nodes_path = _write(tmp_path, certificate.make(_sign(said, keys[0], keys[1])), _pinned(keys, pops))
    ran = zkinfer("verify", cert_path, "--nodes", nodes_path, "--receipt", receipt_file)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 receipt(s) attest" in ran.stdout
    ran = zkinfer(
        "verify", cert_path, "--nodes", nodes_path, "--receipt", receipt_file, "--receipt", ceremony_receipt_file
    )
    assert ran.returncode == 1 and "receipt 2 (batch row 0 of 1) proves another statement" in ran.stdout, ran.stdout


def test_receipt_arguments_name_a_batch_row() -> None:
    assert certificate_check.receipt_arg("r.json") == (Path("r.json"), 0, 1)
    assert certificate_check.receipt_arg("out/r@home.json@2/4") == (Path("out/r@home.json"), 2, 4)
    with pytest.raises(Exception, match="batch row 4 is not below the row count 4"):
        certificate_check.receipt_arg("r.json@4/4")


def test_mutated_certificates_never_crash_the_checker_nor_pass(keys: list[identity.NodeKey], pops: list[bytes]) -> None:
    """Random edits of a valid output certificate and a valid label certificate: each is refused as
    unreadable (exit 2) or fails the check, unless only the informational `nodes` changed."""
    from tests.integration.test_evidence import _mutated

    label_set = _pinned(keys, pops, threshold=2, agree_on="label")
    flat = certificate.make(_sign(_statement(), *keys[:3])).to_json()
    groups = certificate.make(
        [*_sign(_statement(), keys[0]), *_sign(_statement(output=(3, 10, -1)), keys[1])]
    ).to_json()
    rng = random.Random(7)
    failed = 0
    for n in range(400):
        base = (flat, groups)[n % 2]
        document = _mutated(base, rng)
        try:
            verdict = certificate_check.check(Certificate.from_json(document), label_set)
        except ZkinferError:
            failed += 1
            continue
        if verdict.verified:
            assert {k: v for k, v in document.items() if k != "nodes"} == {
                k: v for k, v in base.items() if k != "nodes"
            }, document
        else:
            failed += 1
    assert failed > 300


def test_a_node_forging_a_consistent_certificate_alone_is_refused(
    keys: list[identity.NodeKey], pops: list[bytes]
) -> None:
    """One pinned node (a liar) forges a whole certificate that is consistent in itself: a false
    output, its own valid signature, the others' keys listed as signers and named in the unsigned
    `nodes` info. Each variant is refused, and the honest certificate for the same request passes."""
    pinned = _pinned(keys, pops, threshold=2)
    honest = Statement(
        circuit="sha256:" + "c" * 64,
        request_id="req-9",
        input_digest="sha256:" + "d" * 64,
        weights_commitment=None,
        output_scales=(13,),
        output=((8192, 0, -8192),),
    )
    lie = Statement(**{**honest.__dict__, "output": ((0, 8192, -8192),)})  # the same claim, another label
    liar = keys[0]
    own = statement.sign(lie, liar.secret, liar.public_key)
    info = {
        k.public_hex: {"name": n, "receipt_url": "", "receipt_id": ""} for n, k in zip(NAMES, keys[:3], strict=True)
    }
    alone = certificate.make([own], info)  # its own signature, every node named in the unsigned info
    assert not certificate_check.check(alone, pinned).verified
    listed = Certificate(
        groups=(certificate.SignedGroup(lie, tuple(sorted(k.public_key for k in keys[:3])), own.signature),), nodes=info
    )
    assert not certificate_check.check(Certificate.from_json(json.loads(json.dumps(listed.to_json()))), pinned).verified
    doubled = Certificate(
        groups=(
            certificate.SignedGroup(
                lie, (liar.public_key, liar.public_key), bls.aggregate([own.signature, own.signature])
            ),
        ),
        nodes=info,
    )
    assert not certificate_check.check(doubled, pinned).verified
    # relabelled as a label certificate: its one group still carries one signer's weight
    assert not certificate_check.check(alone, _pinned(keys, pops, threshold=2, agree_on="label")).verified
    genuine = certificate.make([statement.sign(honest, k.secret, k.public_key) for k in keys[1:3]], info)
    assert certificate_check.check(genuine, pinned).verified
