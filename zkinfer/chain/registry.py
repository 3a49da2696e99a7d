"""`deployments.json`: which contract was deployed where, and what it is bound to.

Each entry names the chain (its id, as the node reported it), the address, the digest of the
runtime code deployed, and for a verifier the circuit, verifying-key and settings digests, the SRS
ceremony and the digest of the generated .sol. The file is a note, not evidence: anyone can edit
it, so a reader checks the code at an address (`deploy.code_matches`) before trusting an entry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from zkinfer.core import strict_json
from zkinfer.core.cache import write_atomically
from zkinfer.core.errors import ChainError

SCHEMA_VERSION = "zkinfer.deployments/1"
FILE_NAME = "deployments.json"
MAX_BYTES = 4 << 20
Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
Address = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]


class Deployment(BaseModel):
    """One deployed contract. `contract` is its role ("verifier", or another kind such as "stake")."""

    model_config = ConfigDict(extra="forbid", strict=True)
    contract: str
    name: str
    chain_id: int
    address: Address
    runtime_digest: Digest
    compiler: Digest  # solc version + settings (`solidity.settings_digest`)
    tx_hash: str
    block: int
    gas_used: int
    deployed_at: str
    deployer: Address
    circuit_digest: Digest | None = None
    vk_digest: Digest | None = None
    settings_digest: Digest | None = None
    srs_fingerprint: Digest | None = None
    sol_digest: Digest | None = None


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    schema_version: Literal["zkinfer.deployments/1"] = "zkinfer.deployments/1"
    deployments: list[Deployment] = []


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load(path: Path) -> Registry:
    """The registry at `path`; an empty one when the file does not exist yet."""
    if not path.exists():
        return Registry()
    document = strict_json.load_file(path, MAX_BYTES, ChainError, "deployments file")
    try:
        return Registry.model_validate(document)
    except ValidationError as exc:
        where = "; ".join(f"field {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ChainError(f"{path}: not a {SCHEMA_VERSION} file ({where}); fix or remove it, then deploy again") from exc


def save(path: Path, registry: Registry) -> None:
    write_atomically(path, (registry.model_dump_json(indent=2) + "\n").encode())


def find(registry: Registry, contract: str, chain_id: int, **match: str | None) -> Deployment | None:
    """The latest entry for `contract` on `chain_id` whose fields equal `match` (e.g. vk_digest=...)."""
    found = [d for d in registry.deployments if d.contract == contract and d.chain_id == chain_id and all(getattr(d, k) == v for k, v in match.items())]
    return found[-1] if found else None


def record(path: Path, deployment: Deployment, *replacing: str) -> Registry:
    """Add `deployment` to the file at `path`, dropping entries for the same contract and chain
    whose `replacing` fields equal its own (the one it supersedes)."""
    registry = load(path)
    kept = [
        d for d in registry.deployments
        if not (d.contract == deployment.contract and d.chain_id == deployment.chain_id and all(getattr(d, k) == getattr(deployment, k) for k in replacing))
    ]
    updated = Registry(deployments=[*kept, deployment])
    save(path, updated)
    return updated
