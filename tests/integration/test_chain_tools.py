"""The chain's plumbing without a chain: where the tools are, keys, and the deployments file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.waiting import wait_until
from zkinfer.chain import account, registry, toolchain
from zkinfer.core.support.errors import ChainError, ToolchainMissing

DEV_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def test_missing_tools_name_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(toolchain.NODE_MODULES_ENV, str(tmp_path))
    for locate in (toolchain.anvil, toolchain.solcjs, toolchain.forge, toolchain.openzeppelin):
        with pytest.raises(ToolchainMissing) as caught:
            locate()
        assert (
            str(tmp_path) in str(caught.value)
            and "bash scripts/setup.sh" in str(caught.value)
            and "npm ci" in str(caught.value)
        )


def test_the_pinned_tools_are_installed() -> None:
    """What scripts/setup.sh's `npm ci` installs from package-lock.json: the versions the code names."""
    import subprocess

    lock = json.loads((Path(__file__).resolve().parents[2] / "package-lock.json").read_text())["packages"]
    assert lock["node_modules/solc"]["version"] == toolchain.SOLC_VERSION
    assert lock["node_modules/@foundry-rs/anvil"]["version"] == toolchain.ANVIL_VERSION
    assert lock["node_modules/@foundry-rs/forge"]["version"] == toolchain.ANVIL_VERSION  # one Foundry release
    assert lock["node_modules/@openzeppelin/contracts"]["version"] == toolchain.OPENZEPPELIN_VERSION
    assert toolchain.openzeppelin().is_dir()
    assert (
        toolchain.ANVIL_VERSION
        in subprocess.run(
            [str(toolchain.anvil()), "--version"], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    )


def test_keys_are_checked_and_never_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert account.parse_key(DEV_KEY + "\n", "test") == "0x" + DEV_KEY
    secret = "0x" + "z" * 63 + "1"
    with pytest.raises(ChainError) as caught:
        account.parse_key(secret, "--key-file k")
    assert secret not in str(caught.value) and "--key-file k" in str(caught.value)
    with pytest.raises(ChainError, match="zero key"):
        account.parse_key("0" * 64, "x")
    (tmp_path / "key").write_text("0x" + DEV_KEY)
    monkeypatch.setenv(account.KEY_ENV, "1" * 64)
    assert account.resolve_key(tmp_path / "key") == "0x" + DEV_KEY  # --key-file first
    assert account.resolve_key(None) == "0x" + "1" * 64  # then the environment
    monkeypatch.delenv(account.KEY_ENV)
    assert account.resolve_key(None) is None  # never a default key outside the dev chain


def test_a_real_network_needs_an_explicit_key(tmp_path: Path) -> None:
    with pytest.raises(ChainError) as caught:
        account.connect_cli("http://127.0.0.1:9", None, tmp_path, need_key=True)
    assert "--key-file" in str(caught.value) and account.KEY_ENV in str(caught.value)
    with pytest.raises(ChainError, match="zkinfer chain up"):
        account.connect_cli(None, None, tmp_path, need_key=False)


def _entry(address: str, vk: str) -> registry.Deployment:
    digest = "sha256:" + "ab" * 32
    return registry.Deployment(
        contract="verifier",
        name="Halo2Verifier",
        chain_id=31337,
        address=address,
        runtime_digest=digest,
        compiler=digest,
        tx_hash="0x00",
        block=1,
        gas_used=1,
        deployed_at=registry.now(),
        deployer="0x" + "00" * 20,
        vk_digest=vk,
    )


def test_the_deployments_file_is_strict_and_replaces_superseded_entries(tmp_path: Path) -> None:
    path = tmp_path / "deployments.json"
    assert registry.load(path).deployments == []
    vk_a, vk_b = "sha256:" + "0a" * 32, "sha256:" + "0b" * 32
    registry.record(path, _entry("0x" + "11" * 20, vk_a), "vk_digest")
    registry.record(path, _entry("0x" + "22" * 20, vk_b), "vk_digest")
    registry.record(path, _entry("0x" + "33" * 20, vk_a), "vk_digest")
    loaded = registry.load(path)
    assert [d.address for d in loaded.deployments] == ["0x" + "22" * 20, "0x" + "33" * 20]
    found = registry.find(loaded, "verifier", 31337, vk_digest=vk_a)
    assert found is not None and found.address == "0x" + "33" * 20
    assert registry.find(loaded, "verifier", 1, vk_digest=vk_a) is None  # another chain
    document = json.loads(path.read_text())
    document["deployments"][0]["address"] = "not an address"
    path.write_text(json.dumps(document))
    with pytest.raises(ChainError) as caught:
        registry.load(path)
    assert str(path) in str(caught.value) and "address" in str(caught.value)
    path.write_text('{"schema_version": "zkinfer.deployments/1", "deployments": [], "deployments": []}')
    with pytest.raises(ChainError, match="appears twice"):
        registry.load(path)


def test_a_dev_chain_does_not_outlive_a_killed_owner(tmp_path: Path) -> None:
    """A test run or notebook kernel killed mid-way (SIGKILL: no `finally` runs) leaves no anvil behind."""
    import os
    import signal
    import subprocess
    import sys

    from zkinfer.chain import devchain

    script = (
        "import sys, time\nfrom pathlib import Path\nfrom zkinfer.chain import devchain\n"
        "with devchain.dev_chain(Path(sys.argv[1])) as c:\n    print(c.pid, flush=True)\n    time.sleep(600)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert owner.stdout is not None
        anvil = int(owner.stdout.readline())
        assert devchain.running(tmp_path) is not None
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    wait_until(
        lambda: devchain.running(tmp_path) is None, what=f"anvil {anvil} gone after its owner was killed", timeout_s=30
    )
    assert (tmp_path / devchain.STATE_FILE).is_file()  # it got SIGTERM, so it dumped its state
