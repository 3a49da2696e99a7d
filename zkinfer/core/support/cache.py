"""The artifact cache under $ZKINFER_HOME: content-addressed, atomically written files.

Proving keys are large and slow to make, so they are built once per (circuit, SRS) pair and a
crash can never leave a half-written file where a complete one is expected.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def home() -> Path:
    """The cache root: $ZKINFER_HOME, else ~/.cache/zkinfer. Created on first use."""
    root = Path(os.environ.get("ZKINFER_HOME") or Path.home() / ".cache" / "zkinfer")
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    """A sub-directory of the cache, created on demand."""
    path = home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def key_part(digest: str) -> str:
    """A digest made safe as a path component (`sha256:ab..` → `ab..`)."""
    return digest.split(":", 1)[-1]


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_atomically(targets: list[Path], build: Callable[[list[Path]], None]) -> None:
    """Run `build` writing to temp paths beside each target, then rename all into place.

    Used for ezkl steps that write files themselves (setup writes pk and vk): the targets
    appear only once every one of them is complete.
    """
    temps: list[Path] = []
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        temps.append(Path(name))
    try:
        build(temps)
        for temp, target in zip(temps, targets, strict=True):
            os.replace(temp, target)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
