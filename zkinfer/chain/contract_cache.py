"""zkinfer's own contracts compiled once per source: solcjs takes seconds, and every command that opens a
contract compares the code at its address with a fresh compile (`deploy.code_matches`). The artifact is
cached under $ZKINFER_HOME/contracts, keyed by the digests of the source, the files it imports and the
compiler settings, so an edited source or another compiler never reuses a stale artifact."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from zkinfer.chain.solidity import Compiled, compile_file, settings_digest
from zkinfer.core.crypto.digest import digest_bytes, digest_json
from zkinfer.core.support import cache
from zkinfer.core.support.errors import ChainError

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def compiled(source: Path, name: str, imports: Sequence[Path] = ()) -> Compiled:
    """Contract `name` of `source` (which imports `imports`, beside it), from the cache or compiled now."""
    try:
        digests = {str(p.name): digest_bytes(p.read_bytes()) for p in (source, *imports)}
    except OSError as exc:
        raise ChainError(
            f"{source}: cannot read the contract's sources ({exc.strerror or exc}); zkinfer's chain commands run "
            "from a checkout"
        ) from exc
    key = cache.key_part(digest_json({"sources": digests, "compiler": settings_digest()}))
    artifact = cache.cache_dir("contracts", key) / f"{name}.json"
    if artifact.is_file():
        return Compiled.from_json(json.loads(artifact.read_text()))
    made = compile_file(source, name)
    cache.write_atomically(artifact, json.dumps(made.to_json()).encode())
    return made
