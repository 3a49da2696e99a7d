"""The third outside review's attacks on quorum certificates (issue 18, items 4 and 5).

Item 4: a certificate could not be tied to an input (`--input` was refused) and never said what it
certified. Item 5: a label certificate named whichever group the presenter put first, and compared
only the top class of output 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import zkinfer
from zkinfer.core.crypto import identity
from zkinfer.core.formats import statement
from zkinfer.core.formats.receipt import load as load_receipt
from zkinfer.core.formats.statement import SignedStatement, Statement
from zkinfer.network import certificate, nodeset
from zkinfer.network.certificate import Certificate
from zkinfer.network.nodeset import NodeSet, PinnedNode, QuorumRule
from zkinfer.verify import certificate_check
from zkinfer.verify.verdict import CertificateFacts, Verdict

NAMES = ("alpha", "beta", "gamma")


def _facts(verdict: Verdict) -> CertificateFacts:
    assert verdict.certificate is not None, verdict.summary
    return verdict.certificate


@pytest.fixture(scope="module")
def keys() -> list[identity.NodeKey]:
    return [identity.new_key() for _ in range(3)]


@pytest.fixture(scope="module")
def pinned_label(keys: list[identity.NodeKey]) -> NodeSet:
    return _pinned(keys, threshold=1, agree_on="label")


def _pinned(keys: list[identity.NodeKey], *, threshold: int, agree_on: str) -> NodeSet:
    nodes = tuple(
        PinnedNode(n, f"http://127.0.0.1:{8001 + i}", k.public_key, identity.proof_of_possession(k), 1)
        for i, (n, k) in enumerate(zip(NAMES, keys, strict=True))
    )
    return NodeSet(nodes, QuorumRule(threshold=threshold, agree_on=agree_on), "nodes.toml")  # type: ignore[arg-type]


def _statement(*outputs: tuple[int, ...]) -> Statement:
    return Statement(
        circuit="sha256:" + "0" * 64,
        request_id="req-1",
        input_digest="sha256:" + "1" * 64,
        weights_commitment=None,
        output_scales=tuple(7 for _ in outputs),
        output=outputs,
    )


def _sign(said: Statement, *keys: identity.NodeKey) -> list[SignedStatement]:
    return [statement.sign(said, k.secret, k.public_key) for k in keys]


def test_a_label_certificate_names_the_heaviest_group_whatever_the_order(
    keys: list[identity.NodeKey], pinned_label: NodeSet
) -> None:
    majority, minority = _statement((3, 9, -1)), _statement((2, 8, 0))
    cert = certificate.make([*_sign(majority, keys[0], keys[1]), *_sign(minority, keys[2])])
    reordered = Certificate(tuple(reversed(cert.groups)), cert.nodes)  # the 1-of-3 group presented first
    assert reordered.groups[0].statement == minority
    for presented in (cert, reordered):
        verdict = certificate_check.check(
            Certificate.from_json(json.loads(json.dumps(presented.to_json()))), pinned_label
        )
        assert verdict.verified, verdict.reasons()
        assert _facts(verdict).statement_digest == majority.digest() and _facts(verdict).labels == [1]


def test_label_groups_must_agree_on_every_output(keys: list[identity.NodeKey], pinned_label: NodeSet) -> None:
    """Two outputs: the same top class of output 0 is not agreement when output 1's differs."""
    first = certificate.make(_sign(_statement((3, 9, -1), (5, 1)), keys[0], keys[1]))
    second = certificate.make(_sign(_statement((2, 8, 0), (1, 5)), keys[2]))
    verdict = certificate_check.check(Certificate((*first.groups, *second.groups), {}), pinned_label)
    assert not verdict.verified and any("group 2 has labels [1, 1], group 1 [1, 0]" in r for r in verdict.reasons()), (
        verdict.reasons()
    )
    with pytest.raises(certificate.CertificateError, match="labels"):
        certificate.make(
            [*_sign(_statement((3, 9, -1), (5, 1)), keys[0]), *_sign(_statement((2, 8, 0), (1, 5)), keys[2])]
        )


def test_a_certificate_is_checked_against_the_auditors_input(
    keys: list[identity.NodeKey], receipt_file: Path, ceremony_receipt_file: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    said = statement.from_receipt(load_receipt(receipt_file), "req-3")
    (tmp_path / "cert.json").write_text(json.dumps(certificate.make(_sign(said, keys[0], keys[1])).to_json()))
    (tmp_path / "nodes.toml").write_text(nodeset.dump(_pinned(keys, threshold=2, agree_on="output")))
    cert, nodes = tmp_path / "cert.json", tmp_path / "nodes.toml"
    ran = zkinfer("verify", cert, "--nodes", nodes, "--input", tiny_dir / "input.json", "--receipt", receipt_file)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "(your --input)" in ran.stdout and said.input_digest in ran.stdout and said.circuit in ran.stdout
    ran = zkinfer(
        "verify", cert, "--nodes", nodes, "--input", tiny_dir / "input.json", "--receipt", receipt_file, "--json"
    )
    verdict = json.loads(ran.stdout)
    assert verdict["input_checked"] is True and verdict["input_digest"] == said.input_digest
    assert verdict["output"] == said.dequantized()  # exact: dyadic fractions survive JSON
    # another input (the ceremony receipt's) does not give the certified digest
    other = json.loads(ceremony_receipt_file.read_text())["input"]["tensors"][0]["values"]
    (tmp_path / "other.json").write_text(json.dumps({"input_data": [other]}))
    ran = zkinfer("verify", cert, "--nodes", nodes, "--input", tmp_path / "other.json", "--receipt", receipt_file)
    assert ran.returncode == 1 and "it certifies another input" in ran.stdout, ran.stdout + ran.stderr
    # without a receipt, the input's scales are unknown: a usage error naming the fix
    ran = zkinfer("verify", cert, "--nodes", nodes, "--input", tiny_dir / "input.json")
    assert ran.returncode == 2 and "--receipt" in ran.stderr
