"""Split circuits and split receipts (zkinfer.receipt/2), with real ezkl proofs of a tiny MLP cut in two.

One module fixture compiles three chains (model A public input, model B, model A hashed input),
sets up their keys and proves each once; every tamper below edits copies of those receipts. A
receipt must verify only for the exact pinned chain of segments, in order, linked by equal
commitments taken from the proofs, with the first input and the last output bound by the proofs.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.receipt_mutations import apply
from tests import tiny
from tests.cli import zkinfer
from tests.conftest import SMALL_DECOMPOSITION
from zkinfer.core.crypto import identity
from zkinfer.core.crypto.digest import digest_bytes, digest_json, split_vk_digest
from zkinfer.core.formats import split_circuit
from zkinfer.core.formats.circuit import Visibility
from zkinfer.core.formats.split_receipt import SCHEMA_VERSION, parse
from zkinfer.core.support.errors import CircuitError, UsageError, ZkinferError
from zkinfer.prover import split
from zkinfer.verify import Policy, Verdict, verify_document

pytestmark = pytest.mark.e2e
Doc = dict[str, Any]
INPUT = [0.1, 0.5, 0.9, 0.3, 0.0, 0.7, 0.2, 0.4]
OTHER_INPUT = [0.8, 0.2, 0.0, 0.6, 0.9, 0.1, 0.5, 0.3]


@dataclass(frozen=True)
class Env:
    folder: Path
    chain: Path  # model A, cut at h0, public input
    chain_digest: str
    genuine: Doc  # A proven on INPUT, signed by the node
    other_input: Doc  # A proven on OTHER_INPUT
    other_model: Doc  # B (other weights, same shapes) proven on INPUT
    hashed: Doc  # A with a hashed (private) input, proven on INPUT
    hybrid: Doc  # A's first segment + B's second one, consistently linked: a valid chain, but not A's
    node_key: identity.NodeKey


def _assemble(out: Path, segments: list[Path], like: Path) -> Path:
    """A split circuit directory made of existing segment directories (what a dishonest node could build)."""
    out.mkdir()
    shutil.copyfile(like / "model.onnx", out / "model.onnx")
    manifest = split_circuit.load(like).manifest
    records = []
    for i, source in enumerate(segments):
        shutil.copytree(source, out / f"seg{i}")
        loaded = split_circuit.circuit.load(out / f"seg{i}")
        records.append(
            manifest.segments[i].model_copy(
                update={
                    "compiled_digest": loaded.manifest.compiled_digest,
                    "settings_digest": loaded.manifest.settings_digest,
                }
            )
        )
    split_circuit.write_manifest(out, manifest.model_copy(update={"segments": records}))
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, node_key_file: Path) -> Env:
    from zkinfer.prover.prove import ChainProver as SplitProver

    folder = tmp_path_factory.mktemp("split")
    tiny.mlp(folder / "a.onnx", seed=0)
    tiny.mlp(folder / "b.onnx", seed=1)
    calibration = tiny.samples(folder / "calibration.json", n=16, size=8)
    options: dict[str, Any] = {
        "cuts": ["h0"],
        "search": False,
        "decomposition": SMALL_DECOMPOSITION,
        "link": "hashed",
    }  # polycommit: test_split_polycommit.py
    a = split.compile_split(folder / "a.onnx", calibration, folder / "a", **options)
    b = split.compile_split(folder / "b.onnx", calibration, folder / "b", **options)
    h = split.compile_split(
        folder / "a.onnx", calibration, folder / "h", visibility=Visibility(input="hashed"), **options
    )
    assert b.segments[1].settings.input_scales == a.segments[0].settings.output_scales, (
        "the hybrid needs B's link at A's scale"
    )
    hybrid = _assemble(folder / "hybrid", [a.segments[0].path, b.segments[1].path], a.path)
    node_key = identity.load_key(node_key_file)

    def prove(chain: Path, values: list[float]) -> tuple[Doc, str]:
        prover = SplitProver(
            chain, signer=node_key
        )  # the default executor: local prove processes, the segments in parallel
        try:
            receipt = prover.prove([np.asarray(values, dtype=np.float64).reshape(1, 8)])
        finally:
            prover.close()
        return receipt.model_dump(mode="json"), prover.circuit_digest

    genuine, digest = prove(a.path, INPUT)
    return Env(
        folder=folder,
        chain=a.path,
        chain_digest=digest,
        genuine=genuine,
        other_input=prove(a.path, OTHER_INPUT)[0],
        other_model=prove(b.path, INPUT)[0],
        hashed=prove(h.path, INPUT)[0],
        hybrid=prove(hybrid, INPUT)[0],
        node_key=node_key,
    )


def _failed(verdict: Verdict) -> set[str]:
    return {c.name for c in verdict.checks if c.status == "fail"}


def _pins(env: Env, **extra: Any) -> Policy:
    """What an auditor who trusts chain A and its node pins."""
    fingerprints = sorted({s["srs"]["fingerprint"] for s in env.genuine["segments"]})
    return Policy(
        expect_circuit=env.chain_digest,
        trusted_srs=fingerprints,
        expect_signer=env.genuine["signature"]["public_key"],
        **extra,
    )


# ---- planning (no proofs) ----


def test_cut_points_are_where_one_tensor_crosses(tmp_path: Path) -> None:
    model = tiny.mlp(tmp_path / "m.onnx", sizes=(8, 6, 5, 3))
    graph = split.analyse(model)
    assert [c.tensor for c in graph.cuts] == ["g0", "h0", "g1", "h1"]  # never the model's own input or output
    assert len(split.balanced_cuts(graph, 3)) == 2
    with pytest.raises(UsageError, match="at most 5 segments"):
        split.balanced_cuts(graph, 6)
    with pytest.raises(UsageError, match="cut points: g0, h0, g1, h1"):
        split.named_cuts(graph, ["w0"])
    with pytest.raises(UsageError, match="in the order"):
        split.named_cuts(graph, ["h1", "h0"])


def test_balanced_cuts_minimise_the_largest_segment() -> None:
    graph = split.Graph(
        model=None,  # type: ignore[arg-type]
        costs=(10, 1, 1, 10, 1, 10),
        cuts=tuple(split.CutPoint(i, f"t{i}") for i in range(5)),
    )
    chosen = split.balanced_cuts(graph, 3)
    assert [c.after for c in chosen] == [1, 3]  # segments cost 11, 11, 11 (after 0 and 3: 10, 12, 11)


def test_a_tensor_used_past_the_cut_is_not_a_cut_point(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Neg", ["a"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["c"]),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "skip",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(tmp_path / "skip.onnx"))
    assert [c.tensor for c in split.analyse(tmp_path / "skip.onnx").cuts] == ["a", "c"]  # after Neg both a and b cross


# ---- the genuine chain ----


def test_split_circuit_directory_lists_its_segments_in_order(env: Env) -> None:
    loaded = split_circuit.load(env.chain)
    assert [s.directory for s in loaded.manifest.segments] == ["seg0", "seg1"]
    assert loaded.manifest.cuts == ["h0"] and loaded.manifest.segments[0].outputs == loaded.manifest.segments[
        1
    ].inputs == ["h0"]
    assert all((env.chain / s.directory / "manifest.json").is_file() for s in loaded.manifest.segments)
    assert loaded.manifest.max_abs_error < 5e-3  # end to end against onnxruntime
    with pytest.raises(CircuitError, match="split circuit"):
        split_circuit.circuit.load(env.chain)
    swapped = env.folder / "swapped"
    shutil.copytree(env.chain, swapped)
    shutil.rmtree(swapped / "seg1")
    shutil.copytree(env.folder / "b" / "seg1", swapped / "seg1")
    with pytest.raises(CircuitError, match="is not the segment 1"):
        split_circuit.load(swapped)


def test_genuine_split_receipt_verifies_with_the_chain_pinned(env: Env) -> None:
    verdict = verify_document(copy.deepcopy(env.genuine), _pins(env, strict=False))
    assert verdict.verified and verdict.identity_pinned, verdict.model_dump_json(indent=1)
    assert [c.name for c in verdict.checks] == [
        "well-formed",
        "verifying-key",
        "settings",
        "srs",
        "proof",
        "binding",
        "links",
        "fast",
        "identity",
        "signature",
    ]
    assert env.genuine["schema_version"] == SCHEMA_VERSION and len(env.genuine["links"]) == 1
    import onnxruntime as ort

    session = ort.InferenceSession(str(env.folder / "a.onnx"))
    want = session.run(None, {"input": np.asarray([INPUT], dtype=np.float32)})[0].ravel()
    assert np.max(np.abs(np.asarray(env.genuine["output"]["tensors"][0]["values"]) - want)) < 5e-3


def test_one_segments_digest_is_not_the_chains(env: Env) -> None:
    from zkinfer.verify.checks import segment_circuit_digests

    first = segment_circuit_digests(parse(env.genuine))[0]
    verdict = verify_document(copy.deepcopy(env.genuine), Policy(expect_circuit=first))
    assert _failed(verdict) == {"identity"}


def test_hashed_input_chain_discloses_no_input_and_checks_the_auditors_copy(env: Env) -> None:
    from zkinfer.verify.verifier import verify_document as verify

    assert env.hashed["input"]["tensors"] is None and len(env.hashed["input"]["commitment"]) == 1
    assert verify(copy.deepcopy(env.hashed)).verified
    assert verify(copy.deepcopy(env.hashed), given_input=[np.asarray(INPUT)]).verified
    assert _failed(verify(copy.deepcopy(env.hashed), given_input=[np.asarray(OTHER_INPUT)])) == {"input"}
    assert env.hashed["links"] == env.genuine["links"]  # the same model's inner link: equal felts, equal commitments


def test_segment_from_another_model_with_consistent_links_is_caught_by_the_chain_pin(env: Env) -> None:
    """A node proves model B's second segment on A's first segment's output: every proof is valid and
    every link holds, so only the chain's identity tells it apart."""
    assert env.hybrid["links"] == env.genuine["links"] and env.hybrid["output"] != env.genuine["output"]
    assert verify_document(copy.deepcopy(env.hybrid)).verified  # unpinned: a valid chain, of some circuit
    by_circuit = verify_document(copy.deepcopy(env.hybrid), _pins(env))
    assert _failed(by_circuit) == {"identity"} and "expect_circuit" in by_circuit.check("identity").detail
    by_vk = verify_document(copy.deepcopy(env.hybrid), Policy(expect_vk=env.genuine["model"]["vk_digest"]))
    assert _failed(by_vk) == {"identity"}


def test_first_segment_of_another_circuit_restating_the_input_is_caught_by_the_chain_pin(env: Env) -> None:
    """A's hashed-input first segment in place of the public one, the input restated as its commitment:
    the same model and link, a valid chain, but not the pinned one."""
    doc = copy.deepcopy(env.genuine)
    doc["segments"][0] = copy.deepcopy(env.hashed["segments"][0])
    doc["input"] = copy.deepcopy(env.hashed["input"])
    doc["model"]["vk_digest"] = split_vk_digest([s["model"]["vk_digest"] for s in doc["segments"]])
    forged = identity.sign_receipt(parse(doc), env.node_key).model_dump(mode="json")
    assert verify_document(copy.deepcopy(forged)).verified
    assert _failed(verify_document(forged, _pins(env))) == {"identity"}


# ---- tampering ----


def _resign_vk_digest(doc: Doc) -> None:
    doc["model"]["vk_digest"] = split_vk_digest([s["model"]["vk_digest"] for s in doc["segments"]])


def _flip_hex(text: str, at: int) -> str:
    return text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1 :]


def _swap_segments(doc: Doc, _: Env) -> None:
    doc["segments"].reverse()
    _resign_vk_digest(doc)


def _segment_from(source: str, index: int) -> Callable[[Doc, Env], None]:
    def edit(doc: Doc, env: Env) -> None:
        doc["segments"][index] = copy.deepcopy(getattr(env, source)["segments"][index])
        _resign_vk_digest(doc)

    return edit


def _swap_vk(doc: Doc, env: Env) -> None:
    segment = doc["segments"][1]
    segment["model"]["verifying_key"] = env.other_model["segments"][1]["model"]["verifying_key"]
    segment["model"]["vk_digest"] = env.other_model["segments"][1]["model"]["vk_digest"]
    _resign_vk_digest(doc)


def _edit_settings(index: int, key: str, value: Any) -> Callable[[Doc, Env], None]:
    def edit(doc: Doc, _: Env) -> None:
        settings = doc["segments"][index]["model"]["settings"]
        if key.startswith("run_args."):
            settings["run_args"][key.removeprefix("run_args.")] = value
        else:
            settings[key] = value
        doc["segments"][index]["model"]["settings_digest"] = digest_json(settings)

    return edit


def _restate_output(doc: Doc, env: Env) -> None:
    doc["output"] = copy.deepcopy(env.other_model["output"])
    doc["fast"] = copy.deepcopy(env.other_model["fast"])


def _set(path: str, value: Any) -> Callable[[Doc, Env], None]:
    def edit(doc: Doc, _: Env) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return edit


def _link_instance(doc: Doc, _: Env) -> None:
    column = doc["segments"][0]["proof"]["instances"][0]
    column[-1] = _flip_hex(column[-1], 0)


def _flip_b64(text: str, at: int = 200) -> str:
    data = bytearray(base64.b64decode(text))
    data[at] ^= 1
    return base64.b64encode(bytes(data)).decode()


def _srs_bytes(doc: Doc, _: Env) -> None:
    data = bytearray(base64.b64decode(doc["segments"][1]["srs"]["reduced"]))
    data[300] ^= 1
    doc["segments"][1]["srs"]["reduced"] = base64.b64encode(bytes(data)).decode()


@dataclass(frozen=True)
class Tamper:
    name: str
    edit: Callable[[Doc, Env], None]
    fails: frozenset[str]  # with the attacker's own signature and no pins


TAMPERS = [
    Tamper("last segment's proof from another input", _segment_from("other_input", 1), frozenset({"links", "binding"})),
    Tamper(
        "first segment's proof from another input", _segment_from("other_input", 0), frozenset({"links", "binding"})
    ),
    Tamper(
        "both proofs and the link from another input",
        lambda d, e: d.update(segments=copy.deepcopy(e.other_input["segments"]), links=list(e.other_input["links"])),
        frozenset({"binding"}),
    ),
    Tamper("segments reordered", _swap_segments, frozenset({"settings", "binding", "links"})),
    Tamper(
        "link stated otherwise",
        lambda d, _: d["links"].__setitem__(0, _flip_hex(d["links"][0], 0)),
        frozenset({"links"}),
    ),
    Tamper("link instance in a proof", _link_instance, frozenset({"proof", "links"})),
    Tamper("links dropped", _set("links", []), frozenset({"links"})),
    Tamper("last segment from another model", _segment_from("other_model", 1), frozenset({"links", "binding"})),
    Tamper("a segment's key swapped with its digests", _swap_vk, frozenset({"proof"})),
    Tamper(
        "a segment's key bytes",
        lambda d, _: d["segments"][0]["model"].update(
            verifying_key=_flip_b64(d["segments"][0]["model"]["verifying_key"])
        ),
        frozenset({"verifying-key", "proof"}),
    ),
    Tamper("chain key digest", _set("model.vk_digest", digest_bytes(b"another chain")), frozenset({"verifying-key"})),
    Tamper(
        "first input restated",
        lambda d, _: d["input"]["tensors"][0]["values"].__setitem__(2, 0.25),
        frozenset({"binding"}),
    ),
    Tamper("last output restated with its felts", _restate_output, frozenset({"binding"})),
    Tamper(
        "last output value",
        lambda d, _: d["output"]["tensors"][0]["values"].__setitem__(0, d["output"]["tensors"][0]["values"][0] + 1.0),
        frozenset({"binding", "fast"}),
    ),
    Tamper(
        "inner link made public",
        _edit_settings(0, "run_args.output_visibility", "Public"),
        frozenset({"settings", "proof", "binding", "links"}),
    ),
    Tamper(
        "last output made hashed",
        _edit_settings(1, "run_args.output_visibility", {"Hashed": {"hash_is_public": True, "outlets": []}}),
        frozenset({"settings", "proof", "binding", "links"}),
    ),
    Tamper("link scale", _edit_settings(1, "model_input_scales", [7]), frozenset({"settings"})),
    Tamper("absurd segment size for ezkl", _edit_settings(0, "run_args.logrows", 99), frozenset({"settings", "proof"})),
    Tamper(
        "absurd column count for ezkl",
        _edit_settings(1, "run_args.num_inner_cols", 0),
        frozenset({"settings", "proof"}),
    ),
    Tamper(
        "segment settings without their digest",
        lambda d, _: d["segments"][0]["model"]["settings"].update(num_rows=1),
        frozenset({"settings"}),
    ),
    Tamper(
        "segment proof bytes",
        lambda d, _: d["segments"][1]["proof"].update(hex=_flip_hex(d["segments"][1]["proof"]["hex"], 100)),
        frozenset({"proof"}),
    ),
    Tamper("segment SRS bytes", _srs_bytes, frozenset({"srs", "proof"})),
    Tamper("segment SRS size", _set("segments.1.srs.k", 16), frozenset({"settings"})),
    Tamper("weights said hashed", _set("params.visibility", "hashed"), frozenset({"settings"})),
]
NOT_RESIGNED = [  # (name, edit, the checks that fail)
    ("schema version", _set("schema_version", "zkinfer.receipt/1"), {"well-formed"}),
    ("unknown field in a segment", _set("segments.0.proof.note", "x"), {"well-formed"}),
    ("one segment left", lambda d, _: d.update(segments=d["segments"][:1], links=[]), {"well-formed"}),
    (
        "signature bytes",
        lambda d, _: d["signature"].update(signature=_flip_hex(d["signature"]["signature"], 150)),
        {"signature"},
    ),
    (
        "signature from another receipt",
        lambda d, e: d.update(signature=copy.deepcopy(e.other_input["signature"])),
        {"signature"},
    ),
]


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.name for t in TAMPERS])
def test_tampered_split_receipt_fails_the_right_checks(tamper: Tamper, env: Env) -> None:
    doc = copy.deepcopy(env.genuine)
    tamper.edit(doc, env)
    assert doc != env.genuine
    assert _failed(verify_document(copy.deepcopy(doc))) == set(tamper.fails) | {
        "signature"
    }  # as edited: the node's signature breaks too
    attacker = identity.new_key()
    forged = identity.sign_receipt(parse(doc), attacker).model_dump(mode="json")
    assert _failed(verify_document(copy.deepcopy(forged))) == set(tamper.fails)
    assert _failed(verify_document(forged, _pins(env))) >= set(tamper.fails) | {"signature"}


@pytest.mark.parametrize("name, edit, fails", NOT_RESIGNED, ids=[n for n, _, _ in NOT_RESIGNED])
def test_malformed_or_badly_signed_split_receipt_fails(
    name: str, edit: Callable[[Doc, Env], None], fails: set[str], env: Env
) -> None:
    doc = copy.deepcopy(env.genuine)
    edit(doc, env)
    verdict = verify_document(doc, _pins(env))
    assert _failed(verdict) == fails, verdict.model_dump_json(indent=1)
    if fails == {"well-formed"}:
        assert {c.status for c in verdict.checks[1:]} == {"skip"}


def _other_ceremony(doc: Doc, env: Env) -> None:
    from zkinfer.core.crypto import srs
    from zkinfer.core.zkp import ezkl_adapter as _ezkl

    path = env.folder / "other-ceremony.srs"
    if not path.exists():
        _ezkl.gen_srs(path, 1)  # a fresh tau
    reduced = srs.reduced(path.read_bytes())
    doc["segments"][1]["srs"].update(
        reduced=base64.b64encode(reduced).decode(), fingerprint=srs.parse_reduced(reduced, "other")
    )


PINNED = [  # (name, receipt, edit, pins copied from the genuine receipt, the checks that fail;
    # the node's signature breaks too)
    (
        "model digest restated",
        "genuine",
        _set("model.model_digest", digest_bytes(b"another model")),
        {"expect_model": ("model", "model_digest")},
        {"identity", "signature"},
    ),
    (
        "signature removed",
        "genuine",
        _set("signature", None),
        {"expect_signer": ("signature", "public_key")},
        {"signature"},
    ),
    (
        "input commitment",
        "hashed",
        lambda d, _: d["input"].update(commitment=[_flip_hex(d["input"]["commitment"][0], 0)]),
        {},
        {"binding", "signature"},
    ),
    (
        "a segment's SRS from another ceremony",
        "genuine",
        _other_ceremony,
        {"trusted_srs": [("segments", 0, "srs", "fingerprint")]},
        {"proof", "identity", "signature"},
    ),
]


@pytest.mark.parametrize("name, base, edit, pins, fails", PINNED, ids=[p[0] for p in PINNED])
def test_pinned_auditor_refuses_split_receipt(
    name: str, base: str, edit: Callable[[Doc, Env], None], pins: dict[str, Any], fails: set[str], env: Env
) -> None:
    original: Doc = getattr(env, base)

    def value(spec: Any) -> Any:
        if isinstance(spec, list):
            return [value(item) for item in spec]
        target: Any = original
        for key in spec:
            target = target[key]
        return target

    policy = Policy(**{key: value(spec) for key, spec in pins.items()})
    assert verify_document(copy.deepcopy(original), policy).verified
    doc = copy.deepcopy(original)
    edit(doc, env)
    verdict = verify_document(doc, policy)
    assert _failed(verdict) == fails, verdict.model_dump_json(indent=1)


FUZZ = settings(
    max_examples=int(os.environ.get("ZKINFER_FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(
    path_index=st.integers(0, 1 << 16),
    op=st.sampled_from(
        ("replace", "delete", "flip_char", "flip_b64_byte", "truncate", "case", "number", "duplicate", "wrap")
    ),
    at=st.integers(0, 1 << 16),
    value=st.none() | st.integers() | st.text(max_size=8),
)
def test_mutated_split_receipt_gets_a_verdict_and_is_accepted_only_unchanged(
    env: Env, path_index: int, op: str, at: int, value: Any
) -> None:
    from fuzz.receipt_mutations import paths

    all_paths = paths(env.genuine)
    doc = apply(env.genuine, all_paths[path_index % len(all_paths)], op, at, value)
    try:
        verdict = verify_document(doc, _pins(env))
    except ZkinferError:
        return
    if verdict.verified:
        assert parse(doc).canonical_bytes() == parse(env.genuine).canonical_bytes()


# ---- command line ----


def test_cli_verifies_inspects_and_refuses_split_receipts(env: Env, tmp_path: Path) -> None:
    genuine, broken = tmp_path / "receipt.json", tmp_path / "broken.json"
    genuine.write_text(json.dumps(env.genuine))
    doc = copy.deepcopy(env.genuine)
    doc["links"][0] = _flip_hex(doc["links"][0], 0)
    broken.write_text(json.dumps(doc))
    ok = zkinfer("verify", genuine, "--expect-circuit", env.chain_digest)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "links" in ok.stdout and "VERIFIED" in ok.stdout
    failed = zkinfer("verify", broken, "--json", "--expect-circuit", env.chain_digest)
    assert failed.returncode == 1 and {
        c["name"] for c in json.loads(failed.stdout)["checks"] if c["status"] == "fail"
    } == {"links", "signature"}
    broken.write_text(json.dumps(doc)[:-40])  # cut short: not JSON
    assert zkinfer("verify", broken).returncode == 2
    shown = zkinfer("inspect", genuine)
    assert (
        shown.returncode == 0
        and "segment 1" in shown.stdout
        and "link 0->1" in shown.stdout
        and env.chain_digest in shown.stdout
    )


def test_a_model_file_cannot_pin_a_chain_and_says_so(env: Env) -> None:
    verdict = verify_document(copy.deepcopy(env.genuine), Policy(model_file=str(env.folder / "a.onnx")))
    assert _failed(verdict) == {"model"} and "expect_circuit" in verdict.check("model").detail


def test_inspect_summarises_the_chain(env: Env, tmp_path: Path) -> None:
    from zkinfer.verify.inspect import SplitSummary, inspect_any

    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(env.genuine))
    summary = inspect_any(path)
    assert isinstance(summary, SplitSummary) and summary.circuit_digest == env.chain_digest
    assert [(s.index, s.input_visibility, s.output_visibility) for s in summary.segments] == [
        (0, "public", "hashed"),
        (1, "hashed", "public"),
    ]
    assert summary.links == env.genuine["links"] and summary.signer == env.genuine["signature"]["public_key"]
