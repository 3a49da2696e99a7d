"""Proving and verifying keys: set up once per (circuit, SRS ceremony), cached, never half-written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zkinfer.core.crypto import srs
from zkinfer.core.crypto.digest import circuit_digest, digest_file
from zkinfer.core.formats.circuit import Circuit
from zkinfer.core.support import cache
from zkinfer.core.zkp import ezkl_adapter as _ezkl


@dataclass(frozen=True)
class Keys:
    pk: Path
    vk: Path
    srs: srs.SrsInfo

    @property
    def vk_digest(self) -> str:
        return digest_file(self.vk)

    def circuit_digest(self, circuit: Circuit) -> str:
        """What an auditor pins (`--expect-circuit`): this key with the circuit's settings."""
        return circuit_digest(self.vk_digest, circuit.settings.raw)


def key_dir(circuit: Circuit, srs_info: srs.SrsInfo) -> Path:
    return cache.cache_dir("keys", cache.key_part(circuit.key_id), cache.key_part(srs_info.fingerprint))


def cached(circuit: Circuit, srs_fingerprint: str | None = None) -> Keys | None:
    """Keys already set up for this circuit (with the given ceremony, or any), else None."""
    for srs_info in srs.available(circuit.logrows):
        if srs_fingerprint is not None and srs_info.fingerprint != srs_fingerprint:
            continue
        folder = key_dir(circuit, srs_info)
        if (folder / "pk").is_file() and (folder / "vk").is_file():
            return Keys(pk=folder / "pk", vk=folder / "vk", srs=srs_info)
    return None


def ensure(circuit: Circuit, srs_fingerprint: str | None = None, allow_development: bool = True) -> Keys:
    """Cached keys for `circuit`, setting them up (with an SRS of exactly its k) only if missing."""
    found = cached(circuit, srs_fingerprint)
    if found is not None and (allow_development or not found.srs.development):
        return found
    srs_info = srs.for_circuit(circuit.logrows, srs_fingerprint, allow_development)
    folder = key_dir(circuit, srs_info)
    pk, vk = folder / "pk", folder / "vk"
    if not (pk.is_file() and vk.is_file()):
        cache.build_atomically([vk, pk], lambda tmp: _ezkl.setup(circuit.compiled_path, tmp[0], tmp[1], srs_info.path))
    return Keys(pk=pk, vk=vk, srs=srs_info)
