"""The verify worker's answers are read one line per request (`ezkl_worker`): a line that is not its
verdict (native output reaching its stdout) fails that proof and replaces the worker, so a verdict
meant for one proof can never be read as another's. A real process speaks the worker's protocol
here, with no ezkl: its first answer is preceded by a stray line."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from zkinfer.core.zkp import ezkl_worker, ezkl_worker_wire

NOISY_WORKER = """
import json, sys
for n, line in enumerate(sys.stdin):
    if n == 0:
        sys.stdout.write("[ezkl] progress 100%\\n")  # as native code writing to fd 1 would
    sys.stdout.write(json.dumps({"ok": True, "reason": ""}) + "\\n")
    sys.stdout.flush()
"""


@pytest.fixture
def noisy_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    ezkl_worker.stop()
    monkeypatch.setattr(ezkl_worker_wire, "command", lambda *args: [sys.executable, "-c", NOISY_WORKER])
    yield
    ezkl_worker.stop()


def test_a_stray_line_fails_that_proof_and_the_next_proof_gets_a_fresh_worker(noisy_worker: None) -> None:
    ok, reason = ezkl_worker.verify("p", "s", "v", "r", True)
    assert not ok and "progress 100%" in reason and "instead of a verdict" in reason, reason
    # had the worker been kept, this call would read the first request's verdict; a fresh one answers its own
    again, reason = ezkl_worker.verify("p", "s", "v", "r", True)
    assert not again and "progress 100%" in reason, reason
