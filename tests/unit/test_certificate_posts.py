"""`zkinfer gateway --post-certificates`: its chain options, and the backoff between tries (the posting itself
runs against a real chain in tests/e2e/test_chain_oracle.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkinfer.network.certificate_posts import MAX_RETRY_S, RETRY_S, backoff, target
from zkinfer.network.gateway_config import GatewayError


def test_chain_options_need_post_certificates_a_chain_and_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZKINFER_CHAIN_KEY", raising=False)
    registry = tmp_path / "deployments.json"
    assert target(False, None, None, None, registry, tmp_path) is None
    with pytest.raises(GatewayError, match="for --post-certificates"):
        target(False, "http://127.0.0.1:1", None, None, registry, tmp_path)
    with pytest.raises(GatewayError, match="give --rpc-url"):  # and no dev chain runs from tmp_path
        target(True, None, None, None, registry, tmp_path)
    with pytest.raises(GatewayError, match="pays gas"):
        target(True, "http://127.0.0.1:1", None, None, registry, tmp_path)
    key = tmp_path / "key"
    key.write_text("11" * 32)
    made = target(True, "http://127.0.0.1:1", key, "0x" + "ab" * 20, registry, tmp_path)
    assert made is not None and made.key == "0x" + "11" * 32 and "11" * 32 not in repr(made)


def test_the_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n) for n in range(3)] == [RETRY_S, 2 * RETRY_S, 4 * RETRY_S]
    assert backoff(40) == MAX_RETRY_S
