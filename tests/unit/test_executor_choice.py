"""prover/executor.choose: the one rule for where proofs run (the CLI's `prove` and the node's workers):
in this process unless an executor, a Ray address or a memory ceiling is asked for."""

from __future__ import annotations

import pytest

from zkinfer.core.support.errors import UsageError
from zkinfer.prover.executor import choose
from zkinfer.prover.executor.local import LocalExecutor


def test_plain_local_proves_in_this_process() -> None:
    assert choose("local") is None


def test_a_memory_ceiling_opens_a_local_executor() -> None:
    executor = choose("local", max_memory=2 << 30, parallel=1)
    try:
        assert isinstance(executor, LocalExecutor)
    finally:
        assert executor is not None
        executor.close()


def test_a_ray_address_needs_the_ray_executor() -> None:
    with pytest.raises(UsageError, match="--ray-address is for --executor ray"):
        choose("local", ray_address="127.0.0.1:6379")
    with pytest.raises(UsageError, match="--executor"):
        choose("gpu-farm")
