"""Where the pinned chain tools are: solcjs (npm `solc`) and anvil (npm `@foundry-rs/anvil`).

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
ANVIL_VERSION = "1.7.1"
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


def _platform_package() -> str:
    system = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(
        platform.system(), platform.system().lower()
    )
    machine = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine(), platform.machine()
    )
    return f"anvil-{system}-{machine}"


def anvil() -> Path:
    """The anvil binary itself (the platform package's, not npm's node wrapper: a signal then
    reaches anvil directly, so it dumps its state and stops)."""
    root = node_modules()
    native = (
        root
        / "@foundry-rs"
        / _platform_package()
        / "bin"
        / ("anvil.exe" if platform.system() == "Windows" else "anvil")
    )
    if native.is_file() and os.access(native, os.X_OK):
        return native
    raise ToolchainMissing(f"{native}: anvil {ANVIL_VERSION} is not installed for this platform; {FIX}")
