"""verify/documents: the one entry point picks the check by the document's parsed schema field (not
by its bytes), keeps the receipt file's limits and typed errors, and hands LLM receipts to the
check the caller passes in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zkinfer.core.support.errors import ReceiptFormatError, UsageError
from zkinfer.verify import documents
from zkinfer.verify.verdict import Document, Status, Verdict, summarize


def test_the_schema_field_names_the_kind() -> None:
    assert documents.kind_of({"schema": "zkinfer.certificate/1"}) == Document.CERTIFICATE
    assert documents.kind_of({"schema": "zkinfer.evidence/1"}) == Document.EVIDENCE
    assert documents.kind_of({"schema_version": "zkinfer.llm-receipt/1"}) == Document.LLM_RECEIPT
    assert documents.kind_of({"schema_version": "zkinfer.receipt/1"}) == Document.RECEIPT
    assert documents.kind_of([1, 2]) == Document.RECEIPT  # checked as a receipt: its well-formed check fails


def test_a_receipt_that_quotes_a_schema_is_still_a_receipt(receipt_file: Path, tmp_path: Path) -> None:
    """The schema names the kind only where it is the document's own field: a receipt whose model
    name is another document's schema (which a byte search would have taken for one) stays a receipt."""
    document = json.loads(receipt_file.read_text())
    document["model"]["name"] = "zkinfer.certificate/1"
    (tmp_path / "r.json").write_text(json.dumps(document))
    read = documents.read(tmp_path / "r.json")
    assert read.kind == Document.RECEIPT and read.source == str(tmp_path / "r.json")
    verdict = documents.check(read)
    assert verdict.document == Document.RECEIPT and not verdict.verified  # the signature covers the name


def test_a_genuine_receipt_verifies_through_the_entry_point(receipt_file: Path) -> None:
    verdict = documents.check(documents.read(receipt_file))
    assert verdict.verified and verdict.to_json()["document"] == "receipt"


def test_reading_keeps_the_receipt_limits_and_typed_errors(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_text(json.dumps({"schema": "zkinfer.certificate/1", "pad": "x" * 2000}))
    with pytest.raises(ReceiptFormatError, match=r"big\.json") as caught:
        documents.read(tmp_path / "big.json", max_bytes=1000)
    assert caught.value.exit_code == 2
    (tmp_path / "text.json").write_text("zkinfer.certificate/1 is not JSON")
    with pytest.raises(ReceiptFormatError):
        documents.read(tmp_path / "text.json")
    with pytest.raises(ReceiptFormatError, match="no such receipt file"):
        documents.read(tmp_path / "absent.json")


def test_a_certificate_needs_its_node_set() -> None:
    read = documents.Read(Document.CERTIFICATE, {"schema": "zkinfer.certificate/1"}, "c.json")
    with pytest.raises(UsageError, match=r"--nodes nodes\.toml"):
        documents.check(read)


def test_llm_receipts_go_to_the_check_passed_in() -> None:
    read = documents.Read(Document.LLM_RECEIPT, {"schema_version": "zkinfer.llm-receipt/1"}, "llm.json")
    with pytest.raises(UsageError, match="LLM receipt"):
        documents.check(read)
    seen: list[tuple[Any, str]] = []

    def llm(body: Any, source: str) -> Verdict:
        seen.append((body, source))
        return summarize([], [], [], source)

    verdict = documents.check(read, llm=llm, nodes=Path("nodes.toml"))  # a node set does not make it a certificate
    assert seen == [(read.body, "llm.json")] and verdict.document == Document.LLM_RECEIPT
    assert all(c.status != Status.FAIL for c in verdict.checks)
