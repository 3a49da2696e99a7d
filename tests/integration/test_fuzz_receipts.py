"""Property-based fuzz of receipt loading and verification (short budget; `fuzz/fuzz_receipt.py`
runs the same property for longer). Every mutated receipt gets a verdict or a typed error, never
a traceback, and is accepted only when the mutation left its claim unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.receipt_mutations import Genuine, check, check_text, mutated_text, paths
from zkinfer.core.formats.receipt import read_document
from zkinfer.core.support.errors import ReceiptFormatError, ZkinferError
from zkinfer.verify import verify_document

EXAMPLES = int(os.environ.get("ZKINFER_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def genuine(receipt_file: Path) -> Genuine:
    return Genuine.of(json.loads(receipt_file.read_text()))


def test_genuine_receipt_passes_the_property(genuine: Genuine) -> None:
    assert check(genuine, genuine.doc) == "accepted no-op"
    assert verify_document(genuine.doc, genuine.pins).verified is True


def test_mutated_receipts_get_a_verdict_and_are_never_wrongly_accepted(genuine: Genuine) -> None:
    all_paths = paths(genuine.doc)
    outcomes: dict[str, int] = {}

    @FUZZ
    @given(case=mutated_text(genuine.doc, all_paths))
    def run(case: tuple[str, list[Any], bool]) -> None:
        text, applied, must_refuse = case
        outcome = check_text(genuine, text, applied, must_refuse)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    run()
    assert sum(outcomes.values()) >= min(EXAMPLES, 100)
    assert outcomes.get("rejected", 0) > 0 and outcomes.get("refused as JSON", 0) > 0


@settings(max_examples=200, deadline=None, database=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_any_json_value_gets_a_verdict(value: Any) -> None:
    verdict = verify_document(value)
    assert verdict.verified is False and verdict.failed() == ["well-formed"]


@settings(max_examples=100, deadline=None, database=None)
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_file_bytes_give_a_verdict_or_a_typed_error(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("bytes") / "receipt.json"
    path.write_bytes(data)
    try:
        document = read_document(path)
    except ReceiptFormatError as exc:
        assert str(path) in str(exc)
        return
    assert verify_document(document).verified is False


def test_deeply_nested_receipt_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ZkinferError):
        read_document(tmp_path / "deep.json")
