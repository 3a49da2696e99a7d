"""A state directory the node cannot write is a one-line error (exit 2), before anything listens.

Tests may run as root, where a chmod'ed folder is still writable, so the unwritable places here are
ones no user can write: a path under a regular file, and a regular file where the folder should be.
Where the test runs as a normal user, a read-only folder is checked too.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli import zkinfer
from tests.node_harness import free_port


def _serve(circuits: Path, state_dir: Path) -> tuple[int, str]:
    result = zkinfer("serve", "--circuits", circuits, "--port", str(free_port()), "--state-dir", state_dir)
    return result.returncode, " ".join(result.stderr.split())


def _unwritable(tmp_path: Path) -> list[Path]:
    (tmp_path / "a-file").write_text("not a folder")
    places = [tmp_path / "a-file" / "state", tmp_path / "a-file"]
    if os.geteuid() != 0:
        (tmp_path / "read-only").mkdir(mode=0o555)
        places.append(tmp_path / "read-only")
    return places


def test_an_unwritable_state_dir_is_a_one_line_error(tiny_circuit: Path, tmp_path: Path) -> None:
    for state_dir in _unwritable(tmp_path):
        code, stderr = _serve(tiny_circuit, state_dir)
        assert code == 2, stderr
        assert "Traceback" not in stderr, stderr
        assert str(state_dir) in stderr and "cannot write" in stderr and "--state-dir" in stderr, stderr
