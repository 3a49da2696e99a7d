"""The one entry point for every document an auditor checks: the check is picked by the document's
own schema field, parsed as strict JSON (never by searching its bytes), and every check returns
the one `Verdict`.

- `zkinfer.receipt/1` and `/2` (`schema_version`): the receipt checks under a `Policy`;
- `zkinfer.certificate/1` (`schema`): against the pinned node set (`verify.nodeset`), the policy;
- `zkinfer.evidence/1` (`schema`): whether the accusation holds;
- `zkinfer.llm-evidence/1` (`schema`): whether your re-execution finds the mismatch too (`verify.llm_evidence`);
- `zkinfer.llm-receipt/1` (`schema_version`): the LLM side's check, passed in by the caller
  (`zkinfer.llm` stands above verify/, so this module does not import it; `verify.llm_evidence`,
  from the LLM work, still imports it lazily to re-execute).
A document naming none of these is checked as a receipt, whose well-formed check then fails (exit 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from zkinfer.core.formats import certificate, evidence
from zkinfer.core.formats.receipt import read_document
from zkinfer.core.support.errors import UsageError
from zkinfer.verify.policy import Policy
from zkinfer.verify.verdict import Document, Verdict

if TYPE_CHECKING:  # a certificate's node set: imported by certificate_check when one is checked
    from zkinfer.verify.nodeset import NodeSet

LLM_RECEIPT_SCHEMA: Final = "zkinfer.llm-receipt/1"
LlmCheck = Callable[[Any, str], Verdict]  # (parsed LLM receipt, source) -> its verdict


@dataclass(frozen=True)
class Read:
    """A document read once: which kind its schema names, its parsed JSON, and where it came from."""

    kind: Document
    body: Any
    source: str


def _is_llm_evidence(schema: str) -> bool:
    """Whether `schema` names LLM evidence (its module, and its models, load only for a document with a schema:
    a receipt has none)."""
    from zkinfer.verify import llm_evidence

    return schema == llm_evidence.SCHEMA


def kind_of(document: Any) -> Document:
    """The kind a parsed document's schema field names (RECEIPT for anything else)."""
    if isinstance(document, dict):
        schema = document.get("schema")
        if schema == certificate.SCHEMA:
            return Document.CERTIFICATE
        if schema == evidence.SCHEMA:
            return Document.EVIDENCE
        if isinstance(schema, str) and _is_llm_evidence(schema):
            return Document.LLM_EVIDENCE
        if document.get("schema_version") == LLM_RECEIPT_SCHEMA:
            return Document.LLM_RECEIPT
    return Document.RECEIPT


def read(path: Path, max_bytes: int | None = None, *, as_certificate: bool = False) -> Read:
    """Read a document under the receipt file's limits (over `max_bytes`, default the receipt limit, a
    directory, not strict JSON: ReceiptFormatError, exit 2) and name its kind; `as_certificate` (the
    auditor gave a node set): a certificate file's errors (CertificateError)."""
    body = certificate.read(path) if as_certificate else read_document(path, max_bytes)
    return Read(kind_of(body), body, str(path))


def read_evidence(path: Path) -> Read:
    """Read a file that must be evidence, under evidence's limit (a contradiction carries a receipt: the
    receipt limit and 1 MiB) and errors (EvidenceError, exit 2)."""
    body = evidence.read(path)
    kind = Document.LLM_EVIDENCE if kind_of(body) == Document.LLM_EVIDENCE else Document.EVIDENCE
    return Read(kind, body, str(path))


def check(
    document: Read,
    *,
    policy: Policy | None = None,
    input_path: Path | None = None,
    nodes: NodeSet | Path | None = None,
    threshold: int | None = None,
    receipts: Sequence[str] = (),
    expect_circuit: str | None = None,
    rebuttal: Path | None = None,
    model_dir: Path | None = None,
    llm: LlmCheck | None = None,
) -> Verdict:
    """The verdict of the check this document's kind takes. `policy`, `input_path`: a receipt's pins
    and the auditor's input; `nodes` (the pinned node set or its nodes.toml), `threshold`,
    `receipts`, `expect_circuit`, `input_path`: a certificate's; `rebuttal`: evidence's; `model_dir`: LLM
    evidence's model to re-execute with (given for other evidence, it is checked as LLM evidence);
    `llm`: the check of an LLM receipt. A certificate without a node set is a UsageError (exit 2)."""
    kind = Document.CERTIFICATE if nodes is not None and document.kind != Document.LLM_RECEIPT else document.kind
    if kind == Document.LLM_RECEIPT:
        if llm is None:
            raise UsageError(f"{document.source} is an LLM receipt: check it with `zkinfer verify` (the llm side)")
        return llm(document.body, document.source).model_copy(update={"document": Document.LLM_RECEIPT})
    if kind == Document.CERTIFICATE:
        if nodes is None:
            raise UsageError(
                f"{document.source} is a quorum certificate: check it against the pinned node set with --nodes "
                f"nodes.toml"
            )
        from zkinfer.verify import certificate_check

        return certificate_check.check_document(
            document.body, document.source, nodes, threshold, receipts, expect_circuit, input_path
        )
    if kind == Document.LLM_EVIDENCE or (kind == Document.EVIDENCE and model_dir is not None):
        from zkinfer.verify import llm_evidence

        verdict = llm_evidence.check(document.body, model_dir, source=document.source)
        return verdict.model_copy(update={"document": Document.LLM_EVIDENCE})
    if kind == Document.EVIDENCE:
        from zkinfer.verify import evidence_check

        return evidence_check.check_document(document.body, document.source, rebuttal)
    from zkinfer.verify.verifier import verify_document

    given = None
    if input_path is not None:
        from zkinfer.core.formats import inputs  # numpy: only for an auditor's own input

        given = inputs.load_flat(input_path)
    if policy is not None and policy.model_file:
        from zkinfer.core.zkp import onnx_model

        onnx_model.load(Path(policy.model_file))  # ModelError naming the file when it is missing or not ONNX
    return verify_document(document.body, policy, document.source, given_input=given)
