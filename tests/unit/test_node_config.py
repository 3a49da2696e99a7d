"""`NodeConfig`: `zkinfer serve --mode`'s rules and the statement worker count, as typed errors naming the options."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkinfer.node.config import NodeConfig, NodeConfigError, OptimisticConfig, ServeModeError

RPC = "http://127.0.0.1:8545"


def test_proving_mode_takes_no_chain_options() -> None:
    assert NodeConfig.optimistic_for("proving") is None
    for chain_option in ({"rpc_url": RPC}, {"chain_key_file": Path("k")}, {"stake": "0x" + "11" * 20}):
        with pytest.raises(ServeModeError, match="are for --mode optimistic; add it or drop them"):
            NodeConfig.optimistic_for("proving", **chain_option)


def test_an_unknown_mode_and_optimistic_without_a_chain_are_refused() -> None:
    with pytest.raises(ServeModeError, match=r"^--mode: 'lazy' is not one of proving, optimistic$"):
        NodeConfig.optimistic_for("lazy")
    with pytest.raises(ServeModeError, match=r"^--mode optimistic: give --rpc-url"):
        NodeConfig.optimistic_for("optimistic")


def test_optimistic_mode_means_claims_on_the_registrys_chain(tmp_path: Path) -> None:
    registry = tmp_path / "deployments.json"
    config = NodeConfig.optimistic_for(
        "optimistic", rpc_url=RPC, stake_registry=registry, spot_check_p=0.5, claim_batch=8, claim_interval_s=2.0
    )
    assert config == OptimisticConfig(RPC, None, None, registry, 0.5, 8, 2.0)
    with pytest.raises(NodeConfigError, match="--spot-check: 2"):  # the claim options' own ranges still apply
        NodeConfig.optimistic_for("optimistic", rpc_url=RPC, stake_registry=registry, spot_check_p=2)
    assert ServeModeError.exit_code == 2


def test_statement_workers_default_to_one_per_core_and_a_count_out_of_range_is_refused(tmp_path: Path) -> None:
    from zkinfer.node.config import cpu_count

    config = NodeConfig(circuits=tmp_path, state_dir=tmp_path)
    assert config.statement_workers == min(cpu_count(), 64) >= 1
    assert NodeConfig(circuits=tmp_path, state_dir=tmp_path, statement_workers=3).statement_workers == 3
    for bad in (0, 65):
        with pytest.raises(NodeConfigError, match=rf"^--statement-workers: {bad}; give 1 to 64"):
            NodeConfig(circuits=tmp_path, state_dir=tmp_path, statement_workers=bad)
