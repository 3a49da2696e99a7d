"""API keys and tenancy (`serving.auth`, `serving.tenancy`): who a request is, from its bearer key,
checked over a real loopback server where it is HTTP; the key file made on first start."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request

from tests.serving_harness import serving
from zkinfer.core.support.errors import UsageError
from zkinfer.serving import auth, statuses
from zkinfer.serving.tenancy import namespaced, owns, tenant_of

KEY, OTHER = "key-one-0123456789", "key-two-9876543210"
log = logging.getLogger("test.serving")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    keys = auth.ApiKeys([KEY, OTHER])
    app = FastAPI()
    statuses.install(app, statuses.table(), log, "test")

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        return {"tenant": tenant_of(keys.require(request.headers.get("authorization")))}

    with serving(app) as base:
        yield base


def test_only_a_configured_bearer_key_gets_in(url: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": "Basic " + KEY}):
        refused = httpx.get(f"{url}/whoami", headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json() == {"error": auth.MISSING_KEY}
    one = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {KEY}"})
    again = httpx.get(f"{url}/whoami", headers={"Authorization": f"bearer  {KEY}"})  # scheme case, spaces
    two = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {OTHER}"})
    assert one.status_code == again.status_code == two.status_code == 200
    assert one.json() == again.json() != two.json()  # one tenant per key, stable


def test_the_owner_is_the_keys_digest_never_the_key() -> None:
    owner = auth.ApiKeys([KEY]).owner(f"Bearer {KEY}")
    assert owner is not None and owner.startswith("sha256:") and KEY not in owner
    assert tenant_of(owner).startswith("t") and len(tenant_of(owner)) == 17


def test_request_ids_live_in_their_tenants_namespace() -> None:
    assert namespaced("tabc", "req-1") == "tabc:req-1" and owns("tabc", "tabc:req-1")
    assert not owns("tabcd", "tabc:req-1") and not owns("tab", "tabc:req-1")
    fresh = namespaced("tabc", None)
    assert fresh.startswith("tabc:zk-") and fresh != namespaced("tabc", None)
    with pytest.raises(UsageError, match=r"^id: 'has space'"):
        namespaced("tabc", "has space")
    with pytest.raises(UsageError, match="1-123 characters"):
        namespaced("tabc", "x" * 124)


def test_the_key_file_skips_comments_and_refuses_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# comment\n\n  {KEY}  \n# {OTHER}\n")
    keys = auth.read(path)
    assert keys.owner(f"Bearer {KEY}") is not None and keys.owner(f"Bearer {OTHER}") is None
    path.write_text("# only a comment\n")
    with pytest.raises(auth.ApiKeyFileError, match="no API keys in the file"):
        auth.read(path)
    with pytest.raises(auth.ApiKeyFileError, match="cannot read the API key file"):
        auth.read(tmp_path / "missing")


def test_a_key_is_made_on_first_start_only_when_none_was_given(tmp_path: Path) -> None:
    made = tmp_path / "state" / "api-keys"
    made.parent.mkdir()
    keys = auth.load(made, given=False, log=log)
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    key = next(line for line in made.read_text().splitlines() if not line.startswith("#"))
    assert keys.owner(f"Bearer {key}") is not None
    assert auth.load(made, given=False, log=log).owner(f"Bearer {key}") is not None  # kept on the next start
    with pytest.raises(auth.ApiKeyFileError):  # a file given and missing is an error, never made up
        auth.load(tmp_path / "given-but-missing", given=True, log=log)
