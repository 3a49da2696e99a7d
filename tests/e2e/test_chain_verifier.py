"""Each circuit's verifier on a real chain (anvil, started by the tests): genuine receipts verify,
tampered ones do not, and the chain agrees with `zkinfer verify` on every tamper class.

What the chain can see: `verifyProof(proof, instances)` is the proof check with the verifying key
and SRS fixed at deployment. It never sees the receipt's stated input and output, its embedded key,
settings or SRS, its signature, or an auditor's pins. So:
- on the proof and its instances, the contract's verdict *is* the proof check under the deployed key
  (for every tamper below, and equal to `zkinfer verify`'s proof check whenever only the proof or
  its instances were edited);
- `zkinfer chain verify-receipt` adds what the chain cannot see: the receipt's own key/settings/SRS
  digests, that the contract is exactly the verifier its key generates, and the binding of the
  instances to the stated input and output. It rejects every tamper that `zkinfer verify`'s content
  checks (well-formed, verifying-key, settings, srs, proof, binding) reject; the node's signature and
  the model-digest / SRS-trust pins stay `zkinfer verify`'s.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import chain_harness
from tests.cli import zkinfer
from tests.e2e import test_tamper
from tests.e2e.test_tamper import TAMPERS, Receipts, Tamper, _policy
from zkinfer.chain import calldata, deploy, devchain, registry, solidity, verifier
from zkinfer.chain.account import Chain
from zkinfer.chain.onchain import verify as verify_on_chain
from zkinfer.core.formats.receipt import Receipt, parse
from zkinfer.core.support.errors import ChainError, ContractTooLarge, ReceiptFormatError
from zkinfer.verify import checks, verify_document

pytestmark = pytest.mark.e2e
anvil, chain, genuine = chain_harness.anvil, chain_harness.chain, test_tamper.genuine  # fixtures, requested by name

CONTENT_CHECKS = frozenset({"well-formed", "verifying-key", "settings", "srs", "proof", "binding"})
ALWAYS_TRUE = (
    "// SPDX-License-Identifier: MIT\n"
    "pragma solidity ^0.8.0;\n"
    "contract AlwaysTrue { function verifyProof(bytes calldata, uint256[] calldata) external pure returns (bool) "
    "{ return true; } }\n"
)


@dataclass(frozen=True)
class Verifiers:
    addresses: dict[str, str]  # "public" / "hashed" -> the verifier of that receipt's circuit
    circuits: dict[str, str]  # "public" / "hashed" -> circuit digest
    registry: Path


@pytest.fixture(scope="module")
def verifiers(
    chain: Chain, tiny_circuit: Path, hashed_circuit: Path, genuine: Receipts, tmp_path_factory: pytest.TempPathFactory
) -> Verifiers:
    path = tmp_path_factory.mktemp("registry") / "deployments.json"
    public = verifier.deploy_verifier(tiny_circuit, chain, path)
    hashed = verifier.deploy_verifier(hashed_circuit, chain, path)
    return Verifiers(
        addresses={"public": public.deployment.address, "hashed": hashed.deployment.address},
        circuits={"public": str(public.deployment.circuit_digest), "hashed": str(hashed.deployment.circuit_digest)},
        registry=path,
    )


@pytest.fixture(scope="module")
def always_true() -> solidity.Compiled:
    """A contract whose verifyProof accepts anything: what a hostile registry would point at."""
    return solidity.compile_sources({"AlwaysTrue.sol": ALWAYS_TRUE}, "AlwaysTrue")


def _accepted(chain: Chain, address: str, receipt: Receipt) -> bool:
    try:
        return verifier.call_verify(chain, address, receipt).accepted
    except calldata.NotAFieldElement:  # instances that are not field elements cannot even be encoded
        return False


def test_genuine_receipts_verify_on_chain(chain: Chain, verifiers: Verifiers, genuine: Receipts) -> None:
    for base, document in (("public", genuine.public), ("hashed", genuine.hashed), ("public", genuine.other)):
        receipt = parse(copy.deepcopy(document))
        verdict = verify_on_chain(
            chain, receipt, address=verifiers.addresses[base], expect_circuit=verifiers.circuits[base]
        )
        assert verdict.verified, verdict.to_json()
        assert [c.status for c in verdict.checks] == ["pass"] * 5
        assert verdict.onchain is not None and verdict.onchain.gas is not None and verdict.onchain.gas > 21_000
        assert verdict.onchain.circuit_digest == verifiers.circuits[base] == checks.actual_circuit_digest(receipt)


def test_a_receipt_of_another_circuit_is_refused_before_the_contract_is_asked(
    chain: Chain, verifiers: Verifiers, genuine: Receipts
) -> None:
    verdict = verify_on_chain(chain, parse(copy.deepcopy(genuine.hashed)), address=verifiers.addresses["public"])
    status: dict[str, str] = {c.name: c.status for c in verdict.checks}
    assert not verdict.verified
    assert status["verifier-code"] == "fail" and status["onchain-proof"] == "skip"
    assert "not the verifier for verifying key" in next(c.detail for c in verdict.checks if c.name == "verifier-code")


def test_calldata_is_what_ezkl_encodes(genuine: Receipts, tmp_path: Path) -> None:
    from eth_abi import decode
    from eth_hash.auto import keccak

    from zkinfer.core.zkp import ezkl_adapter

    assert keccak(calldata.SIGNATURE.encode())[:4] == calldata.SELECTOR
    for document in (genuine.public, genuine.hashed):
        receipt = parse(copy.deepcopy(document))
        ours = calldata.verifier_calldata(receipt)
        ezkl_adapter.write_proof_file(tmp_path / "proof.json", receipt.proof.hex, receipt.proof.instances)
        import ezkl

        theirs = bytes(ezkl.encode_evm_calldata(str(tmp_path / "proof.json"), str(tmp_path / "calldata.bin"), None))
        assert ours[:4] == theirs[:4] == calldata.SELECTOR
        assert decode(["bytes", "uint256[]"], ours[4:]) == decode(["bytes", "uint256[]"], theirs[4:])


def test_instances_split_as_the_binding_check_lays_them_out(genuine: Receipts) -> None:
    public = parse(copy.deepcopy(genuine.public))
    parts = calldata.split_instances(public)
    expected = checks.expected_instances(public)
    assert parts.input == [felt for label, felt in expected if label.startswith("input[")] and len(parts.input) == 8
    assert parts.weights == []
    assert parts.output == [f for column in public.output.felts for f in column]
    hashed = parse(copy.deepcopy(genuine.hashed))
    parts = calldata.split_instances(hashed)
    assert parts.input == hashed.input.commitment and parts.weights == hashed.params.commitment
    assert parts.output == [f for column in hashed.output.felts for f in column]


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.name for t in TAMPERS])
def test_chain_agrees_with_verify_on_every_tamper(
    tamper: Tamper, chain: Chain, verifiers: Verifiers, genuine: Receipts
) -> None:
    original = getattr(genuine, tamper.base)
    doc = copy.deepcopy(original)
    tamper.edit(doc, genuine)
    failed = {
        c.name for c in verify_document(copy.deepcopy(doc), _policy(tamper, original)).checks if c.status == "fail"
    }
    try:
        receipt = parse(doc)
    except ReceiptFormatError:  # the chain commands refuse it as unreadable (exit 2), as verify fails it
        assert "well-formed" in failed
        return
    address = verifiers.addresses[tamper.base]
    accepted = _accepted(chain, address, receipt)
    # 1. the contract is the proof check under the deployed key: same verdict on this proof and these instances
    probe = copy.deepcopy(original)
    probe["proof"] = doc["proof"]
    try:
        checks.check_proof(parse(probe))
        proof_under_deployed_key = True
    except checks.CheckFailed:
        proof_under_deployed_key = False
    assert accepted == proof_under_deployed_key
    # 2. where only the proof or its instances changed, that is `zkinfer verify`'s proof verdict
    if doc["proof"] != original["proof"]:
        assert accepted == ("proof" not in failed), failed
    # 3. `chain verify-receipt` rejects exactly what verify's content checks reject
    # (signature and model pins are verify's)
    verdict = verify_on_chain(chain, receipt, address=address, expect_circuit=verifiers.circuits[tamper.base])
    assert verdict.verified == (not failed & CONTENT_CHECKS), (failed, verdict.to_json())


def test_a_receipt_cannot_plant_a_verifier_under_another_ceremony(
    chain: Chain, verifiers: Verifiers, genuine: Receipts, tiny_circuit: Path
) -> None:
    """A receipt embeds another ceremony's SRS (whose maker can forge proofs) but states the genuine
    fingerprint: the verifier it generates is cached under its SRS's real fingerprint, so the
    circuit's own verifier (what deploy-verifier deploys) is untouched."""
    import base64

    from zkinfer.core.crypto import srs
    from zkinfer.core.support.errors import CircuitError

    doc = copy.deepcopy(genuine.public)
    doc["srs"]["reduced"] = genuine.other_srs_reduced  # the stated fingerprint is kept
    try:
        planted = verifier.for_receipt(parse(doc))
        assert (
            planted.srs_fingerprint
            == srs.parse_reduced(base64.b64decode(genuine.other_srs_reduced), "other")
            != doc["srs"]["fingerprint"]
        )
    except CircuitError:  # ezkl refused that SRS for this key: nothing planted either
        pass
    assert deploy.code_matches(chain, verifiers.addresses["public"], verifier.for_circuit(tiny_circuit).compiled)


def test_deploy_reuses_a_recorded_verifier_only_when_its_code_is_there(
    chain: Chain, tiny_circuit: Path, verifiers: Verifiers, tmp_path: Path
) -> None:
    path = tmp_path / "deployments.json"
    first = verifier.deploy_verifier(tiny_circuit, chain, path)
    again = verifier.deploy_verifier(tiny_circuit, chain, path)
    assert not first.reused and again.reused and again.deployment.address == first.deployment.address
    entry = first.deployment
    assert (entry.chain_id, entry.contract, entry.circuit_digest) == (
        chain.chain_id,
        "verifier",
        verifiers.circuits["public"],
    )
    assert entry.sol_digest and entry.vk_digest and entry.srs_fingerprint and entry.runtime_digest
    for hostile, what in ((verifiers.addresses["hashed"], "other code"), ("0x" + "11" * 20, "no code")):
        document = json.loads(path.read_text())
        document["deployments"][0]["address"] = hostile
        path.write_text(json.dumps(document))
        redone = verifier.deploy_verifier(tiny_circuit, chain, path)
        assert not redone.reused and redone.deployment.address not in (hostile, first.deployment.address)
        assert "refused" in redone.note and what in redone.note
        kept = registry.load(path).deployments
        assert [d.address for d in kept] == [redone.deployment.address]  # the hostile entry is replaced
        assert deploy.code_matches(chain, redone.deployment.address, verifier.for_circuit(tiny_circuit).compiled)


def test_a_registry_naming_other_code_is_refused(
    chain: Chain, verifiers: Verifiers, genuine: Receipts, always_true: solidity.Compiled, tmp_path: Path
) -> None:
    """A registry (anyone can edit it) points the receipt's key at a contract that accepts anything:
    its answer would pass a forged proof, so the code is checked before the contract is asked."""
    always = deploy.deploy(chain, always_true)
    forged = copy.deepcopy(genuine.public)
    forged["proof"]["hex"] = ("0" if forged["proof"]["hex"][100] != "0" else "1").join(
        (forged["proof"]["hex"][:100], forged["proof"]["hex"][101:])
    )
    receipt = parse(forged)
    assert always.contract_address is not None
    assert verifier.call_verify(
        chain, always.contract_address, receipt
    ).accepted  # what trusting the registry would give
    hostile = json.loads(verifiers.registry.read_text())
    for entry in hostile["deployments"]:
        entry["address"] = always.contract_address
    (tmp_path / "deployments.json").write_text(json.dumps(hostile))
    verdict = verify_on_chain(chain, receipt, registry_file=tmp_path / "deployments.json")
    status: dict[str, str] = {c.name: c.status for c in verdict.checks}
    assert not verdict.verified and status["verifier-code"] == "fail" and status["onchain-proof"] == "skip"


def test_contracts_compile_deterministically_and_oversized_code_is_named(always_true: solidity.Compiled) -> None:
    plain = always_true
    commented = solidity.compile_sources(
        {"B.sol": "// another comment, another file name\n" + ALWAYS_TRUE}, "B.sol:AlwaysTrue"
    )
    assert plain.bytecode == commented.bytecode and plain.runtime == commented.runtime  # no metadata hash
    big = (
        'pragma solidity ^0.8.0;\ncontract Big { function f() external pure returns (bytes memory) { return hex"'
        + "ab" * 25_000
        + '"; } }\n'
    )
    compiled = solidity.compile_sources({"Big.sol": big}, "Big", check_size=False)  # compile_sources checks by default
    size = len(compiled.runtime)
    assert size > solidity.EIP170_LIMIT
    with pytest.raises(ContractTooLarge) as caught:
        solidity.check_code_size(compiled)
    assert f"contract Big: runtime code is {size} bytes" in str(caught.value) and "24576" in str(caught.value)


def test_dev_chain_keeps_its_state_across_a_restart(always_true: solidity.Compiled, tmp_path: Path) -> None:
    from zkinfer.chain import account

    compiled = always_true
    with devchain.dev_chain(tmp_path) as first:
        with pytest.raises(ChainError, match="already runs"):
            devchain.start(tmp_path)
        sent = deploy.deploy(account.connect(first.rpc_url, first.default_key), compiled)
    assert devchain.running(tmp_path) is None and not (tmp_path / devchain.INFO_FILE).exists()
    assert (tmp_path / devchain.STATE_FILE).is_file()
    with devchain.dev_chain(tmp_path) as second:
        assert second.pid != first.pid
        assert sent.contract_address is not None
        assert deploy.code_matches(account.connect(second.rpc_url), sent.contract_address, compiled)


def _cli_json(result: Any) -> dict[str, Any]:
    assert result.stdout.lstrip().startswith("{"), result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def test_cli_up_deploy_verify_down(tiny_circuit: Path, genuine: Receipts, verifiers: Verifiers, tmp_path: Path) -> None:
    state, registry_file = tmp_path / "chain", tmp_path / "deployments.json"
    up = zkinfer("chain", "up", "--state-dir", state, "--port", str(devchain.free_port()), "--json")
    assert up.returncode == 0, up.stderr
    try:
        rpc_url = _cli_json(up)["rpc_url"]
        deployed = zkinfer(
            "chain", "deploy-verifier", tiny_circuit, "--state-dir", state, "--registry", registry_file, "--json"
        )
        assert deployed.returncode == 0, deployed.stderr
        answer = _cli_json(deployed)
        assert answer["circuit_digest"] == verifiers.circuits["public"]
        assert (
            answer["development_srs"] is True
        )  # the test keys use `srs new`'s SRS: said, so nobody mistakes it for a ceremony
        (tmp_path / "genuine.json").write_text(json.dumps(genuine.public))
        good = zkinfer(
            "chain",
            "verify-receipt",
            tmp_path / "genuine.json",
            "--state-dir",
            state,
            "--registry",
            registry_file,
            "--expect-circuit",
            verifiers.circuits["public"],
        )
        assert good.returncode == 0, good.stdout + good.stderr
        assert "VERIFIED on chain 31337" in good.stdout
        bad = copy.deepcopy(genuine.public)
        bad["proof"]["instances"][0][-1] = genuine.public["proof"]["instances"][0][
            -2
        ]  # an output instance: the proof no longer holds
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        rejected = zkinfer(
            "chain",
            "verify-receipt",
            tmp_path / "bad.json",
            "--rpc-url",
            rpc_url,
            "--registry",
            registry_file,
            "--json",
        )
        assert rejected.returncode == 1, rejected.stdout + rejected.stderr
        assert {c["name"]: c["status"] for c in _cli_json(rejected)["checks"]}["onchain-proof"] == "fail"
        no_key = zkinfer("chain", "deploy-verifier", tiny_circuit, "--rpc-url", rpc_url, "--registry", registry_file)
        assert no_key.returncode == 2 and "--key-file" in no_key.stderr and "ZKINFER_CHAIN_KEY" in no_key.stderr
    finally:
        down = zkinfer("chain", "down", "--state-dir", state)
    assert down.returncode == 0 and "stopped the dev chain" in down.stdout
    assert devchain.running(state) is None
