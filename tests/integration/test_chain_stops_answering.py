"""An Ethereum node that answered and then stopped, mid-command: an infrastructure error (exit 3, a retry or
an operator fixes it), never a usage error that tells the caller to fix their options."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkinfer.chain import account, deploy, devchain
from zkinfer.chain.stake_client import Stake
from zkinfer.core.support.errors import ChainUnreachable, InfrastructureError, UsageError


def test_a_chain_that_stops_answering_mid_command_is_an_infrastructure_error(tmp_path: Path) -> None:
    with devchain.dev_chain(tmp_path / "anvil") as running:
        chain = account.connect(running.rpc_url, running.default_key)
        stake, _ = Stake.deploy(chain)
        deploy.send(chain, {"to": chain.address, "value": 1}, "a transfer")  # answers while it runs
    # the dev chain is stopped: the same calls now meet a node that no longer answers
    with pytest.raises(ChainUnreachable) as transfer:
        deploy.send(chain, {"to": chain.address, "value": 1}, "a transfer")
    with pytest.raises(ChainUnreachable) as bond:
        stake.register_node(10**18)
    for caught in (transfer.value, bond.value):
        assert isinstance(caught, InfrastructureError) and not isinstance(caught, UsageError)
        assert caught.exit_code == 3
        assert running.rpc_url in str(caught) and "stopped answering" in str(caught)
    assert "ZkinferStake.registerNode" in str(bond.value)
