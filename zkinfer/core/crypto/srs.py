"""Structured reference strings (KZG on BN254): make a development one, import a ceremony one,
fingerprint them, and cut the tiny 'reduced' SRS a verifier needs.

File layout (halo2 raw format, as ezkl writes it): u32 little-endian k, then 2^k G1 points in
monomial form, 2^k in Lagrange form (64 bytes each), then g2 and tau·g2 (128 bytes each).
The fingerprint identifies the ceremony (the secret tau), not the file: it hashes g2 and tau·g2,
which are the same in an SRS of any size from that ceremony.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkinfer.core.crypto.digest import digest_bytes
from zkinfer.core.support import cache
from zkinfer.core.support.errors import SrsError
from zkinfer.core.zkp import ezkl_adapter as _ezkl
from zkinfer.core.zkp.ezkl_views import MAX_LOGROWS

G1_BYTES = 64
G2_BYTES = 128
HEADER_BYTES = 4
MAX_K = MAX_LOGROWS
# BN254's G1 generator in the raw (Montgomery) encoding; g[0] of every valid SRS is this point.
G1_GENERATOR_RAW = bytes.fromhex(
    "9d0d8fc58d435dd33d0bc7f528eb780a2c4679786fa36e662fdf079ac1770a0e"
    "3a1b1e8b1b87baa67b168eeb51d6f114588cf2f0de46ddcc5ebe0f3483ef141c"
)


@dataclass(frozen=True)
class SrsInfo:
    """A parsed SRS file: its size parameter, ceremony fingerprint, and whether it is for development."""

    path: Path
    k: int
    fingerprint: str
    development: bool

    @property
    def kind(self) -> str:
        """development (`srs new`: whoever made it could forge proofs) or ceremony (`srs import`)."""
        return "development" if self.development else "ceremony"

    def to_json(self) -> dict[str, Any]:
        """One entry of `zkinfer srs list --json`."""
        return {"k": self.k, "fingerprint": self.fingerprint, "kind": self.kind, "path": str(self.path)}


def expected_size(k: int) -> int:
    """Byte size of a full raw SRS file for 2^k rows."""
    return HEADER_BYTES + 2 * (1 << k) * G1_BYTES + 2 * G2_BYTES


def parse(data: bytes, source: str) -> tuple[int, str]:
    """Check an SRS's layout and return (k, fingerprint). `source` names it in errors."""
    if len(data) < HEADER_BYTES:
        raise SrsError(f"{source}: not an SRS file (too short); make one with `zkinfer srs new --k K`")
    k = int.from_bytes(data[:HEADER_BYTES], "little")
    if k > MAX_K or len(data) != expected_size(k):
        raise SrsError(
            f"{source}: not a raw KZG SRS file (header says k={k}, size {len(data)} bytes); "
            "use an ezkl/halo2 raw-format SRS such as those from the public ceremony"
        )
    if data[HEADER_BYTES : HEADER_BYTES + G1_BYTES] != G1_GENERATOR_RAW:
        raise SrsError(f"{source}: first G1 point is not the BN254 generator; the file is corrupt")
    return k, fingerprint_of(data)


def fingerprint_of(data: bytes) -> str:
    """Ceremony fingerprint: digest of the trailing g2 and tau·g2."""
    return digest_bytes(data[-2 * G2_BYTES :])


def reduced(data: bytes) -> bytes:
    """The 388-byte SRS a verifier needs (g[0], g2, tau·g2), used with ezkl's `reduced_srs`."""
    g0 = data[HEADER_BYTES : HEADER_BYTES + G1_BYTES]
    return (0).to_bytes(HEADER_BYTES, "little") + g0 + g0 + data[-2 * G2_BYTES :]


def parse_reduced(data: bytes, source: str) -> str:
    """Check a reduced SRS and return its fingerprint."""
    k, fingerprint = parse(data, source)
    if k != 0:
        raise SrsError(f"{source}: expected a reduced SRS (k=0), found k={k}")
    return fingerprint


def _store_dir(fingerprint: str) -> Path:
    return cache.cache_dir("srs", cache.key_part(fingerprint))


def _meta_path(fingerprint: str) -> Path:
    return _store_dir(fingerprint) / "meta.json"


def _store(data: bytes, k: int, fingerprint: str, development: bool, origin: str) -> SrsInfo:
    path = _store_dir(fingerprint) / f"k{k}.srs"
    if not path.exists():
        cache.write_atomically(path, data)
    meta = _meta_path(fingerprint)
    if not meta.exists():
        cache.write_atomically(meta, json.dumps({"development": development, "origin": origin}).encode())
    return SrsInfo(path=path, k=k, fingerprint=fingerprint, development=is_development(fingerprint))


def is_development(fingerprint: str) -> bool:
    """True when this ceremony was generated on this machine by `srs new` (its tau is not secret)."""
    meta = _meta_path(fingerprint)
    if not meta.exists():
        return True
    return bool(json.loads(meta.read_text()).get("development", True))


def new_development(k: int) -> SrsInfo:
    """Make a development SRS of 2^k rows (its maker knows tau and could forge proofs)."""
    if not 1 <= k <= MAX_K:
        raise SrsError(f"--k {k}: must be between 1 and {MAX_K}")
    tmp_dir = cache.cache_dir("tmp")
    tmp = tmp_dir / f"gen-k{k}.srs"
    _ezkl.gen_srs(tmp, k)
    data = tmp.read_bytes()
    tmp.unlink(missing_ok=True)
    k_read, fingerprint = parse(data, "generated SRS")
    return _store(data, k_read, fingerprint, development=True, origin="zkinfer srs new (development only)")


def import_file(path: Path) -> SrsInfo:
    """Import a ceremony SRS file into the cache (marked non-development)."""
    if not path.is_file():
        raise SrsError(f"{path}: no such SRS file")
    data = path.read_bytes()
    k, fingerprint = parse(data, str(path))
    info = _store(data, k, fingerprint, development=False, origin=str(path))
    if info.development:  # an earlier `srs new` stored this same ceremony as development
        cache.write_atomically(
            _meta_path(fingerprint), json.dumps({"development": False, "origin": str(path)}).encode()
        )
    return SrsInfo(path=info.path, k=k, fingerprint=fingerprint, development=False)


def cached() -> list[SrsInfo]:
    """Every cached SRS file, by k then fingerprint (`zkinfer srs list`)."""
    found = []
    for path in cache.cache_dir("srs").glob("*/k*.srs"):
        if path.stem[1:].isdigit():
            fingerprint = "sha256:" + path.parent.name
            found.append(
                SrsInfo(
                    path=path, k=int(path.stem[1:]), fingerprint=fingerprint, development=is_development(fingerprint)
                )
            )
    return sorted(found, key=lambda info: (info.k, info.fingerprint))


def available(k: int) -> list[SrsInfo]:
    """Cached SRS files of exactly 2^k rows, ceremony (non-development) ones first."""
    found = []
    for path in sorted(cache.cache_dir("srs").glob(f"*/k{k}.srs")):
        fingerprint = "sha256:" + path.parent.name
        found.append(SrsInfo(path=path, k=k, fingerprint=fingerprint, development=is_development(fingerprint)))
    return sorted(found, key=lambda info: info.development)


def for_circuit(k: int, fingerprint: str | None = None, allow_development: bool = True) -> SrsInfo:
    """The SRS to set up a circuit of 2^k rows with: exactly k rows (a larger one costs a slow shrink).

    With `fingerprint`, only that ceremony is used. Otherwise a ceremony SRS is preferred, and a
    development one is made when none exists and `allow_development` is set.
    """
    candidates = [s for s in available(k) if fingerprint is None or s.fingerprint == fingerprint]
    if not allow_development:
        candidates = [s for s in candidates if not s.development]
    if candidates:
        return candidates[0]
    if fingerprint is not None or not allow_development:
        wanted = fingerprint or "a ceremony SRS"
        raise SrsError(f"no cached SRS with k={k} for {wanted}; run `zkinfer srs import FILE` with a k={k} SRS file")
    return new_development(k)


def load(fingerprint: str, k: int) -> SrsInfo:
    """A cached SRS by ceremony fingerprint and size."""
    path = _store_dir(fingerprint) / f"k{k}.srs"
    if not path.exists():
        raise SrsError(f"no cached SRS k={k} with fingerprint {fingerprint}; import it with `zkinfer srs import FILE`")
    return SrsInfo(path=path, k=k, fingerprint=fingerprint, development=is_development(fingerprint))


def copy_to(info: SrsInfo, dest: Path) -> None:
    """Copy a cached SRS file out (for users who want the file itself)."""
    shutil.copyfile(info.path, dest)
