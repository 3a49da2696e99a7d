"""Run the real `zkinfer` CLI in a subprocess, as a user's shell would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def zkinfer(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zkinfer", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600
    )
