"""Polycommit links (`compile --split/--cut --link polycommit`), with real ezkl proofs of a tiny MLP cut in two.

A polycommit link is no public instance: each side commits to the tensor in an unblinded advice
column, and the KZG point sits in its proof's transcript. The verifier reads both points out of the
proof bytes at positions the settings fix, and compares them; these tests hold it to that, with the
same kinds of forgeries as the hashed links' tests (tests/e2e/test_split.py), plus the one polycommit
invites: a point swapped into a proof made on another input.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import tiny
from tests.cli import zkinfer
from tests.conftest import SMALL_DECOMPOSITION
from zkinfer.core.crypto import identity, polycommit
from zkinfer.core.crypto.digest import split_vk_digest
from zkinfer.core.formats import split_circuit
from zkinfer.core.formats.split_receipt import parse
from zkinfer.prover import split
from zkinfer.verify import Policy, Verdict, verify_document

pytestmark = pytest.mark.e2e
Doc = dict[str, Any]
INPUT = [0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]
OTHER_INPUT = [0.8, 0.2, 0.0, 0.6, 0.9, 0.1, 0.5, 0.3]


@dataclass(frozen=True)
class Env:
    folder: Path
    chain: Path
    chain_digest: str
    genuine: Doc  # model A proven on INPUT
    other_input: Doc  # A on OTHER_INPUT
    other_model: Doc  # B (other weights, same shapes) on INPUT
    node_key: identity.NodeKey


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, node_key_file: Path) -> Env:
    from zkinfer.prover.prove import ChainProver as SplitProver

    folder = tmp_path_factory.mktemp("polycommit")
    tiny.mlp(folder / "a.onnx", seed=0)
    tiny.mlp(folder / "b.onnx", seed=1)
    calibration = tiny.samples(folder / "calibration.json", n=16, size=8)
    options: dict[str, Any] = {
        "cuts": ["h0"],
        "search": False,
        "decomposition": SMALL_DECOMPOSITION,
        "link": "polycommit",
    }
    a = split.compile_split(folder / "a.onnx", calibration, folder / "a", **options)
    b = split.compile_split(folder / "b.onnx", calibration, folder / "b", **options)
    node_key = identity.load_key(node_key_file)

    def prove(chain: Path, values: list[float]) -> tuple[Doc, str]:
        prover = SplitProver(chain, signer=node_key)
        try:
            receipt = prover.prove([np.asarray(values, dtype=np.float64).reshape(1, 8)])
        finally:
            prover.close()
        return receipt.model_dump(mode="json"), prover.circuit_digest

    genuine, digest = prove(a.path, INPUT)
    return Env(folder, a.path, digest, genuine, prove(a.path, OTHER_INPUT)[0], prove(b.path, INPUT)[0], node_key)


def _failed(verdict: Verdict) -> set[str]:
    return {c.name for c in verdict.checks if c.status == "fail"}


def _pins(env: Env) -> Policy:
    fingerprints = sorted({s["srs"]["fingerprint"] for s in env.genuine["segments"]})
    return Policy(
        expect_circuit=env.chain_digest, trusted_srs=fingerprints, expect_signer=env.genuine["signature"]["public_key"]
    )


def _proof(doc: Doc, i: int) -> bytes:
    return bytes.fromhex(doc["segments"][i]["proof"]["hex"])


def test_polycommit_chain_is_one_k_and_verifies_pinned(env: Env) -> None:
    loaded = split_circuit.load(env.chain)
    assert loaded.manifest.links == "polycommit"
    assert len({s.logrows for s in loaded.manifest.segments}) == 1  # one Lagrange basis for both sides of the link
    verdict = verify_document(copy.deepcopy(env.genuine), _pins(env))
    assert verdict.verified and verdict.identity_pinned, verdict.model_dump_json(indent=1)
    assert (
        env.genuine["link_kind"] == "polycommit"
        and env.genuine["segments"][1]["proof"]["instances"][0] == env.genuine["output"]["felts"][0]
    )
    assert env.genuine["links"] == ["0x" + _proof(env.genuine, 0)[:64].hex()]  # segment 0's first transcript point
    assert env.other_input["links"] != env.genuine["links"]  # a commitment to other values
    import onnxruntime as ort

    want = (
        ort.InferenceSession(str(env.folder / "a.onnx"))
        .run(None, {"input": np.asarray([INPUT], dtype=np.float32)})[0]
        .ravel()
    )
    assert np.max(np.abs(np.asarray(env.genuine["output"]["tensors"][0]["values"]) - want)) < 5e-3


def test_link_point_is_ezkls_commitment_to_the_linked_values(env: Env) -> None:
    """The position the verifier reads is the polycommit column: the point there is the KZG commitment
    ezkl computes, outside any proof, from the linked field elements (segment 1's witness, with key and SRS)."""
    import ezkl

    from zkinfer.prover import keys

    segment = split_circuit.load(env.chain).segments[1]
    found = keys.ensure(segment)
    at = polycommit.positions(segment.settings, "seg1").inputs
    assert at == (0,)
    data = env.folder / "seg1-data.json"
    witness = env.folder / "seg1-witness.json"
    first = env.folder / "seg0-witness.json"
    seg0 = split_circuit.load(env.chain).segments[0]
    (env.folder / "seg0-data.json").write_text(json.dumps({"input_data": [INPUT]}))
    ezkl.gen_witness(str(env.folder / "seg0-data.json"), str(seg0.compiled_path), str(first), None, None)
    data.write_text(json.dumps({"input_data": json.loads(first.read_text())["outputs"]}))
    ezkl.gen_witness(str(data), str(segment.compiled_path), str(witness), str(found.vk), str(found.srs.path))
    compressed = bytearray(bytes.fromhex(json.loads(witness.read_text())["processed_inputs"]["polycommit"][0][0]))
    compressed[31] &= 0x3F  # halo2curves' compressed G1: x little-endian, two flag bits on top
    point = polycommit.point(_proof(env.genuine, 1), at[0], "seg1")
    assert point[:32] == bytes(reversed(compressed))  # the transcript's x, big-endian
    assert point == polycommit.point(_proof(env.genuine, 0), 0, "seg0")


# ---- tampering (signed again by an attacker's key: only the proofs and pins can refuse them) ----


def _resign_vk_digest(doc: Doc) -> None:
    doc["model"]["vk_digest"] = split_vk_digest([s["model"]["vk_digest"] for s in doc["segments"]])


def _segment_from(source: str, index: int) -> Callable[[Doc, Env], None]:
    def edit(doc: Doc, env: Env) -> None:
        doc["segments"][index] = copy.deepcopy(getattr(env, source)["segments"][index])
        _resign_vk_digest(doc)

    return edit


def _swap_segments(doc: Doc, _: Env) -> None:
    doc["segments"].reverse()
    _resign_vk_digest(doc)


def _point_swapped_in(doc: Doc, env: Env) -> None:
    """ezkl's swap_proof_commitments as a forgery: segment 1 proven on another input, the genuine link
    point written over its input commitment, its output stated: the points agree, the proof must not."""
    proof = bytearray(_proof(env.other_input, 1))
    proof[:64] = _proof(env.genuine, 0)[:64]
    doc["segments"][1] = copy.deepcopy(env.other_input["segments"][1])
    doc["segments"][1]["proof"]["hex"] = proof.hex()
    doc["output"], doc["fast"] = copy.deepcopy(env.other_input["output"]), copy.deepcopy(env.other_input["fast"])


def _point_restated(doc: Doc, _: Env) -> None:
    doc["links"][0] = doc["links"][0][:-1] + ("0" if doc["links"][0][-1] != "0" else "1")


def _said_hashed(doc: Doc, _: Env) -> None:
    doc.pop("link_kind")


def _other_ceremony(doc: Doc, env: Env) -> None:
    from zkinfer.core.crypto import srs
    from zkinfer.core.zkp import ezkl_adapter as _ezkl

    path = env.folder / "other-ceremony.srs"
    if not path.exists():
        _ezkl.gen_srs(path, 1)
    reduced = srs.reduced(path.read_bytes())
    doc["segments"][1]["srs"].update(
        reduced=base64.b64encode(reduced).decode(), fingerprint=srs.parse_reduced(reduced, "other")
    )


TAMPERS = [  # (name, edit, the checks that fail with no pins)
    ("last segment's proof from another input", _segment_from("other_input", 1), {"links", "binding"}),
    ("first segment's proof from another input", _segment_from("other_input", 0), {"links", "binding"}),
    ("segments reordered", _swap_segments, {"settings", "binding", "links"}),
    ("last segment from another model", _segment_from("other_model", 1), {"links", "binding"}),
    ("link point stated otherwise", _point_restated, {"links"}),
    ("genuine link point swapped into a proof of another input", _point_swapped_in, {"proof"}),
    ("links said hashed", _said_hashed, {"settings", "links"}),
    ("a segment's SRS from another ceremony", _other_ceremony, {"proof", "links"}),
]


@pytest.mark.parametrize("name, edit, fails", TAMPERS, ids=[t[0] for t in TAMPERS])
def test_tampered_polycommit_receipt_fails_the_right_checks(
    name: str, edit: Callable[[Doc, Env], None], fails: set[str], env: Env
) -> None:
    doc = copy.deepcopy(env.genuine)
    edit(doc, env)
    assert doc != env.genuine
    forged = identity.sign_receipt(parse(doc), identity.new_key()).model_dump(mode="json")
    verdict = verify_document(copy.deepcopy(forged))
    assert _failed(verdict) == fails, verdict.model_dump_json(indent=1)
    assert _failed(verify_document(forged, _pins(env))) >= fails | {"signature"}


def test_whole_other_input_chain_is_valid_but_binds_its_own_output(env: Env) -> None:
    """Both proofs and the link from another input: a consistent chain, so only binding refuses it."""
    doc = copy.deepcopy(env.genuine)
    doc.update(segments=copy.deepcopy(env.other_input["segments"]), links=list(env.other_input["links"]))
    forged = identity.sign_receipt(parse(doc), identity.new_key()).model_dump(mode="json")
    assert _failed(verify_document(forged)) == {"binding"}


def test_link_option_needs_a_split(tmp_path: Path) -> None:
    model = tiny.mlp(tmp_path / "m.onnx")
    calibration = tiny.samples(tmp_path / "c.json", n=2, size=8)
    result = zkinfer("compile", str(model), "--data", str(calibration), "-o", str(tmp_path / "c"), "--link", "hashed")
    assert result.returncode == 2 and "--split" in result.stdout + result.stderr
    result = zkinfer(
        "compile", str(model), "--data", str(calibration), "-o", str(tmp_path / "c"), "--cut", "h0", "--link", "kzg"
    )
    assert result.returncode == 2 and "hashed, polycommit" in result.stdout + result.stderr
