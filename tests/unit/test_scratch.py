"""Scratch files (`zkinfer.core.support.scratch`): what a witness or a verify hands ezkl. Each call's
files are its own (threads verify at once in a gateway), private to this user, and gone afterwards,
also when ezkl failed; a forked child never shares or removes its parent's directory."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from zkinfer.core.support import scratch


def test_each_call_gets_its_own_private_files_and_they_are_gone_afterwards() -> None:
    seen: list[Path] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        with scratch.files("proof.json", "vk") as (proof, vk):
            proof.write_text(str(i))
            vk.write_bytes(bytes([i]))
            assert proof.read_text() == str(i) and vk.read_bytes() == bytes([i])  # nobody else wrote them
            with lock:
                seen.extend([proof, vk])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 32
    assert not [p for p in seen if p.exists()]
    folder = scratch.directory()
    assert {p.parent for p in seen} == {folder}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    memory = scratch.root()
    if memory is not None:
        assert folder.parent == Path(memory)  # memory, not the disk


def test_files_are_removed_when_the_call_fails_and_unwritten_ones_are_fine() -> None:
    with pytest.raises(RuntimeError), scratch.files("witness.json", "never-written") as (witness, _):
        witness.write_text("{}")
        raise RuntimeError("ezkl failed")
    assert not witness.exists()


def test_a_removed_directory_is_made_again() -> None:
    folder = scratch.directory()
    folder.rmdir()  # e.g. a tmp cleaner emptied /dev/shm
    with scratch.files("x") as (path,):
        path.write_text("x")
        assert path.parent.is_dir()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_makes_its_own_directory_and_leaves_the_parents() -> None:
    parent = scratch.directory()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its directory, remove it as its exit would, leave at once
        try:
            mine = scratch.directory()
            os.write(write, str(mine).encode())
            scratch._remove_mine()
        finally:
            os._exit(0)
    os.close(write)
    child = Path(os.read(read, 4096).decode())
    os.close(read)
    os.waitpid(pid, 0)
    assert child != parent and not child.exists()
    assert parent.is_dir()
