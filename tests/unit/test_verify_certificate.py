"""verify/certificate_check: a certificate's verdict is the one Verdict, every reason under the check it
belongs to, the pinned node set passed in as the policy (or its nodes.toml, read last)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkinfer.core.crypto import identity
from zkinfer.core.formats import statement
from zkinfer.core.formats.certificate import Certificate, CertificateError
from zkinfer.core.formats.statement import Statement
from zkinfer.core.support.errors import UsageError
from zkinfer.network import certificate
from zkinfer.verify import certificate_check
from zkinfer.verify.nodeset import NodeSet, PinnedNode, QuorumRule, dump
from zkinfer.verify.verdict import CheckName, Document, Status, Verdict

CIRCUIT = "sha256:" + "0" * 64
SAID = Statement(
    circuit=CIRCUIT,
    request_id="req-1",
    input_digest="sha256:" + "1" * 64,
    weights_commitment=None,
    output_scales=(7,),
    output=((3, 9, -1),),
)


@pytest.fixture(scope="module")
def keys() -> list[identity.NodeKey]:
    return [identity.new_key() for _ in range(3)]


@pytest.fixture(scope="module")
def pinned(keys: list[identity.NodeKey]) -> NodeSet:
    nodes = tuple(
        PinnedNode(name, f"http://127.0.0.1:{9001 + i}", k.public_key, identity.proof_of_possession(k))
        for i, (name, k) in enumerate(zip(("alpha", "beta", "gamma"), keys, strict=True))
    )
    return NodeSet(nodes, QuorumRule(threshold=2), "nodes.toml")


def _cert(*signers: identity.NodeKey, said: Statement = SAID) -> Certificate:
    return certificate.make([statement.sign(said, k.secret, k.public_key) for k in signers])


def _status(verdict: Verdict) -> dict[str, str]:
    return {c.name: c.status for c in verdict.checks}


def test_a_valid_certificate_passes_every_check_by_name(keys: list[identity.NodeKey], pinned: NodeSet) -> None:
    verdict = certificate_check.check(_cert(*keys[:2]), pinned, expect_circuit=CIRCUIT)
    assert verdict.verified and verdict.identity_pinned and verdict.document == Document.CERTIFICATE
    assert [c.name for c in verdict.checks] == list(certificate_check.CHECKS)
    assert _status(verdict) == {
        "agreement": "pass",
        "identity": "pass",
        "signers": "pass",
        "signature": "pass",
        "quorum": "pass",
        "receipts": "skip",
        "input": "skip",
    }
    assert verdict.summary.startswith("VALID quorum certificate for request 'req-1'")
    assert verdict.certificate is not None and verdict.certificate.signers == ["alpha", "beta"]


def test_without_a_circuit_pin_identity_is_unpinned_not_pass(keys: list[identity.NodeKey], pinned: NodeSet) -> None:
    verdict = certificate_check.check(_cert(*keys[:2]), pinned)
    assert verdict.verified and not verdict.identity_pinned
    assert verdict.check(CheckName.IDENTITY).status == Status.UNPINNED
    assert verdict.unpinned == ["circuit (--expect-circuit)"]


def test_each_reason_lands_under_its_check(keys: list[identity.NodeKey], pinned: NodeSet) -> None:
    outsider = identity.new_key()
    verdict = certificate_check.check(_cert(keys[0], outsider), pinned, expect_circuit="sha256:" + "f" * 64)
    status = _status(verdict)
    assert not verdict.verified and verdict.failed() == [
        CheckName.IDENTITY,
        CheckName.SIGNERS,
        CheckName.SIGNATURE,
        CheckName.QUORUM,
    ]
    assert status["agreement"] == "pass"
    assert "is not a node in nodes.toml" in verdict.check(CheckName.SIGNERS).detail
    assert "below the threshold 2" in verdict.check(CheckName.QUORUM).detail
    assert verdict.certificate is not None and len(verdict.certificate.reasons) == len(verdict.reasons()) == 4
    assert verdict.summary == "NOT VALID: 4 reason(s) above; this certificate does not show a quorum"


def test_json_keeps_the_certificate_keys_beside_the_verdict(keys: list[identity.NodeKey], pinned: NodeSet) -> None:
    shown = certificate_check.check(_cert(*keys), pinned).to_json()
    assert shown["ok"] is shown["verified"] is True and shown["reasons"] == []
    assert shown["weight"] == 3 and shown["needed"] == 2 and shown["signers"] == ["alpha", "beta", "gamma"]
    assert shown["document"] == "certificate" and shown["statement_digest"] == SAID.digest()
    assert {c["name"] for c in shown["checks"]} >= {"signers", "quorum"}
    assert "certificate" not in shown and "evidence" not in shown  # the facts are flattened, once


def test_the_node_set_file_is_read_after_the_certificate(keys: list[identity.NodeKey], tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="not a quorum certificate"):
        certificate_check.check_document({"schema": "zkinfer.receipt/1"}, "c.json", tmp_path / "absent.toml")
    document = json.loads(json.dumps(_cert(*keys[:2]).to_json()))
    nodes = NodeSet(
        tuple(
            PinnedNode(n, f"http://127.0.0.1:{9101 + i}", k.public_key, identity.proof_of_possession(k))
            for i, (n, k) in enumerate(zip(("a", "b"), keys, strict=False))
        ),
        QuorumRule(threshold=2),
    )
    (tmp_path / "nodes.toml").write_text(dump(nodes))
    verdict = certificate_check.check_document(document, "c.json", tmp_path / "nodes.toml")
    assert verdict.verified and verdict.source == str(tmp_path / "nodes.toml")


def test_an_input_needs_a_receipt_and_a_pin_must_be_a_digest(keys: list[identity.NodeKey], pinned: NodeSet) -> None:
    document = _cert(*keys[:2]).to_json()
    with pytest.raises(UsageError, match="add --receipt"):
        certificate_check.check_document(document, "c.json", pinned, input_path=Path("in.json"))
    with pytest.raises(UsageError, match="is not a digest"):
        certificate_check.check_document(document, "c.json", pinned, expect_circuit="abc")
    assert certificate_check.check_document(document, "c.json", pinned, expect_circuit=CIRCUIT.upper()).verified
