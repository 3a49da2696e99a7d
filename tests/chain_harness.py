"""A real dev chain for the chain tests: anvil on a free port in a temporary directory, started once
per test module that imports the fixtures, and stopped when the module ends, even after a failure.

    from tests import chain_harness
    anvil, chain = chain_harness.anvil, chain_harness.chain  # fixtures, requested by name
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zkinfer.chain import account, devchain


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devchain.DevChain]:
    """A running anvil (chain id 31337, ten prefunded accounts); its state dir is private to the module."""
    with devchain.dev_chain(tmp_path_factory.mktemp("anvil")) as running:
        yield running


@pytest.fixture(scope="module")
def chain(anvil: devchain.DevChain) -> account.Chain:
    """A connection to `anvil` that signs with its first prefunded account."""
    return account.connect(anvil.rpc_url, anvil.default_key)


def other_account(anvil: devchain.DevChain, index: int) -> account.Chain:
    """The same chain, signing as prefunded account `index` (1..9)."""
    return account.connect(anvil.rpc_url, anvil.keys[index])


def fresh_account(anvil: devchain.DevChain, wei: int = 10**20) -> account.Chain:
    """A new account funded with `wei` (anvil prefunds only ten): for runs that need more parties, or a first
    storage write per party."""
    from eth_account import Account

    made = Account.create()
    devchain.rpc(anvil.rpc_url, "anvil_setBalance", [made.address, hex(wei)])
    return account.connect(anvil.rpc_url, "0x" + bytes(made.key).hex())


def key_file(anvil: devchain.DevChain, index: int, folder: Path) -> Path:
    """A file holding prefunded account `index`'s private key (what --key-file / --chain-key-file take)."""
    path = folder / f"key{index}"
    path.write_text(anvil.keys[index])
    return path


def settle_with_proof(node: Any, dispute_id: int, computed: Any, proof: bytes, outputs: list[int], bond: int) -> Any:
    """A dispute game's node settling its disputed leaf with a real referee proof (`zkinfer.chain.dispute`): the
    proof with one output moved by a grid step (within tolerance) is refused, the proof as made wins the bond.
    Returns the winning transaction (its gas)."""
    from zkinfer.chain import dispute
    from zkinfer.core.support.errors import ChainError

    tampered = list(outputs)
    tampered[3] += 1  # within tolerance, but not what the proof proves
    with pytest.raises(ChainError, match=dispute.error_selector("InvalidProof()")):
        node.settle(dispute_id, computed, proof, tampered)
    settled = node.settle(dispute_id, computed, proof, outputs)
    assert node.state(dispute_id)["phase"] == "NodeWon"
    assert node.credit(node.chain.address) == bond
    return settled
