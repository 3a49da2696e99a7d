"""Where the pinned chain tools are: solcjs (npm `solc`), anvil (npm `@foundry-rs/anvil`), forge
(npm `@foundry-rs/forge`, runs the Solidity tests) and OpenZeppelin Contracts (npm `@openzeppelin/contracts`,
the audited parts the contracts import).

Both come from the repository's package-lock.json (`npm ci`, run by scripts/setup.sh), so every
machine compiles with the same compiler and tests against the same node. $ZKINFER_NODE_MODULES
points elsewhere (an installed zkinfer has no repo checkout beside it).
"""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

from zkinfer.core.support.errors import ToolchainMissing

NODE_MODULES_ENV = "ZKINFER_NODE_MODULES"
SOLC_VERSION = "0.8.37"  # package.json pins it; the compiled-artifact cache is keyed by it
ANVIL_VERSION = "1.7.1"  # forge is the same Foundry release
OPENZEPPELIN_VERSION = "5.7.0"  # package.json pins it; part of the compiled-contract cache key
FIX = (
    "run `bash scripts/setup.sh` (or `npm ci` in the repository root), "
    "or point $ZKINFER_NODE_MODULES at a node_modules that has them"
)


def node_modules() -> Path:
    """$ZKINFER_NODE_MODULES, else the node_modules beside this checkout's package.json."""
    override = os.environ.get(NODE_MODULES_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "node_modules"


def node() -> str:
    """The node.js executable solcjs runs on."""
    found = shutil.which("node")
    if found is None:
        raise ToolchainMissing(
            "node.js is not on PATH: solcjs needs it; "
            f"install node.js (Debian: `apt-get install nodejs npm`), then {FIX}"
        )
    return found


def solcjs() -> list[str]:
    """The command that runs solcjs (the pinned solc, compiled to WebAssembly)."""
    script = node_modules() / "solc" / "solc.js"
    if not script.is_file():
        raise ToolchainMissing(f"{script}: solcjs {SOLC_VERSION} is not installed; {FIX}")
    return [node(), str(script)]


def _platform_package(tool: str) -> str:
    system = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(
        platform.system(), platform.system().lower()
    )
    machine = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine(), platform.machine()
    )
    return f"{tool}-{system}-{machine}"


def _foundry_binary(tool: str) -> Path:
    """A Foundry tool's binary from its platform package (`@foundry-rs/<tool>-<os>-<arch>`)."""
    executable = f"{tool}.exe" if platform.system() == "Windows" else tool
    native = node_modules() / "@foundry-rs" / _platform_package(tool) / "bin" / executable
    if native.is_file() and os.access(native, os.X_OK):
        return native
    raise ToolchainMissing(f"{native}: {tool} {ANVIL_VERSION} is not installed for this platform; {FIX}")


def anvil() -> Path:
    """The anvil binary itself (the platform package's, not npm's node wrapper: a signal then
    reaches anvil directly, so it dumps its state and stops)."""
    return _foundry_binary("anvil")


def forge() -> Path:
    """The forge binary (runs the Solidity unit, fuzz and invariant tests; see foundry.toml)."""
    return _foundry_binary("forge")


def openzeppelin() -> Path:
    """node_modules/@openzeppelin/contracts, checked to be the pinned version (the imports resolve there)."""
    import json

    root = node_modules() / "@openzeppelin" / "contracts"
    try:
        version = json.loads((root / "package.json").read_text()).get("version")
    except (OSError, ValueError):
        version = None
    if version != OPENZEPPELIN_VERSION:
        raise ToolchainMissing(
            f"{root}: OpenZeppelin Contracts {OPENZEPPELIN_VERSION} is not installed (found {version}); {FIX}"
        )
    return root
