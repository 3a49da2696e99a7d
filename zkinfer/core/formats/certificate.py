"""The quorum certificate format (`zkinfer.certificate/1`): one statement (or, for a label quorum,
one per distinct statement), the nodes that signed it, one aggregate BLS signature per statement.

Reading is strict: a document that is not a certificate raises CertificateError (exit 2) naming the
field. Making one is the network's (`zkinfer.network.certificate.make`), checking one the
auditor's (`zkinfer.verify.certificate_check`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from zkinfer.core.formats import strict_json
from zkinfer.core.formats.receipt import max_receipt_bytes
from zkinfer.core.formats.statement import Statement, StatementError
from zkinfer.core.support.errors import UsageError

SCHEMA: Final = "zkinfer.certificate/1"
MAX_GROUPS: Final = 256
MAX_SIGNERS: Final = 4096
MAX_INFO_CHARS: Final = 2048
INFO_KEYS: Final = ("name", "receipt_url", "receipt_id")
KEY_HEX: Final = re.compile(r"^[0-9a-f]{96}$")
_SIG_HEX = re.compile(r"^[0-9a-f]{192}$")


class CertificateError(UsageError):
    """A certificate document is unreadable or not in the certificate format (exit 2)."""


def label(statement: Statement) -> tuple[int, ...] | None:
    """What a label quorum agrees on: for every output tensor, the first index of its largest
    value (a classifier's class); None when an output is empty. Two statements with the same
    labels may differ in every other value: a label certificate certifies the labels, not the values."""
    if not statement.output or not all(statement.output):
        return None
    return tuple(values.index(max(values)) for values in statement.output)


@dataclass(frozen=True)
class SignedGroup:
    """One statement and the nodes that signed exactly it, with their aggregate signature."""

    statement: Statement
    signers: tuple[bytes, ...]
    aggregate_signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "statement": self.statement.to_json(),
            "signers": [k.hex() for k in self.signers],
            "aggregate_signature": self.aggregate_signature.hex(),
        }


@dataclass(frozen=True)
class Certificate:
    groups: tuple[SignedGroup, ...]
    nodes: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # pk hex -> name, receipt_url, receipt_id (unsigned, informational)

    def __post_init__(self) -> None:
        if not self.groups:
            raise CertificateError("a certificate holds at least one signed statement")

    @property
    def statement(self) -> Statement:
        return self.groups[0].statement

    @property
    def signers(self) -> tuple[bytes, ...]:
        return tuple(k for g in self.groups for k in g.signers)

    def to_json(self) -> dict[str, Any]:
        if len(self.groups) == 1:
            return {"schema": SCHEMA, **self.groups[0].to_json(), "nodes": self.nodes}
        return {"schema": SCHEMA, "statements": [g.to_json() for g in self.groups], "nodes": self.nodes}

    @classmethod
    def from_json(cls, document: Any, where: str = "certificate") -> Certificate:
        if not isinstance(document, dict):
            raise CertificateError(f"{where}: not a JSON object")
        if document.get("schema") != SCHEMA:
            raise CertificateError(
                f"{where}: not a quorum certificate (its schema is {str(document.get('schema'))[:40]!r}, a "
                f"certificate's is {SCHEMA!r})"
            )
        if "statements" in document:
            _keys(document, {"schema", "statements", "nodes"}, where)
            groups = document["statements"]
            if not isinstance(groups, list) or not 1 <= len(groups) <= MAX_GROUPS:
                raise CertificateError(f"{where}.statements: expected a list of 1-{MAX_GROUPS} signed groups")
            parsed = tuple(_group(g, f"{where}.statements[{i}]") for i, g in enumerate(groups))
        else:
            _keys(document, {"schema", "statement", "signers", "aggregate_signature", "nodes"}, where)
            parsed = (_group({k: document[k] for k in ("statement", "signers", "aggregate_signature")}, where),)
        return cls(groups=parsed, nodes=nodes_info(document["nodes"], f"{where}.nodes"))


def _keys(document: dict[str, Any], expected: set[str], where: str) -> None:
    if set(document) != expected:
        extra, missing = sorted(set(document) - expected), sorted(expected - set(document))
        raise CertificateError(f"{where}: unexpected fields {extra} / missing fields {missing}")


def _group(document: Any, where: str) -> SignedGroup:
    if not isinstance(document, dict):
        raise CertificateError(f"{where}: not a JSON object")
    _keys(document, {"statement", "signers", "aggregate_signature"}, where)
    try:
        said = Statement.from_json(document["statement"], f"{where}.statement")
    except StatementError as exc:
        raise CertificateError(str(exc)) from exc
    signers = document["signers"]
    if not isinstance(signers, list) or len(signers) > MAX_SIGNERS:
        raise CertificateError(f"{where}.signers: expected a list of at most {MAX_SIGNERS} public keys")
    for j, key in enumerate(signers):
        if not isinstance(key, str) or not KEY_HEX.fullmatch(key):
            raise CertificateError(f"{where}.signers[{j}]: expected a public key as 96 lowercase hex digits")
    signature = document["aggregate_signature"]
    if not isinstance(signature, str) or not _SIG_HEX.fullmatch(signature):
        raise CertificateError(f"{where}.aggregate_signature: expected 192 lowercase hex digits")
    return SignedGroup(said, tuple(bytes.fromhex(k) for k in signers), bytes.fromhex(signature))


def nodes_info(document: Any, where: str) -> dict[str, dict[str, str]]:
    if not isinstance(document, dict) or len(document) > MAX_SIGNERS:
        raise CertificateError(
            f"{where}: expected an object of at most {MAX_SIGNERS} entries (public key -> name, receipt_url, "
            f"receipt_id)"
        )
    result: dict[str, dict[str, str]] = {}
    for key, info in document.items():
        if not KEY_HEX.fullmatch(key):
            raise CertificateError(f"{where}: key {key[:20]!r}… is not a public key (96 lowercase hex digits)")
        if (
            not isinstance(info, dict)
            or not set(info) <= set(INFO_KEYS)
            or not all(isinstance(v, str) and len(v) <= MAX_INFO_CHARS for v in info.values())
        ):
            raise CertificateError(
                f"{where}.{key[:16]}…: expected an object with string fields among {', '.join(INFO_KEYS)}"
            )
        result[key] = dict(info)
    return result


def consistency(statements: Sequence[Statement]) -> list[str]:
    """Why these statements cannot share one (label) certificate; empty when they can."""
    first = statements[0]
    reasons = []
    for i, other in enumerate(statements[1:], start=2):
        if other.request_id != first.request_id:
            reasons.append(f"group {i} is for request {other.request_id!r}, group 1 for {first.request_id!r}")
        if other.circuit != first.circuit:
            reasons.append(f"group {i} names circuit {other.circuit}, group 1 {first.circuit}")
        if other.input_digest != first.input_digest:
            reasons.append(f"group {i} names input {other.input_digest}, group 1 {first.input_digest}")
        if other.weights_commitment != first.weights_commitment:
            reasons.append(f"group {i} names other weights than group 1")
        if other.output_scales != first.output_scales:
            reasons.append(
                f"group {i} has output scales {list(other.output_scales)}, group 1 {list(first.output_scales)}"
            )
        if label(other) is None or label(other) != label(first):
            reasons.append(
                f"group {i} has labels {_shown(label(other))}, group 1 {_shown(label(first))} (the argmax of every "
                f"output must agree)"
            )
    if len({s.signing_bytes() for s in statements}) != len(statements):
        reasons.append("two groups hold the same statement (its signers belong in one group)")
    return reasons


def _shown(labels: tuple[int, ...] | None) -> str:
    return "none (an empty output)" if labels is None else str(list(labels))


def read(path: Path) -> Any:
    """A certificate file as strict JSON (refusing duplicate keys, NaN, huge numbers), size-capped."""
    return strict_json.load_file(path, max_receipt_bytes(), CertificateError, "certificate file")
