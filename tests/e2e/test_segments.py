"""An unsplit circuit or receipt is a chain of one segment behind the same interface as a split one:
`core/circuit.py`, `core/split_circuit.py`, `core/receipt.py`, `core/split_receipt.py`,
`prover/prove.py` (ChainProver, Prover, prove_receipt) and `prover/receipts.py`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkinfer.core.crypto.digest import digest_json, split_circuit_digest
from zkinfer.core.formats import circuit, receipt, split_circuit, split_receipt
from zkinfer.core.support.errors import CircuitError
from zkinfer.core.zkp.ezkl_views import Settings, SettingsError
from zkinfer.verify import CheckName, Policy, verify_file
from zkinfer.verify.checks import segment_circuit_digests


def test_an_unsplit_circuit_is_a_chain_of_one(tiny_circuit: Path, split_circuit_dir: Path) -> None:
    one = split_circuit.load_any(tiny_circuit)
    assert isinstance(one, circuit.Circuit) and one.segments == (one,) and one.links is None
    chain = split_circuit.load_any(split_circuit_dir)
    assert isinstance(chain, split_circuit.SplitCircuit) and len(chain.segments) == 2 and chain.links == "hashed"
    for loaded in (one, *chain.segments):
        assert isinstance(loaded.settings, Settings)  # the typed view, built once when it is loaded
        assert digest_json(loaded.settings.raw) == loaded.manifest.settings_digest
        assert loaded.settings.where == str(loaded.path / "settings.json")
    assert chain.input_specs[0].shape == one.input_specs[0].shape and chain.visibility.input == "public"


def test_a_receipt_lists_its_segments_and_their_settings_say_where_they_sit(
    receipt_file: Path, split_receipt_file: Path
) -> None:
    single = receipt.load(receipt_file)
    (only,) = single.segments
    assert only.model is single.model and only.proof is single.proof and only.srs is single.srs
    assert single.links == [] and single.links_kind is None
    assert only.model.settings_view.where == "model.settings"
    chain = split_receipt.load_any(split_receipt_file)
    assert isinstance(chain, split_receipt.SplitReceipt) and len(chain.segments) == 2 and len(chain.links) == 1
    chain.segments[1].model.settings["run_args"]["logrows"] = 99
    with pytest.raises(SettingsError, match=r"segments\[1\]\.model\.settings\.run_args\.logrows"):
        chain.segments[1].model.settings_view.logrows  # noqa: B018 - the view reads the settings as they are now


def test_saving_a_receipt_read_back_gives_the_same_bytes(
    receipt_file: Path, split_receipt_file: Path, tmp_path: Path
) -> None:
    for source in (receipt_file, split_receipt_file):
        split_receipt.save(split_receipt.load_any(source), tmp_path / source.name)
        assert (tmp_path / source.name).read_bytes() == source.read_bytes()


def test_prove_receipt_gives_a_split_receipt_that_verifies_and_is_pinned_by_its_chain(
    split_receipt_file: Path, split_circuit_dir: Path
) -> None:
    document = json.loads(split_receipt_file.read_text())
    assert document["schema_version"] == "zkinfer.receipt/2" and "link_kind" not in document  # hashed: absent
    chain = split_circuit.load(split_circuit_dir)
    read = split_receipt.load_any(split_receipt_file)
    digest = split_circuit_digest(segment_circuit_digests(read))
    ceremonies = sorted({s.srs.fingerprint for s in read.segments})
    verdict = verify_file(split_receipt_file, Policy(expect_circuit=digest, trusted_srs=ceremonies))
    assert verdict.verified and verdict.identity_pinned, verdict.summary
    assert [c.name for c in verdict.checks].count(CheckName.LINKS) == 1 and len(chain.segments) == 2


def test_the_chain_prover_proves_an_unsplit_circuit_into_a_v1_receipt(tiny_dir: Path, small_circuit: Path) -> None:
    from zkinfer.prover.prove import ChainProver, Prover

    with ChainProver(small_circuit) as prover:
        made = prover.prove(prover.load_input(tiny_dir / "input.json"))
        assert prover.executor is None  # one segment, no executor given: proven in this process
        assert prover.circuit_digest == Prover(small_circuit).circuit_digest
    assert isinstance(made, receipt.Receipt) and made.schema_version == "zkinfer.receipt/1"


def test_the_unsplit_prover_refuses_a_split_circuit_naming_the_chain_prover(split_circuit_dir: Path) -> None:
    from zkinfer.prover.prove import Prover

    with pytest.raises(CircuitError, match=r"is a split circuit.*ChainProver"):
        Prover(split_circuit_dir)


def test_the_settings_view_copies_with_another_k_and_states_fields_as_written() -> None:
    raw = {"run_args": {"logrows": 12, "num_inner_cols": 2}, "module_sizes": {"polycommit": [8]}, "x": [7]}
    view = Settings(raw, "seg0/settings.json")
    changed = view.with_logrows(15)
    assert Settings(changed).logrows == 15 and view.logrows == 12  # a copy: the circuit's own view is unchanged
    assert changed["run_args"]["num_inner_cols"] == 2 and changed["x"] == [7]
    assert view.polycommit_sizes == [8] and Settings({"module_sizes": 3}).polycommit_sizes is None
    assert view.stated("x") == [7] and view.stated("absent") is None
    with pytest.raises(SettingsError, match=r"seg0/settings\.json\.run_args is missing"):
        Settings({}, "seg0/settings.json").with_logrows(15)
