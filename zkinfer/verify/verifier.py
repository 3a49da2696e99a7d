"""Receipt + policy → `Verdict`: every check run and reported by name, even after one fails; a
split receipt (a chain of segments) gets the same checks plus `links`.

The proof check (ezkl, in a worker process) runs on its own thread while the others run, so a
verify costs about one ezkl.verify. The optional `model` rebuild runs last, and only for a
receipt that is otherwise sound, so a hostile receipt cannot make the auditor pay for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkinfer.core.formats import split_receipt
from zkinfer.core.formats.receipt import Receipt, read_document
from zkinfer.core.formats.split_receipt import AnyReceipt
from zkinfer.core.support.errors import ReceiptFormatError, ZkinferError
from zkinfer.verify import checks as c
from zkinfer.verify.policy import Facts, Policy, RuleResult, identity_rules
from zkinfer.verify.verdict import ALWAYS, SPLIT_ALWAYS, Check, CheckName, Status, Verdict, summarize

if TYPE_CHECKING:  # numpy only for the hints: `zkinfer verify` without --input never imports it
    import numpy as np


def _run(name: CheckName, results: list[Check], body: Callable[[], str]) -> bool:
    """Run one check into `results`; True unless it failed."""
    try:
        results.append(Check(name=name, status=Status.PASS, detail=body()))
        return True
    except c.CheckSkipped as exc:
        results.append(Check(name=name, status=Status.SKIP, detail=str(exc)))
        return True
    except c.CheckUnsigned as exc:
        results.append(Check(name=name, status=Status.UNSIGNED, detail=str(exc)))
        return True
    except (c.CheckFailed, ZkinferError) as exc:
        results.append(Check(name=name, status=Status.FAIL, detail=str(exc)))
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # incl. pyo3's PanicException: a verifier gives a verdict, never a traceback
        results.append(Check(name=name, status=Status.FAIL, detail=f"{type(exc).__name__}: {exc}"))
    return False


def _identity_detail(result: RuleResult) -> str:
    """The identity check's reason from the policy rules' findings; raises CheckFailed naming each failed pin."""
    if result.problems:
        raise c.CheckFailed("; ".join(result.problems))
    if not result.pinned:
        return f"unpinned: any circuit would pass ({'; '.join(result.unpinned)})"
    if result.unpinned:
        return f"partly pinned: {', '.join(result.pinned)} as pinned; not pinned: {', '.join(result.unpinned)}"
    return f"pinned: {', '.join(result.pinned)} match the policy"


def _no_rebuild() -> str:
    raise c.CheckFailed(
        "a split receipt's chain cannot be rebuilt from a model file (its cuts and each segment's calibrated "
        "settings are not derivable); pin the chain with expect_circuit, the digest `zkinfer compile --split` "
        "and `zkinfer inspect` print"
    )


def _model_check(receipt: AnyReceipt, model_file: str, sound: list[Check]) -> Check:
    """The `model` check: a rebuild of a one-segment receipt's key from the auditor's model file, run
    only when nothing that no model can fix has failed (a split chain cannot be rebuilt)."""
    results: list[Check] = []
    if not isinstance(receipt, Receipt):
        _run(CheckName.MODEL, results, _no_rebuild)
        return results[0]
    unsound = [r.name for r in sound if r.status == Status.FAIL]
    if unsound:
        return Check(
            name=CheckName.MODEL,
            status=Status.SKIP,
            detail=f"not run: {', '.join(unsound)} already failed, so no model can make this receipt valid",
        )
    from zkinfer.verify.reproduce import check_model  # onnx and a key setup: only when asked for

    _run(CheckName.MODEL, results, lambda: check_model(receipt, Path(model_file)))
    return results[0]


def _identity(receipt: AnyReceipt, policy: Policy, rebuild: list[Check]) -> tuple[RuleResult, list[Check]]:
    """The policy's identity rules over the receipt's actual circuit digest (and the model rebuild, if run)."""
    try:
        digest = c.actual_circuit_digest(receipt)
    except ValueError as exc:  # settings that are not JSON (a NaN from a caller's dict): no digest, no pin matches
        digest = f"none: {exc}"
    facts = Facts(circuit_digest=digest, model_rebuilt=bool(rebuild) and rebuild[0].status == Status.PASS)
    rules = identity_rules(policy).evaluate(receipt, facts)
    identity_check: list[Check] = []
    _run(CheckName.IDENTITY, identity_check, lambda: _identity_detail(rules))
    return rules, identity_check


def verify_receipt(
    receipt: AnyReceipt,
    policy: Policy | None = None,
    source: str = "receipt",
    *,
    given_input: list[np.ndarray] | None = None,
    check_signature: bool = True,
) -> Verdict:
    """Run every check on a parsed receipt, one segment or a split chain (then `links` as well).

    `given_input`: the auditor's own copy of the input (one flat array per input tensor); adds the
    `input` check. `policy.model_file` (the auditor's own copy of the ONNX model) adds the `model`
    check: a compile and key setup, seconds to minutes, with the SRS ceremony's full file cached.
    `check_signature=False` skips the BLS pairing unless the policy pins a signer.
    """
    policy = policy or Policy()
    n = len(receipt.segments)
    proof: list[Check] = []
    sent = threading.Event()

    def check_proof() -> None:
        try:
            _run(CheckName.PROOF, proof, lambda: c.check_proof(receipt, on_sent=sent.set))
        finally:
            sent.set()  # also when the check failed before reaching ezkl

    proving = threading.Thread(target=check_proof, name="zkinfer-verify-proof", daemon=True)
    proving.start()
    sent.wait()  # the proof is handed to the worker first, with no other Python work competing for the GIL
    segments = f"{n} segments, " if n > 1 else ""
    first = [
        Check(
            name=CheckName.WELL_FORMED,
            status=Status.PASS,
            detail=f"schema {receipt.schema_version}, {segments}all fields present and typed",
        )
    ]
    _run(CheckName.VERIFYING_KEY, first, lambda: c.check_vk(receipt))
    _run(CheckName.SETTINGS, first, lambda: c.check_settings(receipt))
    _run(CheckName.SRS, first, lambda: c.check_srs(receipt))
    bound: list[Check] = []
    _run(CheckName.BINDING, bound, lambda: c.check_binding(receipt))
    if n > 1:
        _run(CheckName.LINKS, bound, lambda: c.check_links(receipt))
    _run(CheckName.FAST, bound, lambda: c.check_fast(receipt, policy))
    if given_input is not None:
        _run(CheckName.INPUT, bound, lambda: c.check_input(receipt, given_input))
    signature: list[Check] = []
    _run(CheckName.SIGNATURE, signature, lambda: c.check_signature(receipt, policy, check_signature))
    model_file = policy.model_file
    if model_file is None:  # the identity rules do not wait for the proof: evaluated while ezkl works
        rules, identity_check = _identity(receipt, policy, [])
    proving.join()
    rebuild = [] if model_file is None else [_model_check(receipt, model_file, [*first, *proof, *bound[:1]])]
    if model_file is not None:
        rules, identity_check = _identity(receipt, policy, rebuild)
    return summarize(
        [*first, *proof, *bound, *rebuild, *identity_check, *signature],
        list(rules.pinned),
        list(rules.unpinned),
        source,
        vouched=rules.vouched,
        notes=list(rules.notes),
    )


def verify_document(
    document: Any,
    policy: Policy | None = None,
    source: str = "receipt",
    *,
    given_input: list[np.ndarray] | None = None,
    check_signature: bool = True,
) -> Verdict:
    """Verify a parsed JSON document, a /1 receipt or a split /2 one (by its schema_version): a
    malformed one fails the well-formed check (exit 1)."""
    split = split_receipt.is_split_document(document)
    try:
        receipt = split_receipt.parse_any(document, source)
    except ReceiptFormatError as exc:
        optional = [
            *([CheckName.INPUT] if given_input is not None else []),
            *([CheckName.MODEL] if policy is not None and policy.model_file else []),
        ]
        always, bound_end = (SPLIT_ALWAYS, 8) if split else (ALWAYS, 7)
        names = [*always[1:bound_end], *optional, *always[bound_end:]]
        results = [Check(name=CheckName.WELL_FORMED, status=Status.FAIL, detail=str(exc))]
        results += [Check(name=n, status=Status.SKIP, detail="not run: the receipt is malformed") for n in names]
        return summarize(results, [], [], source)
    return verify_receipt(receipt, policy, source, given_input=given_input, check_signature=check_signature)


def verify_file(
    path: str | os.PathLike[str],
    policy: Policy | None = None,
    *,
    input_path: str | os.PathLike[str] | None = None,
    check_signature: bool = True,
    max_receipt_bytes: int | None = None,
) -> Verdict:
    """Verify a receipt file; an unreadable receipt (or one over `max_receipt_bytes`), input or
    pinned model file raises a UsageError (exit 2)."""
    path = Path(path)
    document = read_document(path, max_receipt_bytes)
    given = None
    if input_path is not None:
        from zkinfer.core.formats import inputs  # numpy: only for an auditor's own input

        given = inputs.load_flat(Path(input_path))
    if policy is not None and policy.model_file:
        from zkinfer.core.zkp import onnx_model

        onnx_model.load(Path(policy.model_file))  # ModelError naming the file when it is missing or not ONNX
    return verify_document(document, policy, str(path), given_input=given, check_signature=check_signature)
