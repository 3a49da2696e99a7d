"""`serving.state`: a state directory is held by one server at a time (also across processes, and
released when its holder dies), an unusable one is a one-line usage error, and the key is made once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zkinfer.core.support.errors import UsageError
from zkinfer.serving import state

HOLD = "import sys, time; from pathlib import Path; from zkinfer.serving import state; " + (
    "h = state.lock(Path(sys.argv[1]), 'gateway'); print('held', flush=True); time.sleep(60)"
)


def test_a_second_server_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    first = state.lock(tmp_path / "state", "node")
    try:
        assert (tmp_path / "state" / "node.lock").exists()
        with pytest.raises(state.StateDirError, match="another node is serving from this state directory"):
            state.lock(tmp_path / "state", "node")
        other = state.lock(tmp_path / "state", "gateway")  # a gateway's lock is its own file
        other.close()
    finally:
        first.close()
    state.lock(tmp_path / "state", "node").close()  # released: the next start takes it


def test_the_lock_holds_across_processes_until_the_holder_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(state.StateDirError, match="another gateway is serving"):
            state.lock(tmp_path, "gateway")
    finally:
        holder.kill()  # kill -9: the kernel releases the lock
        holder.wait()
    state.lock(tmp_path, "gateway").close()


def test_an_unwritable_directory_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(state.StateDirError) as refused:
        state.lock(blocker / "state", "node")
    assert isinstance(refused.value, UsageError) and refused.value.exit_code == 2
    assert str(refused.value).startswith(f"{blocker / 'state'}: cannot write the node's state directory")


def test_the_node_key_is_made_once_and_kept(tmp_path: Path) -> None:
    import logging

    path = tmp_path / "node.key"
    log = logging.getLogger("test.serving")
    made = state.node_key(path, given=False, log=log)
    assert path.exists() and state.node_key(path, given=False, log=log).public_hex == made.public_hex
    with pytest.raises(Exception, match="node"):  # given but missing: an error, never a fresh key
        state.node_key(tmp_path / "missing.key", given=True, log=log)
