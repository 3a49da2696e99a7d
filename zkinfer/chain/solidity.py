"""Compile Solidity with the pinned solcjs, in standard-JSON mode, with fixed settings.

Fixed settings make the bytecode a function of the sources alone: the same verifier compiles to
the same bytes on every machine, so the code at a recorded address can be compared byte for byte
with a fresh compile (`deploy.code_matches`). No metadata hash is appended (it would change with
comments and file paths). Runtime code over EIP-170's limit is refused here, naming the contract:
anvil can lift the limit (`--code-size-limit`), a real network cannot.

Imports of `@openzeppelin/contracts/...` resolve in node_modules (solcjs's import callback, through
`--include-path`), where package-lock.json pins OpenZeppelin Contracts: the same sources every time.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkinfer.chain import toolchain
from zkinfer.core.crypto.digest import digest_bytes, digest_json
from zkinfer.core.support.errors import ChainError, ContractTooLarge

EIP170_LIMIT = 24_576  # bytes of runtime code a contract may have on Ethereum and its L2s
EVM_VERSION = "cancun"  # what mainnet and the common L2s run; anvil's default hardfork is newer, so it runs it
OPTIMIZER_RUNS = 200
# The standard-JSON `settings`; part of the compiled-artifact cache key (with solc's version).
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
    "evmVersion": EVM_VERSION,
    "metadata": {"bytecodeHash": "none", "appendCBOR": False},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}
COMPILE_TIMEOUT_S = 600


@dataclass(frozen=True)
class Compiled:
    """One compiled contract: its ABI, creation code and runtime (deployed) code."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    runtime: bytes

    @property
    def runtime_digest(self) -> str:
        """What a deployment records: the runtime code's digest (the code `eth_getCode` returns)."""
        return digest_bytes(self.runtime)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "abi": self.abi, "bytecode": self.bytecode.hex(), "runtime": self.runtime.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Compiled:
        return cls(
            name=str(data["name"]),
            abi=list(data["abi"]),
            bytecode=bytes.fromhex(data["bytecode"]),
            runtime=bytes.fromhex(data["runtime"]),
        )


def settings_digest() -> str:
    """The compiler and its settings, as one digest (a cache key part)."""
    return digest_json({"solc": toolchain.SOLC_VERSION, "settings": SETTINGS})


def compile_sources(
    sources: Mapping[str, str], contract: str, *, base_path: Path | None = None, check_size: bool = True
) -> Compiled:
    """Compile `sources` (unit name → Solidity text) and return `contract` ("Name", or "unit:Name"
    when several units define one). Imports the sources do not give are read under `base_path`, then
    under node_modules (`@openzeppelin/...`)."""
    document = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": SETTINGS,
    }
    command = [*toolchain.solcjs(), "--standard-json"]
    if base_path is not None:
        command += ["--base-path", str(base_path), "--include-path", str(toolchain.node_modules())]
    try:
        # files, not pipes, on both ends: solcjs reads stdin with readFileSync(0), which fails with EAGAIN
        # on a pipe, and exits right after writing, which cuts output to a pipe short (seen at ~64 KiB)
        with tempfile.TemporaryFile("w+") as stdin, tempfile.TemporaryFile("w+") as stdout:
            json.dump(document, stdin)
            stdin.seek(0)
            done = subprocess.run(
                command,
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.PIPE,
                text=True,
                timeout=COMPILE_TIMEOUT_S,
                check=False,
            )
            stdout.seek(0)
            text = stdout.read()
    except subprocess.TimeoutExpired as exc:
        raise ChainError(f"solcjs did not finish compiling {', '.join(sources)} within {COMPILE_TIMEOUT_S} s") from exc
    try:
        output = json.loads(text[text.find("{") :])  # solcjs may print a ">>> ..." notice first
    except json.JSONDecodeError as exc:
        raise ChainError(
            f"solcjs failed on {', '.join(sources)} (exit {done.returncode}): {(done.stderr or text)[-2000:]}"
        ) from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ChainError(
            f"{', '.join(sources)}: solc {toolchain.SOLC_VERSION} refused it: "
            + "; ".join(str(e.get("formattedMessage") or e.get("message"))[:600] for e in errors[:5])
        )
    return _pick(output.get("contracts", {}), contract, check_size)


def compile_file(path: Path, contract: str, *, check_size: bool = True) -> Compiled:
    """Compile one .sol file (imports resolved beside it)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ChainError(f"{path}: cannot read the Solidity source ({exc})") from exc
    return compile_sources({path.name: text}, contract, base_path=path.parent, check_size=check_size)


def compile_cached(path: Path, contract: str) -> Compiled:
    """`compile_file`, cached under $ZKINFER_HOME/contracts by the digests of every .sol file beside `path`
    (what it may import), OpenZeppelin's pinned version and the compiler settings (solcjs takes seconds:
    every chain command checks the code at a contract's address against a fresh compile)."""
    from zkinfer.core.support import cache

    try:
        sources = {p.name: digest_bytes(p.read_bytes()) for p in sorted(path.parent.glob("*.sol"))}
    except OSError as exc:
        raise ChainError(
            f"{path}: cannot read the contract's sources ({exc.strerror or exc}); "
            "zkinfer's chain commands run from a checkout"
        ) from exc
    if path.name not in sources:
        raise ChainError(f"{path}: no such Solidity source; zkinfer's chain commands run from a checkout")
    key = {"sources": sources, "main": path.name, "openzeppelin": toolchain.OPENZEPPELIN_VERSION}
    artifact = cache.cache_dir("contracts", cache.key_part(digest_json({**key, "compiler": settings_digest()})))
    artifact = artifact / f"{contract.rpartition(':')[2]}.json"
    if artifact.is_file():
        return Compiled.from_json(json.loads(artifact.read_text()))
    toolchain.openzeppelin()  # the pinned version, or a ToolchainMissing saying how to install it
    made = compile_file(path, contract)
    cache.write_atomically(artifact, json.dumps(made.to_json()).encode())
    return made


def _pick(contracts: dict[str, dict[str, Any]], contract: str, check_size: bool) -> Compiled:
    unit, _, name = contract.rpartition(":")
    found = [(u, n, c) for u, by_name in contracts.items() for n, c in by_name.items() if n == name and unit in ("", u)]
    if len(found) != 1:
        listed = ", ".join(f"{u}:{n}" for u, by_name in contracts.items() for n in by_name) or "none"
        raise ChainError(
            f"contract {contract!r}: {'not found' if not found else 'ambiguous'} "
            f"among the compiled contracts ({listed})"
        )
    unit, name, data = found[0]
    compiled = Compiled(
        name=name,
        abi=data["abi"],
        bytecode=bytes.fromhex(data["evm"]["bytecode"]["object"]),
        runtime=bytes.fromhex(data["evm"]["deployedBytecode"]["object"]),
    )
    if check_size:
        check_code_size(compiled)
    return compiled


def check_code_size(compiled: Compiled) -> None:
    """Refuse runtime code over EIP-170's limit, naming the contract and its size."""
    size = len(compiled.runtime)
    if size > EIP170_LIMIT:
        raise ContractTooLarge(
            f"contract {compiled.name}: runtime code is {size} bytes, over EIP-170's {EIP170_LIMIT}-byte limit, "
            "so no public EVM network will deploy it; make the circuit smaller (fewer columns or lookups), "
            "or use a dev chain started with a larger --code-size-limit"
        )
