"""Per-process scratch files in memory, for the files ezkl insists on reading and writing.

ezkl's witness and verify calls take paths, never bytes, so every statement and every verify
hands it files. A temporary directory per call costs a mkdir and an rmdir, and on a disk mounted
with `discard` (ext4 on a cloud volume) each rmdir or truncation frees blocks synchronously:
~4 ms measured here, half a witness of the digits MLP. So each process keeps one private
directory (mode 0700) on /dev/shm where there is one, names each call's files uniquely, and
removes them when the call is done; the directory goes at exit. A forked child makes its own.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_MEMORY = "/dev/shm"
_lock = threading.Lock()
_made: dict[int, Path] = {}  # pid → its directory (a forked child sees its parent's entry and makes its own)
_names = itertools.count()  # next() is atomic under the GIL: unique per process, whichever thread asks


def root() -> str | None:
    """Where the directories go: /dev/shm (tmpfs) when it is writable, else the system's temp directory."""
    return _MEMORY if os.path.isdir(_MEMORY) and os.access(_MEMORY, os.W_OK | os.X_OK) else None


def directory() -> Path:
    """This process's scratch directory, made on first use (private to this user: mkdtemp makes it 0700)."""
    pid = os.getpid()
    with _lock:
        made = _made.get(pid)
        if made is None or not made.is_dir():
            if not _made:
                atexit.register(_remove_mine)  # on first use: importing this module changes nothing
            made = _made[pid] = Path(tempfile.mkdtemp(prefix=f"zkinfer-{pid}-", dir=root()))
        return made


def _remove_mine() -> None:
    """At exit: remove this process's directory (never the one a parent made before forking it)."""
    made = _made.get(os.getpid())
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


@contextmanager
def files(*names: str) -> Iterator[list[Path]]:
    """Paths for one call's files (`names` as suffixes, unique to this call), removed afterwards
    whether or not they were written."""
    folder, prefix = directory(), f"{next(_names)}-"
    paths = [folder / f"{prefix}{name}" for name in names]
    try:
        yield paths
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
