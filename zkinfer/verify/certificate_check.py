"""Checking a quorum certificate against a pinned node set: the auditor's work, offline.

The node set (nodes.toml, `verify.nodeset`) is the policy, as a receipt's pins are: every signer
pinned and listed once, each group's aggregate signature valid over its statement
(FastAggregateVerify; the pinned proofs of possession, checked when the node set is read, stop
rogue keys), and the signers' static weight at the threshold. With `agree_on = "label"` honest
nodes may sign different quantized outputs with the same label, so a label certificate holds one
group per statement, all for the same request, circuit, input and label.

`check` never raises on a hostile certificate: its verdict names every reason it is not valid, each
under the check it belongs to. A document that is not a certificate raises CertificateError (exit 2).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkinfer.core.crypto import bls
from zkinfer.core.formats.certificate import KEY_HEX, Certificate, SignedGroup, consistency, label
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.formats.statement import Statement, StatementError, from_receipt, input_digest
from zkinfer.core.support.errors import UsageError, ZkinferError
from zkinfer.verify import nodeset
from zkinfer.verify.nodeset import NodeSet
from zkinfer.verify.verdict import CertificateFacts, Check, CheckName, Document, Status, Verdict

if TYPE_CHECKING:  # numpy only for the hints (see verifier)
    import numpy as np

_RECEIPT_ARG = re.compile(r"^(?P<path>.+)@(?P<row>[0-9]{1,6})/(?P<rows>[0-9]{1,6})$")
# The checks a certificate verdict reports, in order; each reason found lands under one of them.
CHECKS = (
    CheckName.AGREEMENT,
    CheckName.IDENTITY,
    CheckName.SIGNERS,
    CheckName.SIGNATURE,
    CheckName.QUORUM,
    CheckName.RECEIPTS,
    CheckName.INPUT,
)
Found = list[tuple[CheckName, str]]  # (the check, a reason it fails), in the order they were found


def _group_reasons(group: SignedGroup, n: int, pinned: NodeSet, seen: set[bytes]) -> tuple[Found, bool]:
    """Reasons group `n` is not valid, and whether its aggregate signature verified."""
    found: Found = []
    keys = list(group.signers)
    if not keys:
        return [(CheckName.SIGNERS, f"group {n}: no signers")], False
    for key, times in sorted(Counter(keys).items()):
        if times > 1:
            found.append(
                (
                    CheckName.SIGNERS,
                    f"group {n}: signer {key.hex()[:16]}… is listed {times} times (each signer counts once)",
                )
            )
    if keys != sorted(set(keys)):
        found.append(
            (CheckName.SIGNERS, f"group {n}: signers are not sorted (the format lists each once, sorted by public key)")
        )
    for key in [k for k in dict.fromkeys(keys) if pinned.by_key(k) is None]:
        found.append((CheckName.SIGNERS, f"group {n}: signer {key.hex()[:16]}… is not a node in {pinned.source}"))
    for key in dict.fromkeys(keys):
        if key in seen:
            found.append(
                (
                    CheckName.SIGNERS,
                    f"group {n}: signer {key.hex()[:16]}… also signed another group's statement "
                    "(a node signs one statement per request)",
                )
            )
    seen.update(keys)
    if found:
        why = f"group {n}: aggregate signature not counted (the signer list is not valid)"
        return [*found, (CheckName.SIGNATURE, why)], False
    try:  # every pinned node's proof of possession verified when the node set was read (PinnedNode)
        good = bls.fast_aggregate_verify(keys, group.statement.signing_bytes(), group.aggregate_signature)
    except (ValueError, TypeError, ZkinferError):
        good = False
    if not good:
        why = "a listed node did not sign it, or the statement changed after signing"
        return [
            (
                CheckName.SIGNATURE,
                f"group {n}: the aggregate signature does not verify over statement {group.statement.digest()} "
                f"for its {len(keys)} signer(s): {why}",
            )
        ], False
    return [], True


def _summary(facts: CertificateFacts, ok: bool) -> str:
    if not ok:
        return f"NOT VALID: {len(facts.reasons)} reason(s) above; this certificate does not show a quorum"
    attested = f"; {facts.receipts_checked} receipt(s) attest the certified statement" if facts.receipts_checked else ""
    given = " (your --input)" if facts.input_checked else " (no --input given: which input this is, is not checked)"
    what = (
        f"labels {facts.labels} (label quorum: the values below are one group's)"
        if facts.labels is not None
        else "output"
    )
    shown = [[round(v, 6) for v in values[:16]] for values in facts.output]
    return (
        f"VALID quorum certificate for request {facts.request_id!r} (statement {facts.statement_digest}): "
        f"circuit {facts.circuit}, input {facts.input_digest}{given}, {what} {shown}; signed by "
        f"{', '.join(facts.signers)} (weight {facts.weight} of {facts.needed} needed){attested}"
    )


def _passed(name: CheckName, facts: CertificateFacts, groups: int, expect_circuit: str | None) -> Check:
    """What a check that found nothing wrong established."""
    if name == CheckName.AGREEMENT:
        detail = "one statement" if groups == 1 else f"{groups} statements with one request, circuit, input and label"
    elif name == CheckName.IDENTITY:
        if expect_circuit is None:
            return Check(
                name=name,
                status=Status.UNPINNED,
                detail=f"circuit {facts.circuit} unpinned: give --expect-circuit to require it",
            )
        detail = f"the statement names the pinned circuit {expect_circuit}"
    elif name == CheckName.SIGNERS:
        detail = f"every signer is pinned and listed once: {', '.join(facts.signers)}"
    elif name == CheckName.SIGNATURE:
        detail = f"{groups} aggregate signature(s) verify over their statements"
    elif name == CheckName.QUORUM:
        detail = f"weight {facts.weight} of {facts.needed} needed"
    elif name == CheckName.RECEIPTS:
        if not facts.receipts_checked:
            return Check(name=name, status=Status.SKIP, detail="no --receipt given")
        detail = f"{facts.receipts_checked} receipt(s) verify and attest the certified statement"
    else:
        if not facts.input_checked:
            return Check(name=name, status=Status.SKIP, detail="no --input given: which input this is, is not checked")
        detail = f"your input digests to the certified {facts.input_digest}"
    return Check(name=name, status=Status.PASS, detail=detail)


def verdict_of(
    found: Found, facts: CertificateFacts, groups: int, expect_circuit: str | None, source: str = "certificate"
) -> Verdict:
    """The one verdict for a certificate: a check per name (FAIL with its reasons, else what it established)."""
    facts = facts.model_copy(update={"reasons": [reason for _, reason in found]})
    checks = []
    for name in CHECKS:
        mine = [reason for check, reason in found if check == name]
        if mine:
            checks.append(Check(name=name, status=Status.FAIL, detail="; ".join(mine)))
        else:
            checks.append(_passed(name, facts, groups, expect_circuit))
    ok = not found
    return Verdict(
        verified=ok,
        identity_pinned=ok and expect_circuit is not None,
        summary=_summary(facts, ok),
        checks=checks,
        pinned=[f"the node set {source}", *([f"circuit {expect_circuit}"] if expect_circuit else [])] if ok else [],
        unpinned=[] if expect_circuit else ["circuit (--expect-circuit)"],
        source=source,
        document=Document.CERTIFICATE,
        certificate=facts,
    )


def check(
    cert: Certificate, pinned: NodeSet, threshold: int | None = None, *, expect_circuit: str | None = None
) -> Verdict:
    """Every reason `cert` is not a valid quorum certificate under `pinned` (and `threshold`, by
    default the node set's; `expect_circuit`: the circuit digest its statement must name); verified
    when there is none."""
    found, facts = _findings(cert, pinned, threshold, expect_circuit)
    return verdict_of(found, facts, len(cert.groups), expect_circuit, pinned.source)


def _findings(
    cert: Certificate, pinned: NodeSet, threshold: int | None, expect_circuit: str | None
) -> tuple[Found, CertificateFacts]:
    needed = pinned.quorum.threshold if threshold is None else threshold
    if type(needed) is not int or needed < 1:
        raise UsageError(f"threshold {needed!r}: give a positive whole number (a weight of signers)")
    found: Found = []
    statements = [g.statement for g in cert.groups]
    if len(cert.groups) > 1:
        if pinned.quorum.agree_on != "label":
            found.append(
                (
                    CheckName.AGREEMENT,
                    f"{len(cert.groups)} different statements, but {pinned.source} agrees on the output "
                    '(agree_on = "output"): the signers did not agree',
                )
            )
        found += [(CheckName.AGREEMENT, reason) for reason in consistency(statements)]
    if expect_circuit is not None:
        found += [
            (
                CheckName.IDENTITY,
                f"group {n}: the statement names circuit {g.statement.circuit}, not the expected {expect_circuit}",
            )
            for n, g in enumerate(cert.groups, start=1)
            if g.statement.circuit != expect_circuit
        ]
    seen: set[bytes] = set()
    counted: list[bytes] = []
    heaviest: tuple[int, str, Statement] | None = None  # (weight, digest, statement) of the heaviest valid group
    for n, group in enumerate(cert.groups, start=1):
        reasons, good = _group_reasons(group, n, pinned, seen)
        found += reasons
        if good:
            counted += group.signers
            ranked = (pinned.weight_of(group.signers), group.statement.digest(), group.statement)
            # more weight; on a tie, the smaller digest
            if heaviest is None or (ranked[0], heaviest[1]) > (heaviest[0], ranked[1]):
                heaviest = ranked
    weight = pinned.weight_of(counted)
    if weight < needed:
        found.append((CheckName.QUORUM, f"the valid signers' weight is {weight}, below the threshold {needed}"))
    valid = set(counted)
    certified = cert.statement if heaviest is None else heaviest[2]
    labels = label(certified) if pinned.quorum.agree_on == "label" else None
    facts = CertificateFacts(
        reasons=[],
        signers=[node.name for node in pinned.nodes if node.public_key in valid],  # in the node set's order
        weight=weight,
        needed=needed,
        request_id=certified.request_id,
        statement_digest=certified.digest(),
        circuit=certified.circuit,
        input_digest=certified.input_digest,
        output=certified.dequantized(),
        labels=None if labels is None else list(labels),
    )
    return found, facts


def check_input(
    cert: Certificate, given: Sequence[np.ndarray], visibility: str, scales: Sequence[int], source: str
) -> list[str]:
    """Reasons the auditor's own input is not the one the certificate's statements name: quantized
    at the circuit's input scales (and committed to with Poseidon when the input is hashed), it
    must give the statement's input digest. `visibility` and `scales` come from the auditor's pin
    (a receipt of the certified circuit, or its compiled circuit)."""
    from zkinfer.core.zkp import ezkl_adapter as _ezkl

    if len(given) != len(scales):
        return [f"{source}: {len(given)} input tensor(s), the certified circuit takes {len(scales)}"]
    felts = [[_ezkl.float_to_felt(float(v), scale) for v in array] for array, scale in zip(given, scales, strict=True)]
    if visibility == "hashed":
        felts = [[_ezkl.commit_tensor(tensor)] for tensor in felts]
    mine = input_digest(visibility, felts)
    wrong = sorted({g.statement.input_digest for g in cert.groups if g.statement.input_digest != mine})
    if wrong:
        return [
            f"{source} digests to {mine} (at input scales {list(scales)}, {visibility}), but the certificate's "
            f"statement names input {', '.join(wrong)}: it certifies another input"
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
    from zkinfer.verify.verifier import verify_receipt

    reasons: list[str] = []
    for i, (receipt, row, rows) in enumerate(receipts, start=1):
        if verify:
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
            if receipt.signature is not None and KEY_HEX.fullmatch(receipt.signature.public_key)
            else None
        )
        said = next((g.statement for g in cert.groups if signer in g.signers), cert.statement)
        reasons.append(
            f"receipt {i} (batch row {row} of {rows}) proves another statement than the certificate's: "
            f"its {_differences(attested, said)} differ(s)"
        )
    return reasons


def receipt_arg(text: str) -> tuple[Path, int, int]:
    """`RECEIPT.json` (a one-row circuit) or `RECEIPT.json@ROW/ROWS` (row ROW of a batch of ROWS)."""
    match = _RECEIPT_ARG.fullmatch(text)
    if match is None:
        return Path(text), 0, 1
    row, rows = int(match["row"]), int(match["rows"])
    if not 0 <= row < rows:
        raise UsageError(
            f"--receipt {text}: batch row {row} is not below the row count {rows}; "
            "write PATH@ROW/ROWS, e.g. receipt.json@0/4"
        )
    return Path(match["path"]), row, rows


def check_document(
    document: Any,
    source: str,
    pinned: NodeSet | Path,
    threshold: int | None = None,
    receipts: Sequence[str] = (),
    expect_circuit: str | None = None,
    input_path: Path | None = None,
) -> Verdict:
    """The auditor's whole check of a certificate document: against the pinned node set, optionally
    the receipts it names and the auditor's own input (whose scales come from the first receipt,
    once it attests the certified statement: a certificate alone does not say how its circuit
    quantizes an input). `pinned`: the node set, or its nodes.toml, read last (its proofs of
    possession cost ~0.7 s a node with the fallback BLS library)."""
    from zkinfer.core.formats import inputs
    from zkinfer.core.formats.receipt import load as load_receipt
    from zkinfer.core.zkp.instance_layout import of_settings

    expect_circuit = _circuit_pin(expect_circuit)
    if input_path is not None and not receipts:
        raise UsageError(
            f"--input {input_path}: a certificate names its input by digest, and how the circuit quantizes an input "
            "(its scales) comes from a receipt of it: add --receipt RECEIPT.json (it must verify and attest the "
            "certified statement)"
        )
    cert = Certificate.from_json(document, source)
    loaded = [(load_receipt(p), row, rows) for p, row, rows in map(receipt_arg, receipts)]
    given = inputs.load_flat(input_path) if input_path is not None else None
    if isinstance(pinned, Path):
        pinned = nodeset.load(pinned)
    found, facts = _findings(cert, pinned, threshold, expect_circuit)
    if loaded:
        found += [(CheckName.RECEIPTS, reason) for reason in check_receipts(cert, loaded)]
        facts = facts.model_copy(update={"receipts_checked": len(loaded)})
    if given is not None and input_path is not None:
        settings = loaded[0][0].model.settings
        layout = of_settings(settings, "receipt.model.settings")
        scales = loaded[0][0].model.settings_view.input_scales
        wrong = check_input(cert, given, layout.input_visibility, scales, f"--input {input_path}")
        found += [(CheckName.INPUT, reason) for reason in wrong]
        facts = facts.model_copy(update={"input_checked": not wrong})
    return verdict_of(found, facts, len(cert.groups), expect_circuit, pinned.source)


def _circuit_pin(expect_circuit: str | None) -> str | None:
    if expect_circuit is None:
        return None
    expect_circuit = expect_circuit.strip().lower()
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", expect_circuit):
        raise UsageError(
            f"expect_circuit: {expect_circuit[:80]!r} is not a digest; expected sha256:<64 hex digits>, "
            "as `zkinfer inspect` prints it"
        )
    return expect_circuit
