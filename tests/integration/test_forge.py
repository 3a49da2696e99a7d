"""`forge test`: the stake contract's Solidity unit, fuzz and invariant tests (tests/contracts/forge), offline.

forge comes from npm (`@foundry-rs/forge`, installed by scripts/setup.sh) and compiles with the pinned solcjs
behind scripts/solcjs-for-forge (foundry.toml), so it never downloads a compiler: the run gets a fresh $HOME
and a proxy that answers nothing, and no compiler store (~/.svm) may appear. Fuzz runs and invariant depth in
foundry.toml keep it to ~20 s on two cores, most of it solcjs compiling OpenZeppelin and the tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from zkinfer.chain import toolchain
from zkinfer.chain.stake_client import compiled

ROOT = Path(__file__).resolve().parents[2]
FORGE_TIMEOUT_S = 600
INVARIANTS = (
    "invariant_eth_held_equals_bonds_balances_open_challenges_and_burned",
    "invariant_an_honest_node_never_loses_bond",
    "invariant_no_claim_is_both_answered_and_slashed",
    "invariant_nothing_forbidden_happened",
)


def test_forge_runs_the_solidity_unit_fuzz_and_invariant_tests_offline(tmp_path: Path) -> None:
    unreachable = "http://127.0.0.1:9"  # nothing listens there: a download attempt fails
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "FOUNDRY_OFFLINE": "true",
        "NO_COLOR": "1",
        "HTTP_PROXY": unreachable,
        "HTTPS_PROXY": unreachable,
        "http_proxy": unreachable,
        "https_proxy": unreachable,
    }
    done = subprocess.run(
        [str(toolchain.forge()), "test", "--root", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=FORGE_TIMEOUT_S,
        env=env,
        check=False,
    )
    shown = f"forge test exited {done.returncode}:\n{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
    assert done.returncode == 0, shown
    summary = re.search(r"(\d+) tests passed, (\d+) failed", done.stdout)
    assert summary is not None and int(summary[1]) >= 17 and summary[2] == "0", shown
    for name in INVARIANTS:  # each invariant ran (with calls), not just compiled
        assert re.search(rf"\[PASS\] {name}\(\) \(runs: \d+, calls: [1-9]\d*", done.stdout), shown
    assert not (tmp_path / ".svm").exists(), "forge fetched a compiler"
    # forge tested the very bytes zkinfer deploys (same compiler and settings)
    artifact = json.loads((ROOT / "build" / "forge" / "out" / "ZkinferStake.sol" / "ZkinferStake.json").read_text())
    assert bytes.fromhex(artifact["deployedBytecode"]["object"].removeprefix("0x")) == compiled().runtime
