"""ezkl's calibration progress bars (drawn by its Rust code straight onto the terminal, not through
Python's logging) stay out of sight unless --verbose. They are drawn only on a terminal, so the CLI
runs on a pseudo-terminal here."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import REPO

pytestmark = pytest.mark.e2e  # compiles models and proves: not in the quick loop

BAR_TEXT = ("Calibration Done", "calibrating...", "i-scale:")


def on_terminal(*args: str | Path) -> tuple[int, str]:
    """Run `zkinfer ARGS` with stdout and stderr on a pseudo-terminal; (exit code, all it wrote)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "400"}  # rich cuts its spinner line at the terminal's width
    proc = subprocess.Popen(
        [sys.executable, "-m", "zkinfer", *map(str, args)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:  # read as it comes: a full pseudo-terminal buffer would block the child
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_compile_hides_ezkl_progress_bars_unless_verbose(tiny_dir: Path, tmp_path: Path) -> None:
    model, data = tiny_dir / "model.onnx", tiny_dir / "calibration.json"
    code, quiet = on_terminal("compile", model, "--data", data, "-o", tmp_path / "quiet", "--no-setup", "--no-search")
    assert code == 0, quiet
    assert not [text for text in BAR_TEXT if text in quiet], quiet
    assert "calibrating with decomp_base" in quiet and "wrote" in quiet  # our own spinner and result still show
    code, verbose = on_terminal(
        "--verbose", "compile", model, "--data", data, "-o", tmp_path / "verbose", "--no-setup", "--no-search"
    )
    assert code == 0 and "Calibration Done" in verbose  # the control: on a terminal ezkl does draw them


def test_hidden_output_is_restored_after_threads_overlap() -> None:
    import threading

    from zkinfer.core.zkp.ezkl_adapter import native_output_hidden

    before = [os.fstat(fd).st_ino for fd in (1, 2)]
    inside = threading.Barrier(2)

    def work() -> None:
        with native_output_hidden():
            inside.wait(timeout=10)  # both threads inside at once: one redirection, shared
            os.write(1, b"native noise\n")

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [os.fstat(fd).st_ino for fd in (1, 2)] == before
