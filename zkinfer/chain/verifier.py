"""Each circuit's Halo2 verifier as a contract: generate (ezkl), compile (solcjs), deploy or reuse.

The verifier's code is a function of the verifying key, the settings and the SRS ceremony (its g2
points), then of the compiler and its settings; the compiled artifact is cached under
$ZKINFER_HOME/verifiers/, content-addressed by all of them, so a circuit compiles once (~7 s for
the tiny MLP's verifier on 2 cores). A receipt alone also determines it: its embedded key, settings
and reduced SRS give the same .sol (`for_receipt`), which is how a verifier at an address is tied to
a receipt's key without trusting anyone's note of which address is which.

A deployment is recorded in `deployments.json` (`registry`); re-running on the same chain reuses a
recorded address only after checking that the code there is this verifier, byte for byte.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkinfer.chain import deploy, registry, solidity
from zkinfer.chain.account import Chain
from zkinfer.chain.calldata import verifier_calldata
from zkinfer.chain.solidity import Compiled
from zkinfer.core.crypto import srs
from zkinfer.core.crypto.digest import circuit_digest, digest_bytes, digest_json
from zkinfer.core.formats import circuit
from zkinfer.core.formats.receipt import Receipt
from zkinfer.core.support import cache
from zkinfer.core.support.errors import ChainError
from zkinfer.core.zkp import ezkl_adapter as _ezkl

CONTRACT = "Halo2Verifier"  # the contract ezkl's template names
ROLE = "verifier"  # the registry's `contract` field for these
SOL_FILE = "Verifier.sol"
ARTIFACT_FILE = "artifact.json"


@dataclass(frozen=True)
class VerifierArtifact:
    """A compiled verifier and what it is bound to."""

    compiled: Compiled
    sol_path: Path
    sol_digest: str
    vk_digest: str
    settings_digest: str
    srs_fingerprint: str
    circuit_digest: str  # the circuit pin (key + settings) of the proofs this verifier is for


def artifact_key(vk_digest: str, settings_digest: str, srs_fingerprint: str) -> str:
    """What a compiled verifier depends on: key, settings, SRS ceremony, ezkl, solc and its settings."""
    return digest_json(
        {
            "vk": vk_digest,
            "settings": settings_digest,
            "srs": srs_fingerprint,
            "ezkl": _ezkl.VERSION,
            "compiler": solidity.settings_digest(),
        }
    )


def build(vk: bytes, settings: dict[str, Any], srs_file: Path, srs_fingerprint: str) -> VerifierArtifact:
    """The compiled verifier for this key, settings and SRS: from the cache, else generated in an
    isolated ezkl worker (the inputs may come from an untrusted receipt) and compiled, unless the
    same .sol was compiled before (compiled code is cached by the source's digest too)."""
    vk_digest, settings_digest = digest_bytes(vk), digest_json(settings)
    folder = cache.cache_dir("verifiers", cache.key_part(artifact_key(vk_digest, settings_digest, srs_fingerprint)))
    artifact = folder / ARTIFACT_FILE
    if not artifact.is_file():
        with tempfile.TemporaryDirectory(prefix="zkinfer-evm-") as tmp:
            work = Path(tmp)
            (work / "vk").write_bytes(vk)
            (work / "settings.json").write_text(json.dumps(settings))
            _ezkl.evm_verifier(work / "vk", work / "settings.json", srs_file, work / SOL_FILE)
            sol = (work / SOL_FILE).read_bytes()
        sol_digest = digest_bytes(sol)
        cache.write_atomically(folder / SOL_FILE, sol)
        compiled = _compiled_source(folder / SOL_FILE, sol_digest)
        cache.write_atomically(
            artifact, json.dumps({"compiled": compiled.to_json(), "sol_digest": sol_digest}).encode()
        )
    data = json.loads(artifact.read_text())
    return VerifierArtifact(
        Compiled.from_json(data["compiled"]),
        folder / SOL_FILE,
        data["sol_digest"],
        vk_digest,
        settings_digest,
        srs_fingerprint,
        circuit_digest(vk_digest, settings),
    )


def _compiled_source(sol: Path, sol_digest: str) -> Compiled:
    """solcjs's output for this exact source (cached by its digest and the compiler settings)."""
    cached = (
        cache.cache_dir("verifiers", "compiled")
        / f"{cache.key_part(digest_json({'sol': sol_digest, 'compiler': solidity.settings_digest()}))}.json"
    )
    if cached.is_file():
        return Compiled.from_json(json.loads(cached.read_text()))
    compiled = solidity.compile_file(
        sol, CONTRACT, check_size=False
    )  # the size is checked where it matters: at deployment
    cache.write_atomically(cached, json.dumps(compiled.to_json()).encode())
    return compiled


def for_circuit(circuit_dir: Path) -> VerifierArtifact:
    """The verifier of a compiled circuit directory, with its cached keys (set up if missing)."""
    from zkinfer.prover.keys import ensure

    loaded = circuit.load(circuit_dir)
    keys = ensure(loaded)
    return build(keys.vk.read_bytes(), loaded.settings.raw, keys.srs.path, keys.srs.fingerprint)


def for_receipt(receipt: Receipt) -> VerifierArtifact:
    """The verifier a receipt's embedded key, settings and reduced SRS determine. The cache key is
    the fingerprint of the SRS bytes themselves, never the one the receipt states: otherwise a
    receipt could plant a verifier made with its own SRS (whose maker can forge proofs) under a
    trusted ceremony's name, for the next deployment of that circuit to pick up."""
    fingerprint = srs.parse_reduced(receipt.srs.reduced, "field srs.reduced")
    with tempfile.TemporaryDirectory(prefix="zkinfer-srs-") as tmp:
        srs_file = Path(tmp) / "reduced.srs"
        srs_file.write_bytes(receipt.srs.reduced)
        return build(receipt.model.verifying_key, receipt.model.settings, srs_file, fingerprint)


@dataclass(frozen=True)
class DeployResult:
    deployment: registry.Deployment
    reused: bool
    note: str  # why it was deployed anew, or that the recorded one was checked and reused
    registry_path: Path
    development_srs: bool = (
        False  # the keys' SRS was made on this machine: its maker could forge proofs this verifier accepts
    )


def registry_path(circuit_dir: Path, override: Path | None) -> Path:
    return override if override is not None else circuit_dir / registry.FILE_NAME


def deploy_verifier(
    circuit_dir: Path, chain: Chain, registry_file: Path | None = None, *, allow_oversize: bool = False
) -> DeployResult:
    """Deploy the circuit's verifier on `chain`, or reuse the one recorded for it there once the code
    at that address is checked to be exactly this verifier; record it in the registry file."""
    from zkinfer.prover.keys import ensure

    artifact = for_circuit(circuit_dir)
    development = ensure(circuit.load(circuit_dir)).srs.development  # cached: the keys for_circuit used
    if not allow_oversize:
        solidity.check_code_size(artifact.compiled)
    path = registry_path(circuit_dir, registry_file)
    match = {
        "vk_digest": artifact.vk_digest,
        "settings_digest": artifact.settings_digest,
        "srs_fingerprint": artifact.srs_fingerprint,
        "compiler": solidity.settings_digest(),
    }
    recorded = registry.find(registry.load(path), ROLE, chain.chain_id, **match)
    note = "no verifier recorded for this key on this chain"
    if recorded is not None:
        code = deploy.code_at(chain, recorded.address)
        if code == artifact.compiled.runtime:
            return DeployResult(
                recorded,
                True,
                f"reused {recorded.address}: its code is this verifier ({len(code)} bytes)",
                path,
                development,
            )
        what = "no code" if not code else f"other code ({digest_bytes(code)})"
        note = (
            f"{path} recorded {recorded.address} on chain {chain.chain_id}, "
            f"but there is {what} there: refused it and deployed anew"
        )
    sent = deploy.deploy(chain, artifact.compiled)
    assert sent.contract_address is not None  # deploy() raises otherwise
    entry = registry.deployed(
        ROLE,
        artifact.compiled,
        chain.chain_id,
        chain.address,
        sent,
        circuit_digest=artifact.circuit_digest,
        vk_digest=artifact.vk_digest,
        settings_digest=artifact.settings_digest,
        srs_fingerprint=artifact.srs_fingerprint,
        sol_digest=artifact.sol_digest,
    )
    registry.record(path, entry, *match)
    return DeployResult(entry, False, note, path, development)


def check_verifier_code(chain: Chain, address: str, artifact: VerifierArtifact) -> None:
    """Refuse an address whose code is not exactly `artifact`'s verifier."""
    code = deploy.code_at(chain, address)
    if code != artifact.compiled.runtime:
        what = "no code" if not code else f"{len(code)} bytes of other code ({digest_bytes(code)})"
        raise ChainError(
            f"{address} on chain {chain.chain_id} holds {what}, "
            f"not the verifier for verifying key {artifact.vk_digest} (SRS {artifact.srs_fingerprint}); "
            "refusing to trust its answer"
        )


def find_address(registry_file: Path, chain: Chain, receipt: Receipt) -> str:
    """The address `registry_file` records for the receipt's key and settings on this chain (unchecked)."""
    found = registry.find(
        registry.load(registry_file),
        ROLE,
        chain.chain_id,
        vk_digest=digest_bytes(receipt.model.verifying_key),
        settings_digest=digest_json(receipt.model.settings),
    )
    if found is None:
        raise ChainError(
            f"{registry_file}: no verifier recorded on chain {chain.chain_id} "
            f"for the receipt's verifying key {receipt.model.vk_digest}; "
            "deploy one with `zkinfer chain deploy-verifier`"
        )
    return found.address


@dataclass(frozen=True)
class OnChain:
    """What the verifier contract said: accepted (returned true), or why not (revert, false)."""

    accepted: bool
    reason: str
    gas: int | None  # what the call costs, when accepted


def call_verify(chain: Chain, address: str, receipt: Receipt) -> OnChain:
    """`verifyProof` by eth_call (no transaction, no gas paid): the chain's verdict on the receipt's
    proof and instances. A revert or a `false` is a rejection, never an error."""
    from web3 import Web3
    from web3.exceptions import ContractLogicError

    data = verifier_calldata(receipt)  # NotAFieldElement for instances no verifier could take
    call = {"to": Web3.to_checksum_address(address), "data": data}
    try:
        answer = bytes(chain.web3.eth.call(call))
    except ContractLogicError:
        return OnChain(
            False, f"the verifier at {address} reverted: the proof does not verify for these instances", None
        )
    except Exception as exc:  # anything else is the node's trouble, not a verdict
        raise ChainError(
            f"eth_call to {address} on chain {chain.chain_id} failed: {type(exc).__name__}: {str(exc)[:200]}"
        ) from exc
    if len(answer) != 32 or int.from_bytes(answer, "big") not in (0, 1):
        return OnChain(False, f"the contract at {address} answered {answer[:64].hex()!r}, not a boolean", None)
    if int.from_bytes(answer, "big") != 1:
        return OnChain(False, f"the verifier at {address} returned false", None)
    gas = int(chain.web3.eth.estimate_gas(call))
    return OnChain(
        True,
        f"the verifier at {address} accepts the proof "
        f"and its {sum(len(c) for c in receipt.proof.instances)} public instances",
        gas,
    )
