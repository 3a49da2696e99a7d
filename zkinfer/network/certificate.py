"""Quorum certificates: one statement, the nodes that signed it, one aggregate BLS signature.

A certificate is checked offline against a pinned node set (nodes.toml): every signer pinned and
listed once, each group's aggregate signature valid over its statement (FastAggregateVerify; the
pinned proofs of possession, checked when the node set is read, stop rogue keys), and the signers'
static weight at the threshold. With `agree_on = "label"` honest nodes may sign different
quantized outputs with the same label, so a label certificate holds one group per statement, all
for the same request, circuit, input and label.

`check` never raises on a hostile certificate: it returns every reason it is not valid. Reading a
document that is not a certificate at all raises CertificateError (exit 2).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from pydantic import BaseModel

from zkinfer.core import bls, identity, strict_json
from zkinfer.core.errors import UsageError, ZkinferError
from zkinfer.core.ezkl_views import Settings
from zkinfer.core.receipt import Receipt, max_receipt_bytes
from zkinfer.core.statement import SignedStatement, Statement, StatementError, from_receipt, input_digest
from zkinfer.network.nodeset import NodeSet

SCHEMA: Final = "zkinfer.certificate/1"
MAX_GROUPS: Final = 256
MAX_SIGNERS: Final = 4096
MAX_INFO_CHARS: Final = 2048
INFO_KEYS: Final = ("name", "receipt_url", "receipt_id")
_KEY_HEX = re.compile(r"^[0-9a-f]{96}$")
_SIG_HEX = re.compile(r"^[0-9a-f]{192}$")
_RECEIPT_ARG = re.compile(r"^(?P<path>.+)@(?P<row>[0-9]{1,6})/(?P<rows>[0-9]{1,6})$")


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
                f"{where}: not a quorum certificate (its schema is {str(document.get('schema'))[:40]!r}, a certificate's is {SCHEMA!r})"
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
        return cls(groups=parsed, nodes=_nodes(document["nodes"], f"{where}.nodes"))


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
        if not isinstance(key, str) or not _KEY_HEX.fullmatch(key):
            raise CertificateError(f"{where}.signers[{j}]: expected a public key as 96 lowercase hex digits")
    signature = document["aggregate_signature"]
    if not isinstance(signature, str) or not _SIG_HEX.fullmatch(signature):
        raise CertificateError(f"{where}.aggregate_signature: expected 192 lowercase hex digits")
    return SignedGroup(said, tuple(bytes.fromhex(k) for k in signers), bytes.fromhex(signature))


def _nodes(document: Any, where: str) -> dict[str, dict[str, str]]:
    if not isinstance(document, dict) or len(document) > MAX_SIGNERS:
        raise CertificateError(
            f"{where}: expected an object of at most {MAX_SIGNERS} entries (public key -> name, receipt_url, receipt_id)"
        )
    result: dict[str, dict[str, str]] = {}
    for key, info in document.items():
        if not _KEY_HEX.fullmatch(key):
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


def _consistency(statements: Sequence[Statement]) -> list[str]:
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
                f"group {i} has labels {_shown(label(other))}, group 1 {_shown(label(first))} (the argmax of every output must agree)"
            )
    if len({s.signing_bytes() for s in statements}) != len(statements):
        reasons.append("two groups hold the same statement (its signers belong in one group)")
    return reasons


def _shown(labels: tuple[int, ...] | None) -> str:
    return "none (an empty output)" if labels is None else str(list(labels))


def make(
    signed: Sequence[SignedStatement], nodes_info: dict[str, dict[str, str]] | None = None, *, verified: bool = False
) -> Certificate:
    """The certificate for these signed statements: one group per distinct statement (more than one
    only for a label quorum, all naming the same request, circuit, input and label), signers
    sorted, signatures aggregated. Each signature is verified unless the caller says it was
    (`verified=True`); a node that signed two different statements is refused (equivocation)."""
    if not signed:
        raise CertificateError("nothing to certify: give at least one signed statement")
    by_statement: dict[bytes, dict[bytes, SignedStatement]] = {}
    statements: dict[bytes, Statement] = {}
    owner: dict[bytes, bytes] = {}
    for s in signed:
        if not verified:
            try:
                s.verify()
            except StatementError as exc:
                raise CertificateError(f"cannot certify: {exc}") from exc
        message = s.statement.signing_bytes()
        if owner.setdefault(s.public_key, message) != message:
            raise CertificateError(
                f"key {s.public_key.hex()[:16]}… signed two different statements for request {s.statement.request_id!r}: that is equivocation (evidence), not agreement"
            )
        statements[message] = s.statement
        by_statement.setdefault(message, {})[s.public_key] = s
    if len(statements) > 1:
        reasons = _consistency(list(statements.values()))
        if reasons:
            raise CertificateError("these statements cannot share a certificate: " + "; ".join(reasons))
    groups = []
    for message, members in by_statement.items():
        keys = sorted(members)
        groups.append(
            SignedGroup(statements[message], tuple(keys), identity.aggregate([members[k].signature for k in keys]))
        )
    groups.sort(key=lambda g: (-len(g.signers), g.statement.digest()))
    return Certificate(groups=tuple(groups), nodes=_nodes(nodes_info or {}, "nodes_info"))


class CertificateVerdict(BaseModel):
    ok: bool
    reasons: list[str]
    signers: list[str]  # names of the pinned nodes whose signatures verified
    weight: int
    needed: int
    request_id: str = ""
    statement_digest: str = ""  # the certified statement: the heaviest valid group's, whatever the groups' order
    circuit: str = ""
    input_digest: str = ""
    output: list[list[float]] = []  # the certified statement's output, dequantized
    labels: list[int] | None = (
        None  # label mode: the argmax of every output, which is all a label certificate certifies
    )
    input_checked: bool = False  # the auditor's own input digests to the certified input digest
    receipts_checked: int = 0

    def summary(self) -> str:
        if not self.ok:
            return f"NOT VALID: {len(self.reasons)} reason(s) above; this certificate does not show a quorum"
        attested = (
            f"; {self.receipts_checked} receipt(s) attest the certified statement" if self.receipts_checked else ""
        )
        given = " (your --input)" if self.input_checked else " (no --input given: which input this is, is not checked)"
        what = (
            f"labels {self.labels} (label quorum: the values below are one group's)"
            if self.labels is not None
            else "output"
        )
        shown = [[round(v, 6) for v in values[:16]] for values in self.output]
        return (
            f"VALID quorum certificate for request {self.request_id!r} (statement {self.statement_digest}): circuit {self.circuit}, "
            f"input {self.input_digest}{given}, {what} {shown}; signed by {', '.join(self.signers)} (weight {self.weight} of {self.needed} needed){attested}"
        )


def _group_reasons(group: SignedGroup, n: int, pinned: NodeSet, seen: set[bytes]) -> tuple[list[str], bool]:
    """Reasons group `n` is not valid, and whether its aggregate signature verified."""
    reasons: list[str] = []
    keys = list(group.signers)
    if not keys:
        return [f"group {n}: no signers"], False
    for key, times in sorted(Counter(keys).items()):
        if times > 1:
            reasons.append(f"group {n}: signer {key.hex()[:16]}… is listed {times} times (each signer counts once)")
    if keys != sorted(set(keys)):
        reasons.append(f"group {n}: signers are not sorted (the format lists each once, sorted by public key)")
    unpinned = [k for k in dict.fromkeys(keys) if pinned.by_key(k) is None]
    for key in unpinned:
        reasons.append(f"group {n}: signer {key.hex()[:16]}… is not a node in {pinned.source}")
    for key in dict.fromkeys(keys):
        if key in seen:
            reasons.append(
                f"group {n}: signer {key.hex()[:16]}… also signed another group's statement (a node signs one statement per request)"
            )
    seen.update(keys)
    if reasons:
        return [*reasons, f"group {n}: aggregate signature not counted (the signer list is not valid)"], False
    try:  # every pinned node's proof of possession verified when the node set was read (PinnedNode)
        good = bls.fast_aggregate_verify(keys, group.statement.signing_bytes(), group.aggregate_signature)
    except (ValueError, TypeError, ZkinferError):
        good = False
    if not good:
        why = "a listed node did not sign it, or the statement changed after signing"
        return [
            f"group {n}: the aggregate signature does not verify over statement {group.statement.digest()} for its {len(keys)} signer(s): {why}"
        ], False
    return [], True


def check(
    cert: Certificate, pinned: NodeSet, threshold: int | None = None, *, expect_circuit: str | None = None
) -> CertificateVerdict:
    """Every reason `cert` is not a valid quorum certificate under `pinned` (and `threshold`, by
    default the node set's; `expect_circuit`: the circuit digest its statement must name); ok when
    there is none."""
    needed = pinned.quorum.threshold if threshold is None else threshold
    if type(needed) is not int or needed < 1:
        raise UsageError(f"threshold {needed!r}: give a positive whole number (a weight of signers)")
    reasons: list[str] = []
    statements = [g.statement for g in cert.groups]
    if len(cert.groups) > 1:
        if pinned.quorum.agree_on != "label":
            reasons.append(
                f'{len(cert.groups)} different statements, but {pinned.source} agrees on the output (agree_on = "output"): the signers did not agree'
            )
        reasons += _consistency(statements)
    if expect_circuit is not None:
        reasons += [
            f"group {n}: the statement names circuit {g.statement.circuit}, not the expected {expect_circuit}"
            for n, g in enumerate(cert.groups, start=1)
            if g.statement.circuit != expect_circuit
        ]
    seen: set[bytes] = set()
    counted: list[bytes] = []
    heaviest: tuple[int, str, Statement] | None = None  # (weight, digest, statement) of the heaviest valid group
    for n, group in enumerate(cert.groups, start=1):
        found, good = _group_reasons(group, n, pinned, seen)
        reasons += found
        if good:
            counted += group.signers
            ranked = (pinned.weight_of(group.signers), group.statement.digest(), group.statement)
            if heaviest is None or (ranked[0], heaviest[1]) > (
                heaviest[0],
                ranked[1],
            ):  # more weight; on a tie, the smaller digest
                heaviest = ranked
    weight = pinned.weight_of(counted)
    if weight < needed:
        reasons.append(f"the valid signers' weight is {weight}, below the threshold {needed}")
    valid = set(counted)
    names = [node.name for node in pinned.nodes if node.public_key in valid]  # in the node set's order
    certified = cert.statement if heaviest is None else heaviest[2]
    labels = label(certified) if pinned.quorum.agree_on == "label" else None
    return CertificateVerdict(
        ok=not reasons,
        reasons=reasons,
        signers=names,
        weight=weight,
        needed=needed,
        request_id=certified.request_id,
        statement_digest=certified.digest(),
        circuit=certified.circuit,
        input_digest=certified.input_digest,
        output=certified.dequantized(),
        labels=None if labels is None else list(labels),
    )


def check_input(
    cert: Certificate, given: Sequence[np.ndarray], visibility: str, scales: Sequence[int], source: str
) -> list[str]:
    """Reasons the auditor's own input is not the one the certificate's statements name: quantized
    at the circuit's input scales (and committed to with Poseidon when the input is hashed), it
    must give the statement's input digest. `visibility` and `scales` come from the auditor's pin
    (a receipt of the certified circuit, or its compiled circuit)."""
    from zkinfer.core import ezkl_adapter as _ezkl

    if len(given) != len(scales):
        return [f"{source}: {len(given)} input tensor(s), the certified circuit takes {len(scales)}"]
    felts = [[_ezkl.float_to_felt(float(v), scale) for v in array] for array, scale in zip(given, scales, strict=True)]
    if visibility == "hashed":
        felts = [[_ezkl.commit_tensor(tensor)] for tensor in felts]
    mine = input_digest(visibility, felts)
    wrong = sorted({g.statement.input_digest for g in cert.groups if g.statement.input_digest != mine})
    if wrong:
        return [
            f"{source} digests to {mine} (at input scales {list(scales)}, {visibility}), but the certificate's statement names input {', '.join(wrong)}: it certifies another input"
        ]
    return []


def _differences(attested: Statement, said: Statement) -> str:
    fields = [
        name
        for name, a, b in (
            ("circuit", attested.circuit, said.circuit),
            ("input", attested.input_digest, said.input_digest),
            ("weights", attested.weights_commitment, said.weights_commitment),
            ("output scales", attested.output_scales, said.output_scales),
            ("output", attested.output, said.output),
        )
        if a != b
    ]
    return ", ".join(fields) or "nothing (identical)"


def check_receipts(
    cert: Certificate, receipts: Sequence[tuple[Receipt, int, int]], *, verify: bool = True
) -> list[str]:
    """Reasons any of these receipts (with its batch row and row count) does not attest a statement
    of `cert`; each receipt is first verified fully and isolated (`verify=False`: the caller did)."""
    reasons: list[str] = []
    for i, (receipt, row, rows) in enumerate(receipts, start=1):
        if verify:
            from zkinfer.verify.verifier import verify_receipt

            verdict = verify_receipt(receipt, None, f"receipt {i}")
            if not verdict.verified:
                reasons.append(
                    f"receipt {i}: does not verify ({', '.join(verdict.failed())} failed), so it attests nothing"
                )
                continue
        try:
            attested = from_receipt(receipt, cert.statement.request_id, row, rows)
        except StatementError as exc:
            reasons.append(f"receipt {i}: no statement can be read from it at batch row {row} of {rows} ({exc})")
            continue
        if any(g.statement == attested for g in cert.groups):
            continue
        signer = (
            bytes.fromhex(receipt.signature.public_key)
            if receipt.signature is not None and _KEY_HEX.fullmatch(receipt.signature.public_key)
            else None
        )
        said = next((g.statement for g in cert.groups if signer in g.signers), cert.statement)
        reasons.append(
            f"receipt {i} (batch row {row} of {rows}) proves another statement than the certificate's: its {_differences(attested, said)} differ(s)"
        )
    return reasons


def read(path: Path) -> Any:
    """A certificate file as strict JSON (refusing duplicate keys, NaN, huge numbers), size-capped."""
    return strict_json.load_file(path, max_receipt_bytes(), CertificateError, "certificate file")


def is_certificate(path: Path) -> bool:
    """Whether a file is a certificate (its top-level schema); parsed only when it names that schema."""
    try:
        with open(path, "rb") as file:
            data = file.read(max_receipt_bytes() + 1)
    except OSError:
        return False
    if SCHEMA.encode() not in data:
        return False
    try:
        document = strict_json.loads(data)
    except strict_json.StrictJSONError:
        return False
    return isinstance(document, dict) and document.get("schema") == SCHEMA


def receipt_arg(text: str) -> tuple[Path, int, int]:
    """`RECEIPT.json` (a one-row circuit) or `RECEIPT.json@ROW/ROWS` (row ROW of a batch of ROWS)."""
    match = _RECEIPT_ARG.fullmatch(text)
    if match is None:
        return Path(text), 0, 1
    row, rows = int(match["row"]), int(match["rows"])
    if not 0 <= row < rows:
        raise UsageError(
            f"--receipt {text}: batch row {row} is not below the row count {rows}; write PATH@ROW/ROWS, e.g. receipt.json@0/4"
        )
    return Path(match["path"]), row, rows


def verify_file(
    path: Path,
    nodes_path: Path,
    threshold: int | None = None,
    receipts: Sequence[str] = (),
    expect_circuit: str | None = None,
    input_path: Path | None = None,
) -> CertificateVerdict:
    """The CLI's check: a certificate file against a nodes.toml, optionally the receipts it names
    and the auditor's own input (whose scales come from the first receipt, once it attests the
    certified statement: a certificate alone does not say how its circuit quantizes an input)."""
    from zkinfer.core import inputs
    from zkinfer.core.instance_layout import of_settings
    from zkinfer.core.receipt import load as load_receipt
    from zkinfer.network import nodeset

    if expect_circuit is not None:
        expect_circuit = expect_circuit.strip().lower()
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", expect_circuit):
            raise UsageError(
                f"expect_circuit: {expect_circuit[:80]!r} is not a digest; expected sha256:<64 hex digits>, as `zkinfer inspect` prints it"
            )
    if input_path is not None and not receipts:
        raise UsageError(
            f"--input {input_path}: a certificate names its input by digest, and how the circuit quantizes an input (its scales) comes from a "
            "receipt of it: add --receipt RECEIPT.json (it must verify and attest the certified statement)"
        )
    cert = Certificate.from_json(read(path), str(path))
    loaded = [(load_receipt(p), row, rows) for p, row, rows in map(receipt_arg, receipts)]
    given = inputs.load_flat(input_path) if input_path is not None else None
    pinned = nodeset.load(nodes_path)  # last: its proofs of possession cost ~0.7 s a node
    verdict = check(cert, pinned, threshold, expect_circuit=expect_circuit)
    if loaded:
        extra = check_receipts(cert, loaded)
        verdict = verdict.model_copy(
            update={
                "ok": verdict.ok and not extra,
                "reasons": [*verdict.reasons, *extra],
                "receipts_checked": len(loaded),
            }
        )
    if given is not None and input_path is not None:
        settings = loaded[0][0].model.settings
        layout = of_settings(settings, "receipt.model.settings")
        wrong = check_input(
            cert,
            given,
            layout.input_visibility,
            Settings(settings, "receipt.model.settings").input_scales,
            f"--input {input_path}",
        )
        verdict = verdict.model_copy(
            update={"ok": verdict.ok and not wrong, "reasons": [*verdict.reasons, *wrong], "input_checked": not wrong}
        )
    return verdict
