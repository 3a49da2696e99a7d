"""Mutations of a genuine receipt, and the property every mutated receipt must satisfy.

Shared by the CI test (`tests/test_fuzz_receipts.py`, hypothesis, short budget) and the
standalone fuzz target (`fuzz/fuzz_receipt.py`, hypothesis or atheris, time budget).

The property: verification returns a Verdict or raises a ZkinferError, never anything else; and
a mutated receipt is accepted only if the mutation did not change what it claims:
  * without the signature check, but with the circuit and SRS pinned: the proven statement
    (key, SRS, input or its commitment, weights commitment, proven output) is unchanged;
  * with the signature check: a signed receipt that is accepted is the original, byte for byte
    in its signed content, from the original signer (dropping the signature is allowed: the
    result is a valid *unsigned* receipt, caught by `--expect-signer`).
  * every check's detail is safe to show: no control or format characters (it quotes the receipt);
  * at the JSON level, a duplicate key or a number beyond float32 is refused by the reader, with
    the path named, before anything else sees the document.
The BLS check is pure Python (~0.3 s), so it only runs when the cheap checks accept a mutation.
"""

from __future__ import annotations

import base64
import copy
import json
import math
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from zkinfer.core.crypto.digest import circuit_digest
from zkinfer.core.formats import strict_json
from zkinfer.core.formats.receipt import Receipt, parse
from zkinfer.core.support.errors import ZkinferError
from zkinfer.core.support.text import visible
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.verify import FLOAT_TOLERANCE, Verdict, verify_document
from zkinfer.verify.policy import Policy

Path_ = tuple[str | int, ...]
OPS = ("replace", "delete", "flip_char", "flip_b64_byte", "truncate", "case", "number", "duplicate", "wrap", "control")
# Mutations of the JSON text itself, which no parsed document can express.
TEXT_OPS = ("none", "duplicate_key", "raw_number")
# Numbers as JSON text: all but the last are beyond float32 (or not numbers) and must be refused.
RAW_NUMBERS = ("9" * 5000, "-" + "9" * 400, "1e39", "-1e400", "3.5e38", "1" + "0" * 39, "NaN", "-Infinity", "3.4e38")
# Strings that attack whoever shows the receipt: escape sequences, a fake PASS, markup, bidi overrides.
CONTROL_STRINGS = ("\x1b[2J", "\r\x1b[2K[green]PASS[/]", "[/]", "x[bold]", "\u202e", "\x00", "\x9b31m", "\n\n")


def paths(doc: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every location in the document (containers and leaves), the root excluded."""
    found: list[Path_] = []
    children: list[tuple[str | int, Any]] = (
        list(doc.items()) if isinstance(doc, dict) else list(enumerate(doc)) if isinstance(doc, list) else []
    )
    for key, value in children:
        here = (*prefix, key)
        found.append(here)
        if key != "instances" or len(prefix) < 3:  # a proof's instances are many: keep the path list small
            found.extend(paths(value, here))
    return found


def _parent(doc: Any, path: Path_) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def _flip_char(text: str, at: int) -> str:
    if not text:
        return "0"
    at %= len(text)
    alphabet = (
        "0123456789abcdef"
        if all(c in "0123456789abcdefABCDEF" for c in text)
        else "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    )
    return text[:at] + alphabet[(alphabet.find(text[at]) + 1) % len(alphabet)] + text[at + 1 :]


def _flip_b64_byte(text: str, at: int) -> str:
    try:
        data = bytearray(base64.b64decode(text, validate=True))
    except ValueError:
        return _flip_char(text, at)
    if not data:
        return text + "AA=="
    data[at % len(data)] ^= 1 << (at % 8)
    return base64.b64encode(bytes(data)).decode()


def _number(value: Any, at: int) -> Any:
    choices: list[Any] = [0, -1, 1, 2**31, 2**64 + 1, 10**400, -(10**30), 0.5, 1e308, float("nan"), float("inf"), True]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return choices[at % len(choices)]
    return [value + 1, value - 1, -value, value * 2, *choices][at % (4 + len(choices))]


def apply(doc: dict[str, Any], path: Path_, op: str, at: int, value: Any) -> dict[str, Any]:
    """A mutated deep copy of `doc`: `op` at `path`; `at` and `value` parameterize it."""
    doc = copy.deepcopy(doc)
    parent = _parent(doc, path)
    key = path[-1]
    old = parent[key]
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = value
    elif op == "flip_char" and isinstance(old, str):
        parent[key] = _flip_char(old, at)
    elif op == "flip_b64_byte" and isinstance(old, str):
        parent[key] = _flip_b64_byte(old, at)
    elif op == "truncate" and isinstance(old, str | list):
        parent[key] = old[: (at % (len(old) or 1))]
    elif op == "case" and isinstance(old, str):
        parent[key] = old.upper() if at % 2 else "0x" + old
    elif op == "duplicate" and isinstance(old, list) and old:
        parent[key] = [*old, old[at % len(old)]]
    elif op == "wrap":
        parent[key] = [old] if at % 2 else {"value": old}
    elif op == "control":
        attack = CONTROL_STRINGS[at % len(CONTROL_STRINGS)]
        parent[key] = (
            old[: at % (len(old) + 1)] + attack + old[at % (len(old) + 1) :] if isinstance(old, str) else attack
        )
    else:  # "number", or an op that does not fit this value
        parent[key] = _number(old, at)
    return doc


SPECIAL_STRINGS = ["", "00" * 32, "ff" * 32, "sha256:" + "0" * 64, "AAAA", "zkinfer.receipt/1"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(SPECIAL_STRINGS),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated(
    draw: st.DrawFn, doc: dict[str, Any], all_paths: list[Path_]
) -> tuple[dict[str, Any], list[tuple[Path_, str, int]]]:
    """One to three mutations of `doc`, with a description of each (for failure reports)."""
    applied: list[tuple[Path_, str, int]] = []
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(doc) if applied else all_paths
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        op = draw(st.sampled_from(OPS))
        at = draw(st.integers(0, 1 << 16))
        doc = apply(doc, path, op, at, draw(json_values) if op == "replace" else None)
        applied.append((path, op, at))
    return doc, applied


_SENTINEL = "\u0000zkinfer-fuzz\u0000"


def render(doc: dict[str, Any], path: Path_, op: str, at: int) -> tuple[str, bool]:
    """`doc` as JSON text with a text-level mutation at `path`: the key given twice (the genuine
    value first, a changed one last), or the value replaced by a raw number token. Also returns
    whether a strict reader must refuse the text."""
    doc = copy.deepcopy(doc)
    parent, key = _parent(doc, path), path[-1]
    if op == "duplicate_key" and isinstance(parent, dict):
        parent[_SENTINEL] = _number(parent[key], at)
        return json.dumps(doc).replace(json.dumps(_SENTINEL), json.dumps(key), 1), True
    if op == "raw_number":
        token = RAW_NUMBERS[at % len(RAW_NUMBERS)]
        parent[key] = _SENTINEL
        return json.dumps(doc).replace(json.dumps(_SENTINEL), token, 1), token != RAW_NUMBERS[-1]
    return json.dumps(doc), False


@st.composite
def mutated_text(draw: st.DrawFn, doc: dict[str, Any], all_paths: list[Path_]) -> tuple[str, list[Any], bool]:
    """`mutated`, then rendered as JSON text with one text-level mutation (or none):
    (text, the mutations, whether a strict reader must refuse it)."""
    changed, applied = draw(mutated(doc, all_paths))
    op = draw(st.sampled_from(TEXT_OPS))
    candidates = paths(changed)
    if op == "none" or not candidates:
        return json.dumps(changed), applied, False
    path, at = draw(st.sampled_from(candidates)), draw(st.integers(0, 1 << 16))
    text, refuse = render(changed, path, op, at)
    return text, [*applied, (path, op, at)], refuse


def check_text(genuine: Genuine, text: str, description: object = "", must_refuse: bool = False) -> str:
    """`check` for a receipt's JSON text, read by the project's strict reader first."""
    try:
        doc = strict_json.loads(text)
    except strict_json.StrictJSONError as exc:
        assert str(exc).startswith(("$", "not valid JSON")), f"refusal does not name the path: {exc}"
        return "refused as JSON"
    assert not must_refuse, f"the strict reader accepted {description}"
    return check(genuine, doc, description)


@dataclass(frozen=True)
class Genuine:
    """The original receipt, parsed once, and the pins an auditor who trusts it would hold."""

    doc: dict[str, Any]
    receipt: Receipt
    pins: Policy

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Genuine:
        receipt = parse(doc)
        return cls(
            doc,
            receipt,
            Policy(
                expect_circuit=circuit_digest(receipt.model.vk_digest, receipt.model.settings),
                trusted_srs=[receipt.srs.fingerprint],
            ),
        )


def _statement(receipt: Receipt) -> tuple[Any, ...]:
    """What the proof attests: key, SRS, the quantized input (or its commitment), the weights'
    commitment and the proven output. (Names and shapes are labels; the signature covers them.)"""
    section = receipt.input
    quantized = (
        [
            [_ezkl.float_to_felt(v, scale) for v in t.values]
            for t, scale in zip(section.tensors, section.scales, strict=True)
        ]
        if section.tensors is not None
        else None
    )
    return (
        receipt.model.vk_digest,
        receipt.srs.fingerprint,
        section.visibility,
        quantized,
        [c.lower() for c in section.commitment or []],
        receipt.params.visibility,
        [c.lower() for c in receipt.params.commitment or []],
        [[f.lower() for f in felts] for felts in receipt.output.felts],
    )


def _values_close(a: Receipt, b: Receipt) -> bool:
    pairs = [
        (x, y)
        for ta, tb in zip(a.output.tensors, b.output.tensors, strict=True)
        for x, y in zip(ta.values, tb.values, strict=True)
    ]
    return all(math.isclose(x, y, rel_tol=FLOAT_TOLERANCE * 4, abs_tol=FLOAT_TOLERANCE * 4) for x, y in pairs)


def _signed_meaning(receipt: Receipt) -> tuple[bytes, str, str]:
    assert receipt.signature is not None
    return (
        receipt.canonical_bytes(),
        receipt.signature.public_key.lower().removeprefix("0x"),
        receipt.signature.signature.lower(),
    )


def check(genuine: Genuine, doc: Any, description: object = "") -> str:
    """Verify a mutated document and assert the property; returns the outcome ("rejected", ...)."""
    try:
        verdict = verify_document(doc, genuine.pins, check_signature=False)
    except ZkinferError:
        return "typed error"
    assert isinstance(verdict, Verdict)
    unsafe = [c.name for c in verdict.checks if visible(c.detail) != c.detail]
    assert not unsafe, f"check details {unsafe} carry control characters: {description}"
    if not verdict.verified:
        return "rejected"
    mutated_receipt = parse(doc)
    assert _statement(mutated_receipt) == _statement(genuine.receipt), f"accepted a changed statement: {description}"
    assert _values_close(mutated_receipt, genuine.receipt), f"accepted a changed output value: {description}"
    if mutated_receipt.signature is None:
        return "accepted unsigned"
    if _signed_meaning(mutated_receipt) == _signed_meaning(genuine.receipt):
        return "accepted no-op"
    full = verify_document(doc, genuine.pins)
    assert not full.verified, f"accepted a changed signed receipt: {description}"
    return "rejected by signature"
