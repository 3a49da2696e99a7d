"""Is a model's registration on the stake contract exactly a circuit's? What a node checks before it
stakes its bond on claims of that model.

A registration is (verifier address, the verifier's code hash recorded at registration, instance
layout). A node's claims are judged by that verifier against that layout, so a registration that is
not exactly its circuit's can cost an honest node its bond: a verifier that accepts anything lets
anyone "prove fraud" with made-up outputs; a wrong layout or weights pin makes its honest proofs
fail, so every challenge of it is slashed. Hence, before `chain register-node --circuit` bonds, when
`serve --mode optimistic` starts and before each claim batch, the node checks:
- the registered code hash is keccak256 of the verifier this circuit compiles to (its key, settings
  and SRS through the pinned solc: `verifier.for_circuit`), and the code at the address is that
  verifier byte for byte (as `chain deploy-verifier` checks a recorded address);
- the registered layout is the circuit's (`claims.Layout`, from the one instance layout), with the
  weights' commitment a witness of the circuit gives when the weights are hashed.
Any difference is a `RegistrationMismatch` naming it (exit 2 from the CLI; the node does not start).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from eth_hash.auto import keccak

from zkinfer.chain import claims, deploy, registry
from zkinfer.chain.claims import Layout
from zkinfer.core.crypto.digest import digest_bytes
from zkinfer.core.support.errors import ChainError


class RegistrationMismatch(ChainError):
    """A model's registration on the stake contract is not its circuit's (verifier code or layout)."""


@dataclass(frozen=True)
class Registered:
    """A model as the stake contract holds it."""

    verifier: str
    layout: Layout
    code_hash: bytes  # the verifier's EXTCODEHASH when it was registered


@dataclass(frozen=True)
class Expected:
    """What a circuit's registration must be."""

    circuit_dir: Path
    model_id: bytes
    runtime: bytes  # the verifier's runtime code, compiled from the circuit
    layout: Layout
    vk_digest: str
    srs_fingerprint: str

    @property
    def code_hash(self) -> bytes:
        return keccak(self.runtime)


def expected(circuit_dir: Path) -> Expected:
    """The registration `circuit_dir` needs (compiles its verifier once: cached by key and SRS)."""
    from zkinfer.chain import verifier
    from zkinfer.core.formats import circuit

    artifact = verifier.for_circuit(circuit_dir)
    loaded = circuit.load(circuit_dir)
    weights = _weights_commitment(loaded) if loaded.manifest.visibility.params == "hashed" else None
    layout = Layout.of_settings(loaded.settings, weights, f"{circuit_dir}/settings.json")
    return Expected(
        circuit_dir,
        claims.model_id(artifact.circuit_digest),
        artifact.compiled.runtime,
        layout,
        artifact.vk_digest,
        artifact.srs_fingerprint,
    )


def _weights_commitment(loaded: Any) -> list[str]:
    """Hashed weights' Poseidon commitment: the same for every input, so a witness of zeros gives it."""
    import numpy as np

    from zkinfer.core.formats import inputs
    from zkinfer.core.zkp import ezkl_adapter

    sample = [np.zeros(spec.shape, dtype=np.float32) for spec in loaded.input_specs]
    with tempfile.TemporaryDirectory(prefix="zkinfer-weights-") as tmp:
        data = Path(tmp) / "input.json"
        data.write_text(json.dumps(inputs.to_ezkl_data([sample])))
        witness = ezkl_adapter.gen_witness(data, loaded.compiled_path, Path(tmp) / "witness.json")
    if not witness.params_commitment:
        raise RegistrationMismatch(
            f"{loaded.path}: the circuit hashes its weights, but its witness carries no weights commitment"
        )
    return list(witness.params_commitment)


def describe(layout: Layout) -> str:
    order = "input first" if layout.input_first else "weights first"
    pinned = f", weights pinned to 0x{layout.params_hash.hex()[:16]}…" if layout.n_params else ""
    return f"{layout.n_input} input + {layout.n_params} weights + {layout.n_output} output felts ({order}{pinned})"


def mismatches(stake: Any, want: Expected, got: Registered) -> list[str]:
    """What differs between the registration and the circuit's (empty: it is exactly the circuit's)."""
    found = []
    if got.code_hash != want.code_hash:
        found.append(
            f"the verifier registered for it ({got.verifier}, code hash 0x{got.code_hash.hex()}) "
            f"is not the verifier {want.circuit_dir} compiles to "
            f"(code hash 0x{want.code_hash.hex()}: verifying key {want.vk_digest}, SRS {want.srs_fingerprint})"
        )
    else:
        code = deploy.code_at(stake.chain, got.verifier)
        if code != want.runtime:
            what = "no code" if not code else f"{len(code)} bytes of other code ({digest_bytes(code)})"
            found.append(
                f"the registered verifier {got.verifier} holds {what} now, "
                f"not the verifier {want.circuit_dir} compiles to"
            )
    if got.layout != want.layout:
        found.append(
            f"its registered instance layout is {describe(got.layout)}, the circuit's layout is {describe(want.layout)}"
        )
    return found


def check(stake: Any, want: Expected) -> Registered:
    """The model's registration, once it is exactly `want`'s; RegistrationMismatch naming what differs
    (the stake client's ModelNotRegistered when the model is not registered at all)."""
    got: Registered = stake.model(want.model_id)
    found = mismatches(stake, want, got)
    if found:
        raise RegistrationMismatch(
            f"model 0x{want.model_id.hex()} ({want.circuit_dir}) on the stake contract {stake.address}: "
            f"{'; '.join(found)}. "
            "A claim judged by this registration could be slashed without a lie: refusing to stake on it "
            "(only a new stake contract with the circuit registered by `zkinfer chain register-model` fixes it: "
            "a registration never changes)"
        )
    return got


@dataclass(frozen=True)
class ModelCheck:
    """`chain status`'s verdict on one registered model."""

    status: Literal["match", "mismatch", "recorded", "unchecked"]
    detail: str
    source: str  # the circuit directory or deployments file it was checked against ("" when unchecked)

    def to_json(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail, "source": self.source}


def status_check(
    stake: Any, model_id: bytes, got: Registered, circuits: dict[bytes, Expected], registries: list[Path]
) -> ModelCheck:
    """Against a circuit given (verifier code and layout), else against a deployments file's record of
    the verifier deployed for this circuit (the code only: a record is anyone's note, and holds no layout)."""
    want = circuits.get(model_id)
    if want is not None:
        found = mismatches(stake, want, got)
        if found:
            return ModelCheck("mismatch", "; ".join(found), str(want.circuit_dir))
        return ModelCheck("match", f"verifier code and layout are exactly {want.circuit_dir}'s", str(want.circuit_dir))
    circuit = "sha256:" + model_id.hex()
    for path in registries:
        entry = registry.find(registry.load(path), "verifier", stake.chain.chain_id, circuit_digest=circuit)
        if entry is None:
            continue
        code = deploy.code_at(stake.chain, got.verifier)
        if keccak(code) != got.code_hash or digest_bytes(code) != entry.runtime_digest:
            return ModelCheck(
                "mismatch",
                f"the code at {got.verifier} is not the verifier {path} records "
                f"for circuit {circuit} ({entry.runtime_digest})",
                str(path),
            )
        return ModelCheck(
            "recorded",
            f"the code at {got.verifier} is the verifier {path} records for this circuit; "
            "layout not checked (give --circuit DIR)",
            str(path),
        )
    return ModelCheck(
        "unchecked", "no circuit given for it (--circuit DIR) and no deployments file records its verifier", ""
    )
