"""The third outside review's item 11: split receipts attacked as a whole chain, with real proofs.

Three-segment chains of one tiny MLP (8 -> 6 -> 5 -> 3, cut at both hidden layers), one with hashed
links and one with polycommit links, each proven on two inputs. Every forgery below is signed by
the attacker (so the signature check passes) and must fail, naming the segment or link that broke:
segments dropped, duplicated or reordered; a segment spliced from another input's receipt; the link
kind restated; polycommit and hashed links mixed in one chain; fields the chain does not have.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pytest

from tests import tiny
from tests.conftest import SMALL_DECOMPOSITION
from zkinfer.core.crypto import identity
from zkinfer.core.crypto.digest import split_vk_digest
from zkinfer.core.formats.split_receipt import parse
from zkinfer.prover import split
from zkinfer.verify import Verdict, verify_document

pytestmark = pytest.mark.e2e
Doc = dict[str, Any]
INPUT = [0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]
OTHER_INPUT = [0.8, 0.2, 0.0, 0.6, 0.9, 0.1, 0.5, 0.3]


@dataclass(frozen=True)
class Chains:
    hashed: Doc  # hashed links, on INPUT
    hashed_other: Doc  # hashed links, on OTHER_INPUT
    poly: Doc  # polycommit links, on INPUT


@pytest.fixture(scope="module")
def chains(tmp_path_factory: pytest.TempPathFactory) -> Chains:
    from zkinfer.prover.prove import ChainProver as SplitProver

    folder = tmp_path_factory.mktemp("split-attacks")
    tiny.mlp(folder / "m.onnx", sizes=(8, 6, 5, 3), seed=3)
    calibration = tiny.samples(folder / "calibration.json", n=16, size=8)
    key = identity.new_key()

    def prove(link: Literal["hashed", "polycommit"], *inputs: list[float]) -> list[Doc]:
        made = split.compile_split(
            folder / "m.onnx",
            calibration,
            folder / link,
            cuts=["h0", "h1"],
            search=False,
            decomposition=SMALL_DECOMPOSITION,
            link=link,
        )
        prover = SplitProver(made.path, signer=key)
        try:
            return [
                prover.prove([np.asarray(v, dtype=np.float64).reshape(1, 8)]).model_dump(mode="json") for v in inputs
            ]
        finally:
            prover.close()

    hashed, hashed_other = prove("hashed", INPUT, OTHER_INPUT)
    (poly,) = prove("polycommit", INPUT)
    return Chains(hashed, hashed_other, poly)


def _forged(doc: Doc) -> Doc:
    doc["model"]["vk_digest"] = split_vk_digest([s["model"]["vk_digest"] for s in doc["segments"]])
    return identity.sign_receipt(parse(doc), identity.new_key()).model_dump(mode="json")


def _failures(verdict: Verdict) -> dict[str, str]:
    return {str(c.name): c.detail for c in verdict.checks if c.status == "fail"}


def test_the_genuine_three_segment_chains_verify(chains: Chains) -> None:
    for doc in (chains.hashed, chains.hashed_other, chains.poly):
        verdict = verify_document(copy.deepcopy(doc))
        assert verdict.verified, verdict.model_dump_json(indent=1)
        assert len(doc["segments"]) == 3


@pytest.mark.parametrize("kind", ["hashed", "poly"])
def test_a_dropped_middle_segment_breaks_the_link_it_spans(chains: Chains, kind: str) -> None:
    doc = copy.deepcopy(getattr(chains, kind))
    del doc["segments"][1]
    doc["links"] = doc["links"][:1]
    failed = _failures(verify_document(_forged(doc)))
    assert "links" in failed or "settings" in failed, failed
    assert "link 0->1" in failed.get("links", "") or "segment 1" in failed.get("settings", ""), failed


@pytest.mark.parametrize("kind", ["hashed", "poly"])
def test_a_duplicated_segment_breaks_the_link_into_the_copy(chains: Chains, kind: str) -> None:
    doc = copy.deepcopy(getattr(chains, kind))
    doc["segments"].insert(2, copy.deepcopy(doc["segments"][1]))
    doc["links"].insert(1, doc["links"][1])
    failed = _failures(verify_document(_forged(doc)))
    assert "link 1->2" in failed.get("links", "") or "segment 2" in failed.get("settings", ""), failed


@pytest.mark.parametrize("kind", ["hashed", "poly"])
def test_reordered_inner_segments_fail_naming_the_segment(chains: Chains, kind: str) -> None:
    doc = copy.deepcopy(getattr(chains, kind))
    doc["segments"][1], doc["segments"][2] = doc["segments"][2], doc["segments"][1]
    failed = _failures(verify_document(_forged(doc)))
    assert any(
        f"segment {i}" in detail or f"link {i - 1}->{i}" in detail for detail in failed.values() for i in (1, 2)
    ), failed


def test_a_middle_segment_spliced_from_another_inputs_receipt_breaks_both_its_links(chains: Chains) -> None:
    doc = copy.deepcopy(chains.hashed)
    doc["segments"][1] = copy.deepcopy(chains.hashed_other["segments"][1])
    failed = _failures(verify_document(_forged(doc)))
    assert set(failed) == {"links"} and "link 0->1" in failed["links"], failed
    doc["links"] = list(
        chains.hashed_other["links"]
    )  # the links restated from the other receipt: the first one still breaks
    assert "link 0->1" in _failures(verify_document(_forged(doc))).get("links", "")


def test_the_link_kind_restated_fails_naming_the_segment(chains: Chains) -> None:
    doc = copy.deepcopy(chains.hashed)
    doc["link_kind"] = "polycommit"
    failed = _failures(verify_document(_forged(doc)))
    assert "segment 0" in failed.get("settings", ""), failed


@pytest.mark.parametrize("index", [1, 2])
def test_polycommit_and_hashed_links_mixed_in_one_chain_fail(chains: Chains, index: int) -> None:
    doc = copy.deepcopy(chains.hashed)
    doc["segments"][index] = copy.deepcopy(chains.poly["segments"][index])
    failed = _failures(verify_document(_forged(doc)))
    assert f"segment {index}" in failed.get("settings", ""), failed
    doc = copy.deepcopy(chains.poly)
    doc["segments"][index] = copy.deepcopy(chains.hashed["segments"][index])
    failed = _failures(verify_document(_forged(doc)))
    assert f"segment {index}" in failed.get("settings", ""), failed


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("input commitment on a public input", "input.commitment"),
        ("weights commitment on fixed weights", "params.commitment"),
    ],
)
def test_fields_the_chain_does_not_have_are_refused(chains: Chains, name: str, field: str) -> None:
    doc = copy.deepcopy(chains.hashed)
    section, key = field.split(".")
    doc[section][key] = [chains.hashed["output"]["felts"][0][0], chains.hashed["output"]["felts"][0][1]]
    if field == "params.commitment":
        verdict = verify_document(doc)  # the schema refuses it before any signature matters
        assert verdict.failed() == ["well-formed"] and field in verdict.checks[0].detail
        return
    failed = _failures(verify_document(_forged(doc)))
    assert field in failed.get("binding", ""), failed
