"""network/nodeset.entry: the [[nodes]] table `zkinfer keys show` prints reads back as a pinned node,
and a name, URL or variable nodes.toml would refuse is a usage error before the key file is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkinfer.core.crypto import identity
from zkinfer.core.support.errors import UsageError
from zkinfer.network import nodeset


def test_the_entry_reads_back_as_the_pinned_node(tmp_path: Path) -> None:
    key = identity.new_key()
    identity.save_key(key, tmp_path / "node.key")
    entry = nodeset.entry(tmp_path / "node.key", "alpha-1", "http://127.0.0.1:8081", "ALPHA_KEY")
    text = f"[quorum]\nthreshold = 1\n\n{entry.toml()}\n{entry.api_key_line()}\n"
    (node,) = nodeset.parse(text).nodes
    assert (node.name, node.url, node.public_hex, node.api_key_env) == (
        "alpha-1",
        "http://127.0.0.1:8081",
        key.public_hex,
        "ALPHA_KEY",
    )
    unset = nodeset.entry(tmp_path / "node.key", "9lives", "http://127.0.0.1:8081")
    assert unset.api_key_line().startswith('# api_key_env = "NODE_9LIVES_API_KEY"')


@pytest.mark.parametrize(
    ("name", "url", "env", "option"),
    [
        ("no spaces", "http://a", None, "--name"),
        ("a", "ftp://a", None, "--url"),
        ("a", "http://a", "1BAD", "--api-key-env"),
    ],
)
def test_bad_options_are_refused_before_the_key_is_read(
    tmp_path: Path, name: str, url: str, env: str | None, option: str
) -> None:
    with pytest.raises(UsageError, match=option):
        nodeset.entry(tmp_path / "absent.key", name, url, env)
