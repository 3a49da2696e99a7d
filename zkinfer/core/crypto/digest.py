"""Content digests: `sha256:<hex>` of exact bytes, or of canonical JSON for JSON documents."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PREFIX = "sha256:"


def digest_bytes(data: bytes) -> str:
    """Digest of exact bytes, in the project's `sha256:<hex>` form."""
    return PREFIX + hashlib.sha256(data).hexdigest()


def digest_file(path: Path) -> str:
    """Digest of a file's exact bytes, streamed so large keys do not fill memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return PREFIX + h.hexdigest()


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8. Same value → same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def digest_json(value: Any) -> str:
    """Digest of a JSON document's canonical form, so formatting changes do not change it."""
    return digest_bytes(canonical_json(value))


def is_digest(value: str) -> bool:
    """True if `value` looks like `sha256:` followed by 64 lowercase hex digits."""
    hexpart = value[len(PREFIX) :]
    return value.startswith(PREFIX) and len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)


CIRCUIT_DOMAIN = "zkinfer.circuit/1"
# Settings fields with no meaning for the circuit or its instances (ezkl stamps the time it wrote them).
UNBOUND_SETTINGS = frozenset({"timestamp"})


def circuit_digest(vk_digest: str, settings: dict[str, Any]) -> str:
    """The auditor's pin for "the circuit": its verifying key *and* the settings that give the
    proof's field elements their meaning (input/output scales, tensor shapes, visibilities).

    The key alone does not fix those: the same key verifies a proof whose receipt restates every
    output at another scale or reshapes it, so pinning the key alone would let a node rescale
    the answer. Every settings field but `UNBOUND_SETTINGS` is covered, so none can be forgotten.
    """
    bound = {key: value for key, value in settings.items() if key not in UNBOUND_SETTINGS}
    return digest_json({"domain": CIRCUIT_DOMAIN, "vk": vk_digest, "settings": bound})


SPLIT_CIRCUIT_DOMAIN = "zkinfer.split-circuit/1"
SPLIT_VK_DOMAIN = "zkinfer.split-vk/1"


def split_circuit_digest(segment_circuit_digests: list[str]) -> str:
    """The pin for a split circuit: one digest over its segments' circuit digests, in order.

    Each segment's digest covers its key and settings (so its visibilities, scales and shapes), and
    the list fixes how many segments there are and their order: a chain with a segment replaced,
    dropped, added or moved has another digest.
    """
    return digest_json({"domain": SPLIT_CIRCUIT_DOMAIN, "segments": list(segment_circuit_digests)})


def split_vk_digest(segment_vk_digests: list[str]) -> str:
    """The verifying-key digest of a split circuit: its segments' key digests, in order (what `expect_vk` pins)."""
    return digest_json({"domain": SPLIT_VK_DOMAIN, "segments": list(segment_vk_digests)})
