"""`deployments.json`: which contract was deployed where, and what it is bound to.

One registry holds every role (verifiers and the stake contract), by default in the chain state
directory: `.zkinfer-chain/deployments.json` (`default_path`), whichever chain (entries name their
chain id). Earlier versions wrote the stake contract to `./deployments.json` and each verifier to
`CIRCUIT/deployments.json`; `resolve` adopts the entries of those files into the one registry, so
existing set-ups keep working.

Each entry names the chain (its id, as the node reported it), the address, the digest of the
runtime code deployed, and for a verifier the circuit, verifying-key and settings digests, the SRS
ceremony and the digest of the generated .sol. The file is a note, not evidence: anyone can edit
it, so a reader checks the code at an address (`deploy.code_matches`) before trusting an entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from zkinfer.core.formats import strict_json
from zkinfer.core.support.cache import write_atomically
from zkinfer.core.support.errors import ChainError

if TYPE_CHECKING:
    from zkinfer.chain.deploy import Sent
    from zkinfer.chain.solidity import Compiled

SCHEMA_VERSION = "zkinfer.deployments/1"
FILE_NAME = "deployments.json"
DEFAULT_STATE_DIR = Path(".zkinfer-chain")  # the dev chain's directory, `--state-dir` of every chain command
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


def deployed(role: str, compiled: Compiled, chain_id: int, deployer: str, sent: Sent, **bound: str) -> Deployment:
    """The entry for `compiled` just deployed by `sent` on `chain_id` from `deployer` as `role`, with what it is
    `bound` to (a verifier's circuit, key and settings digests)."""
    from zkinfer.chain import solidity

    assert sent.contract_address is not None  # deploy.deploy raises otherwise
    return Deployment(
        contract=role,
        name=compiled.name,
        chain_id=chain_id,
        address=sent.contract_address,
        runtime_digest=compiled.runtime_digest,
        compiler=solidity.settings_digest(),
        tx_hash=sent.tx_hash,
        block=sent.block,
        gas_used=sent.gas_used,
        deployed_at=now(),
        deployer=deployer,
        **bound,
    )


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
    found = [
        d
        for d in registry.deployments
        if d.contract == contract and d.chain_id == chain_id and all(getattr(d, k) == v for k, v in match.items())
    ]
    return found[-1] if found else None


def recorded_address(path: Path, contract: str, chain_id: int, what: str, option: str, command: str) -> str:
    """The address of the latest `contract` on `chain_id` that the file at `path` records; a ChainError saying
    how to give one (`option`) or deploy one (`command`) when it records none."""
    found = find(load(path), contract, chain_id)
    if found is None:
        raise ChainError(
            f"{path}: no {what} recorded on chain {chain_id}; give {option} ADDRESS or deploy one with "
            f"`zkinfer chain {command}`"
        )
    return found.address


def record(path: Path, deployment: Deployment, *replacing: str) -> Registry:
    """Add `deployment` to the file at `path`, dropping entries for the same contract and chain
    whose `replacing` fields equal its own (the one it supersedes)."""
    registry = load(path)
    kept = [
        d
        for d in registry.deployments
        if not (
            d.contract == deployment.contract
            and d.chain_id == deployment.chain_id
            and all(getattr(d, k) == getattr(deployment, k) for k in replacing)
        )
    ]
    updated = Registry(deployments=[*kept, deployment])
    save(path, updated)
    return updated


def default_path(state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The one registry: `deployments.json` in the chain state directory."""
    return state_dir / FILE_NAME


def legacy_paths(circuit_dirs: Iterable[Path] = ()) -> list[Path]:
    """Where earlier versions recorded deployments: `./deployments.json` (the stake contract) and
    `CIRCUIT/deployments.json` (each verifier), for the given circuits and those under `circuits/`."""
    return [
        Path(FILE_NAME),
        *(Path(d) / FILE_NAME for d in circuit_dirs),
        *sorted(Path("circuits").glob(f"*/{FILE_NAME}")),
    ]


@dataclass(frozen=True)
class Resolved:
    path: Path
    adopted: tuple[Path, ...] = ()  # older files whose entries were copied into `path` now


def resolve(given: Path | None, state_dir: Path = DEFAULT_STATE_DIR, circuit_dirs: Iterable[Path] = ()) -> Resolved:
    """The registry a command reads and writes: `given` (a `--registry FILE`) as it is, else the
    default one, first adopting the entries that older files record and it lacks. Adopted entries go
    before its own (they are older), so `find` still returns the latest deployment."""
    if given is not None:
        return Resolved(given)
    path = default_path(state_dir)
    target = path.resolve()
    current = load(path)
    adopted: list[Deployment] = []
    sources: list[Path] = []
    seen = {(d.contract, d.chain_id, d.address.lower()) for d in current.deployments}
    for old in dict.fromkeys(legacy_paths(circuit_dirs)):
        if not old.is_file() or old.resolve() == target:
            continue
        try:
            entries = load(old).deployments
        except ChainError:
            continue  # not a registry (or a broken one): nothing of it to adopt
        new = [d for d in entries if (d.contract, d.chain_id, d.address.lower()) not in seen]
        seen |= {(d.contract, d.chain_id, d.address.lower()) for d in new}
        if new:
            adopted += new
            sources.append(old)
    if adopted:
        save(path, Registry(deployments=[*adopted, *current.deployments]))
    return Resolved(path, tuple(sources))
