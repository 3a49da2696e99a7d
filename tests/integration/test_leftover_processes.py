"""The session-end check (conftest.pytest_sessionfinish): a test run that leaves a process running
fails, naming it, and the process is stopped; a run that leaves none passes. Real pytest runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import processes
from tests.cli import REPO

LEAVES_AN_ORPHAN = """
import subprocess


def test_starts_a_process_it_never_stops() -> None:
    subprocess.run(["sh", "-c", "sleep 300 & echo $! > leftover.pid"], check=True)  # sh exits; its sleep is an orphan
"""

CLEAN = """
import subprocess


def test_waits_for_its_process() -> None:
    subprocess.run(["sleep", "0.1"], check=True)
"""


def _pytest(folder: Path, source: str) -> subprocess.CompletedProcess[str]:
    (folder / "test_inner.py").write_text(source)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "tests.conftest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(folder),
        str(folder / "test_inner.py"),
    ]
    environment = {**os.environ, "ZKINFER_TEST_LEFTOVER_GRACE_S": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=300)


def test_a_run_that_leaves_a_process_fails_naming_it(tmp_path: Path) -> None:
    done = _pytest(tmp_path, LEAVES_AN_ORPHAN)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed" in done.stdout and "still running" in done.stdout and "sleep 300" in done.stdout, done.stdout
    leftover = int((tmp_path / "leftover.pid").read_text())
    assert not processes.wait_gone([leftover], 5)  # and it was stopped


def test_a_run_that_leaves_none_passes(tmp_path: Path) -> None:
    done = _pytest(tmp_path, CLEAN)
    assert done.returncode == 0 and "still running" not in done.stdout, done.stdout + done.stderr
