"""Tamper suite: every way of editing a genuine receipt is rejected, by the check that owns the field.

Each class is tried three ways: edited as is (the node's signature breaks too), re-signed by the
attacker with their own key (only the content checks can catch it), and re-signed while the
auditor pins the real node's key (`--expect-signer`). Genuine receipts are always accepted.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from zkinfer.core.crypto import identity, srs
from zkinfer.core.crypto.digest import digest_bytes, digest_json
from zkinfer.core.formats.receipt import parse
from zkinfer.verify import Verdict, verify_document
from zkinfer.verify.policy import Policy

Doc = dict[str, Any]


@dataclass(frozen=True)
class Receipts:
    """The genuine documents a tamper may draw on."""

    public: Doc
    hashed: Doc
    other: Doc  # same circuit and node, another input (for replays)
    other_srs_reduced: str  # a reduced SRS from a different ceremony, base64


@dataclass(frozen=True)
class Tamper:
    name: str
    base: str  # "public" or "hashed"
    edit: Callable[[Doc, Receipts], None]
    fails: frozenset[str]  # the checks that must fail (besides the signature, for an edit not re-signed)
    pins: dict[str, Any] = field(default_factory=dict)  # policy values, taken from the genuine receipt
    resign: bool = True


def _flip_hex(text: str, at: int) -> str:
    digit = "0" if text[at] != "0" else "1"
    return text[:at] + digit + text[at + 1 :]


def _flip_b64(text: str, at: int) -> str:
    data = bytearray(base64.b64decode(text))
    data[at] ^= 0x01
    return base64.b64encode(bytes(data)).decode()


def _set_settings(doc: Doc, key: str, value: Any) -> None:
    doc["model"]["settings"][key] = value
    doc["model"]["settings_digest"] = digest_json(doc["model"]["settings"])


def _replace_vk(doc: Doc, r: Receipts) -> None:
    doc["model"]["verifying_key"] = r.hashed["model"]["verifying_key"]
    doc["model"]["vk_digest"] = r.hashed["model"]["vk_digest"]


def _replace_srs(doc: Doc, r: Receipts) -> None:
    doc["srs"]["reduced"] = r.other_srs_reduced
    doc["srs"]["fingerprint"] = srs.parse_reduced(base64.b64decode(r.other_srs_reduced), "other SRS")


def _bump_output(doc: Doc, _: Receipts) -> None:
    doc["output"]["tensors"][0]["values"][0] += 1.0


def _instance(index: int) -> Callable[[Doc, Receipts], None]:
    def edit(doc: Doc, _: Receipts) -> None:
        doc["proof"]["instances"][0][index] = _flip_hex(doc["proof"]["instances"][0][index], 0)

    return edit


def _replay(section: str) -> Callable[[Doc, Receipts], None]:
    def edit(doc: Doc, r: Receipts) -> None:
        doc[section] = copy.deepcopy(r.other[section])

    return edit


def _set(path: str, value: Any) -> Callable[[Doc, Receipts], None]:
    def edit(doc: Doc, _: Receipts) -> None:
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target[part]
        target[last] = value

    return edit


def _signer_key(doc: Doc, _: Receipts) -> None:
    doc["signature"]["public_key"] = identity.new_key().public_hex


PUBLIC_INSTANCES = 11  # the tiny MLP: 8 public inputs, 3 outputs
TAMPERS = [
    Tamper(
        "proof bytes",
        "public",
        lambda d, _: d["proof"].update(hex=_flip_hex(d["proof"]["hex"], 100)),
        frozenset({"proof"}),
    ),
    *(
        Tamper(f"proof instance {i}", "public", _instance(i), frozenset({"proof", "binding"}))
        for i in range(PUBLIC_INSTANCES)
    ),
    Tamper(
        "stated output value", "public", _bump_output, frozenset({"binding", "fast"})
    ),  # the fast answer no longer matches it either
    Tamper(
        "stated output felt",
        "public",
        lambda d, _: d["output"]["felts"][0].__setitem__(1, d["output"]["felts"][0][2]),
        frozenset({"binding"}),
    ),
    Tamper(
        "stated input value",
        "public",
        lambda d, _: d["input"]["tensors"][0]["values"].__setitem__(2, 0.25),
        frozenset({"binding"}),
    ),
    Tamper(
        "input commitment",
        "hashed",
        lambda d, _: d["input"].update(commitment=[_flip_hex(d["input"]["commitment"][0], 0)]),
        frozenset({"binding"}),
    ),
    Tamper(
        "weights commitment",
        "hashed",
        lambda d, _: d["params"].update(commitment=[_flip_hex(d["params"]["commitment"][0], 0)]),
        frozenset({"binding"}),
    ),
    Tamper("commitment instance", "hashed", _instance(0), frozenset({"proof", "binding"})),
    Tamper(
        "verifying key bytes",
        "public",
        lambda d, _: d["model"].update(verifying_key=_flip_b64(d["model"]["verifying_key"], 200)),
        frozenset({"verifying-key", "proof"}),
    ),
    Tamper(
        "verifying key swapped with its digest",
        "public",
        _replace_vk,
        frozenset({"proof", "identity"}),
        pins={"expect_vk": ("model", "vk_digest")},
    ),
    Tamper(
        "verifying key digest",
        "public",
        lambda d, _: d["model"].update(vk_digest=digest_bytes(b"another key")),
        frozenset({"verifying-key", "identity"}),
        pins={"expect_vk": ("model", "vk_digest")},
    ),
    Tamper("settings field", "public", lambda d, _: d["model"]["settings"].update(num_rows=1), frozenset({"settings"})),
    Tamper(
        "settings scales with their digest",
        "public",
        lambda d, _: _set_settings(d, "model_output_scales", [7]),
        frozenset({"binding"}),
    ),
    Tamper(
        "settings visibility with its digest",
        "public",
        lambda d, _: _set_settings(
            d, "run_args", {**d["model"]["settings"]["run_args"], "param_visibility": "Private"}
        ),
        frozenset({"settings"}),
    ),
    Tamper(
        "SRS bytes",
        "public",
        lambda d, _: d["srs"].update(reduced=_flip_b64(d["srs"]["reduced"], 300)),
        frozenset({"srs", "proof"}),
    ),
    Tamper(
        "SRS swapped with its fingerprint",
        "public",
        _replace_srs,
        frozenset({"proof", "identity"}),
        pins={"trusted_srs": [("srs", "fingerprint")]},
    ),
    Tamper("SRS size", "public", _set("srs.k", 16), frozenset({"settings"})),
    Tamper(
        "model digest",
        "public",
        _set("model.model_digest", digest_bytes(b"another model")),
        frozenset({"identity"}),
        pins={"expect_model": ("model", "model_digest")},
    ),
    Tamper(
        "signature bytes",
        "public",
        lambda d, _: d["signature"].update(signature=_flip_hex(d["signature"]["signature"], 150)),
        frozenset({"signature"}),
        resign=False,
    ),
    Tamper("signer key", "public", _signer_key, frozenset({"signature"}), resign=False),
    Tamper(
        "signature removed",
        "public",
        _set("signature", None),
        frozenset({"signature"}),
        pins={"expect_signer": ("signature", "public_key")},
        resign=False,
    ),
    Tamper(
        "schema version",
        "public",
        _set("schema_version", "zkinfer.receipt/2"),
        frozenset({"well-formed"}),
        resign=False,
    ),
    Tamper(
        "unknown field",
        "public",
        _set("model.weights_url", "https://example.invalid"),
        frozenset({"well-formed"}),
        resign=False,
    ),
    Tamper("replayed proof from another receipt", "public", _replay("proof"), frozenset({"binding"})),
    Tamper("replayed output from another receipt", "public", _replay("output"), frozenset({"binding", "fast"})),
    Tamper("replayed input from another receipt", "public", _replay("input"), frozenset({"binding"})),
    Tamper(
        "replayed signature from another receipt",
        "public",
        _replay("signature"),
        frozenset({"signature"}),
        resign=False,
    ),
]


@pytest.fixture(scope="module")
def genuine(
    receipt_file: Path, hashed_receipt_file: Path, ceremony_receipt_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Receipts:
    from zkinfer.core.zkp import ezkl_adapter as _ezkl

    other_srs = tmp_path_factory.mktemp("other-srs") / "k1.srs"
    _ezkl.gen_srs(other_srs, 1)  # a fresh ceremony: a different tau
    return Receipts(
        public=json.loads(receipt_file.read_text()),
        hashed=json.loads(hashed_receipt_file.read_text()),
        other=json.loads(ceremony_receipt_file.read_text()),
        other_srs_reduced=base64.b64encode(srs.reduced(other_srs.read_bytes())).decode(),
    )


@pytest.fixture(scope="module")
def attacker() -> identity.NodeKey:
    return identity.new_key()


def _policy(tamper: Tamper, original: Doc, **extra: Any) -> Policy:
    """Pins copied from the genuine receipt: what an auditor who trusts the real node would hold."""

    def value(spec: Any) -> Any:
        if isinstance(spec, list):
            return [value(s) for s in spec]
        section, key = spec
        return original[section][key]

    return Policy(**{key: value(spec) for key, spec in tamper.pins.items()}, **extra)


_GENUINE_CHECKED: set[tuple[str, str]] = set()


def _failed(verdict: Verdict) -> set[str]:
    return {c.name for c in verdict.checks if c.status == "fail"}


def test_there_are_at_least_twelve_tamper_classes() -> None:
    classes = {t.name.split(" ")[0] if t.name.startswith("proof instance") else t.name for t in TAMPERS}
    assert len(classes) >= 12


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.name for t in TAMPERS])
def test_tampered_receipt_is_rejected_by_the_right_check(tamper: Tamper, genuine: Receipts) -> None:
    original = getattr(genuine, tamper.base)
    policy = _policy(tamper, original)
    key = (tamper.base, policy.model_dump_json())
    if key not in _GENUINE_CHECKED:  # once per (receipt, policy): a BLS check costs ~0.3 s
        assert verify_document(copy.deepcopy(original), policy).verified, (
            "the genuine receipt must pass under the same policy"
        )
        _GENUINE_CHECKED.add(key)
    doc = copy.deepcopy(original)
    tamper.edit(doc, genuine)
    assert doc != original
    verdict = verify_document(doc, policy)
    assert verdict.verified is False
    expected = set(tamper.fails) | ({"signature"} if "well-formed" not in tamper.fails else set())
    assert _failed(verdict) == expected, verdict.model_dump_json(indent=1)
    if "well-formed" in tamper.fails:
        assert {c.status for c in verdict.checks[1:]} == {"skip"}


@pytest.mark.parametrize("tamper", [t for t in TAMPERS if t.resign], ids=[t.name for t in TAMPERS if t.resign])
def test_tamper_resigned_by_the_attacker_is_still_rejected(
    tamper: Tamper, genuine: Receipts, attacker: identity.NodeKey
) -> None:
    original = getattr(genuine, tamper.base)
    doc = copy.deepcopy(original)
    tamper.edit(doc, genuine)
    forged = identity.sign_receipt(parse(doc), attacker).model_dump(mode="json")
    unpinned = verify_document(forged, _policy(tamper, original))
    assert _failed(unpinned) == set(tamper.fails), unpinned.model_dump_json(indent=1)
    pinned = verify_document(forged, _policy(tamper, original, expect_signer=original["signature"]["public_key"]))
    assert _failed(pinned) == set(tamper.fails) | {"signature"}
    signature = next(c for c in pinned.checks if c.name == "signature")
    assert "expect_signer" in signature.detail and attacker.public_hex in signature.detail


def test_consistent_forgery_is_caught_only_by_the_signer_pin(genuine: Receipts, attacker: identity.NodeKey) -> None:
    """An attacker re-signs a genuine receipt after editing what no proof covers (when it was issued):
    every cryptographic check passes, so only pinning the node's key rejects it."""
    doc = copy.deepcopy(genuine.public)
    doc["issued_at"] = "2000-01-01T00:00:00.000+00:00"
    forged = identity.sign_receipt(parse(doc), attacker).model_dump(mode="json")
    assert verify_document(forged).verified is True
    verdict = verify_document(forged, Policy(expect_signer=genuine.public["signature"]["public_key"]))
    assert _failed(verdict) == {"signature"}


def test_receipt_from_another_circuit_is_caught_by_the_vk_and_model_pins(genuine: Receipts) -> None:
    other_circuit = copy.deepcopy(genuine.hashed)  # a genuine, valid receipt, but for other circuit
    assert verify_document(other_circuit).verified is True
    by_vk = verify_document(other_circuit, Policy(expect_vk=genuine.public["model"]["vk_digest"]))
    assert _failed(by_vk) == {"identity"}
    assert "expect_vk" in next(c.detail for c in by_vk.checks if c.name == "identity")
    by_model = verify_document(other_circuit, Policy(expect_model=digest_bytes(b"the model the auditor expects")))
    assert _failed(by_model) == {"identity"}
    assert "expect_model" in next(c.detail for c in by_model.checks if c.name == "identity")
