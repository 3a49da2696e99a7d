"""The README's walk-through for several nodes and a gateway is true: its key, API-key and nodes.toml
block, run as written, gives a node set the gateway loads, with each node's API key in the
variable its entry names; and the way it says to read an API key from a file the node made works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import REPO
from zkinfer.core.crypto import identity
from zkinfer.core.support.errors import UsageError
from zkinfer.network import nodeset
from zkinfer.network.client import Consensus
from zkinfer.serving import auth

MARKER = "<!-- walkthrough:keys"


def _block_after(marker: str) -> str:
    readme = (REPO / "README.md").read_text()
    found = re.search(re.escape(marker) + r".*?\n```bash\n(.*?)\n```", readme, re.S)
    assert found, f"README.md has no ```bash block after {marker!r}"
    return found.group(1)


def _shell(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent  # .venv/bin: where `zkinfer` is, as after `. .venv/bin/activate`
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_walkthrough_makes_a_node_set_the_gateway_loads(tmp_path: Path) -> None:
    ran = _shell(_block_after(MARKER), tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    pinned = nodeset.load(tmp_path / "net" / "nodes.toml")
    assert [(n.name, n.url, n.api_key_env) for n in pinned.nodes] == [
        (f"node{i}", f"http://127.0.0.1:800{i}", f"NODE{i}_API_KEY") for i in (1, 2, 3)
    ]
    assert pinned.quorum.threshold == 2  # more than half of 3
    environ = {}
    for i, node in enumerate(pinned.nodes, start=1):
        state = tmp_path / "net" / f"node{i}"
        assert node.public_key == identity.load_key(state / "node.key").public_key
        key = (state / "api-key").read_text().strip()
        assert (state / "api-key").read_text().count("\n") == 1 and not key.startswith("#")
        assert auth.read(state / "api-key").owner(f"Bearer {key}") is not None  # what `serve --api-keys` accepts
        environ[f"NODE{i}_API_KEY"] = key
    Consensus(pinned, environ=environ)  # the gateway's client finds every node's key
    with pytest.raises(UsageError, match="NODE1_API_KEY"):
        Consensus(pinned, environ={})
    assert (tmp_path / "net" / "gateway-key").read_text().strip()


def test_reading_a_made_api_key_file_as_the_readme_says(tmp_path: Path) -> None:
    made = tmp_path / "api-keys"
    auth.create(made)  # what `zkinfer serve` / `zkinfer gateway` write into --state-dir
    keys = auth.read(made)
    documented = _shell(f"grep -v '^#' {made} | head -1", tmp_path).stdout.strip()
    assert keys.owner(f"Bearer {documented}") is not None
    first_line = _shell(f"head -1 {made}", tmp_path).stdout.strip()
    assert first_line.startswith("#") and keys.owner(f"Bearer {first_line}") is None  # the 401 the README warns about
    assert "grep -v '^#' .zkinfer-node/api-keys" in (REPO / "README.md").read_text()
