"""nodes.toml: the pinned node set is read strictly, every fault named with its file and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from zkinfer.core.crypto import identity
from zkinfer.core.support.errors import UsageError
from zkinfer.network import nodeset
from zkinfer.network.nodeset import NodeSet, NodeSetError, PinnedNode, QuorumRule

Keys = list[tuple[identity.NodeKey, bytes]]


@pytest.fixture(scope="module")
def keys() -> Keys:
    """Three node keys with their proofs of possession (py_ecc: ~1 s each)."""
    made = [identity.new_key() for _ in range(3)]
    return [(k, identity.proof_of_possession(k)) for k in made]


def _node(name: str, port: int, key: identity.NodeKey, pop: bytes, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "url": f"http://127.0.0.1:{port}",
        "public_key": key.public_hex,
        "proof_of_possession": pop.hex(),
        **extra,
    }


def _toml(nodes: list[dict[str, object]], quorum: dict[str, object] | None = None, top: str = "") -> str:
    def value(v: object) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v) if isinstance(v, int) else f'"{v}"'

    lines = [top] if top else []
    if quorum is not None:
        lines += ["[quorum]", *(f"{k} = {value(v)}" for k, v in quorum.items())]
    for node in nodes:
        lines += ["", "[[nodes]]", *(f"{k} = {value(v)}" for k, v in node.items())]
    return "\n".join(lines) + "\n"


def _three(keys: Keys) -> list[dict[str, object]]:
    return [_node(name, 8001 + i, *keys[i]) for i, name in enumerate(("alpha", "beta", "gamma"))]


def test_a_node_set_reads_with_defaults_and_round_trips(keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "nodes.toml"
    path.write_text(_toml(_three(keys)))
    pinned = nodeset.load(path)
    assert [n.name for n in pinned.nodes] == ["alpha", "beta", "gamma"]
    assert pinned.quorum == QuorumRule(
        threshold=2, agree_on="output", timeout_ms=1000, prove_within_s=3600, weighting="static"
    )
    assert pinned.source == str(path)
    assert nodeset.parse(nodeset.dump(pinned), str(path)) == pinned


def test_weights_count_each_pinned_key_once(keys: Keys) -> None:
    nodes = _three(keys)
    nodes[0]["weight"] = 3
    pinned = nodeset.parse(
        _toml(nodes, {"threshold": 4, "agree_on": "label", "weighting": "reputation", "timeout_ms": 250}), "n.toml"
    )
    alpha, beta = keys[0][0].public_key, keys[1][0].public_key
    assert pinned.total_weight() == 5 and pinned.majority() == 3
    assert pinned.weight_of([alpha, alpha, beta]) == 4  # a key listed twice counts once
    assert pinned.weight_of([identity.new_key().public_key]) == 0  # an unpinned key weighs nothing
    node = pinned.by_key(alpha)
    assert node is not None and node.name == "alpha" and node.weight == 3
    assert (
        pinned.quorum.agree_on == "label"
        and pinned.quorum.weighting == "reputation"
        and pinned.quorum.timeout_ms == 250
    )


def test_the_default_threshold_is_more_than_half_of_the_weight(keys: Keys) -> None:
    nodes = _three(keys)[:2]
    assert nodeset.parse(_toml(nodes), "n.toml").quorum.threshold == 2  # of 2: both
    nodes[1]["weight"] = 3
    assert nodeset.parse(_toml(nodes), "n.toml").quorum.threshold == 3  # of 4


Change = Callable[[list[dict[str, object]], Keys], tuple[list[dict[str, object]], dict[str, object] | None]]


def _swap_pops(nodes: list[dict[str, object]], keys: Keys) -> tuple[list[dict[str, object]], None]:
    nodes[0]["proof_of_possession"], nodes[1]["proof_of_possession"] = (
        nodes[1]["proof_of_possession"],
        nodes[0]["proof_of_possession"],
    )
    return nodes, None


def _set(index: int, **values: object) -> Change:
    def change(nodes: list[dict[str, object]], keys: Keys) -> tuple[list[dict[str, object]], None]:
        nodes[index].update(values)
        return nodes, None

    return change


def _quorum(**values: object) -> Change:
    return lambda nodes, keys: (nodes, values)


@pytest.mark.parametrize(
    ("change", "field", "fix"),
    [
        (_swap_pops, "nodes[0] (alpha).proof_of_possession", "GET /v1/identity"),
        (
            lambda n, k: (
                [
                    *n[:2],
                    {**n[2], "public_key": n[0]["public_key"], "proof_of_possession": n[0]["proof_of_possession"]},
                ],
                None,
            ),
            "public_key",
            "remove the copy",
        ),
        (_set(1, name="alpha"), "name alpha is also node 'alpha'", "its own name"),
        (_set(2, url="http://127.0.0.1:8001/"), "url http://127.0.0.1:8001 is also node 'alpha'", "its own URL"),
        (_set(0, public_key="zz" * 48), "nodes[0] (alpha).public_key", "96 hex digits"),
        (_set(0, public_key="ab" * 48), "nodes[0] (alpha).public_key", "not a valid BLS12-381 public key"),
        (
            _set(0, public_key="c0" + "00" * 47),
            "nodes[0] (alpha).public_key",
            "not a valid BLS12-381 public key",
        ),  # the point at infinity
        (_set(0, proof_of_possession="ab" * 95), "proof_of_possession", "192 hex digits"),
        (_set(0, weight=0), "nodes[0] (alpha).weight", "[1, "),
        (_set(0, weight=-2), "nodes[0] (alpha).weight", "[1, "),
        (_set(0, weight=True), "nodes[0] (alpha).weight", "[1, "),
        (_set(0, weight="1"), "nodes[0] (alpha).weight", "[1, "),
        (_set(0, stake=5), "nodes[0].stake", "unknown key"),
        (_set(0, name="al pha"), "nodes[0].name", "A-Z a-z 0-9"),
        (_set(0, name="x" * 33), "nodes[0].name", "A-Z a-z 0-9"),
        (_set(0, url="ftp://127.0.0.1:21"), "nodes[0] (alpha).url", "http(s) URL"),
        (_set(0, url="http://user:pw@127.0.0.1:8001"), "nodes[0] (alpha).url", "credentials"),
        (_set(0, url="http://127.0.0.1:99999"), "nodes[0] (alpha).url", "not a URL"),
        (_set(0, api_key_env="NOT A NAME"), "api_key_env", "environment variable"),
        (
            lambda n, k: ([{x: v for x, v in n[0].items() if x != "proof_of_possession"}, *n[1:]], None),
            "nodes[0]: missing proof_of_possession",
            "GET /v1/identity",
        ),
        (_quorum(threshold=4), "quorum.threshold", "no quorum could ever form"),
        (_quorum(threshold=0), "quorum.threshold", "[1, "),
        (_quorum(agree_on="mean"), "quorum.agree_on", "'output', 'label'"),
        (_quorum(weighting="stake"), "quorum.weighting", "'static', 'reputation'"),
        (_quorum(timeout_ms=0), "quorum.timeout_ms", "[1, "),
        (_quorum(quorum=2), "quorum.quorum", "unknown key"),
        (lambda n, k: ([], {"threshold": 1}), "nodes", "pin at least one node"),
    ],
)
def test_a_bad_node_set_is_refused_naming_the_file_field_and_fix(
    keys: Keys, change: Change, field: str, fix: str
) -> None:
    nodes, quorum = change(_three(keys), keys)
    with pytest.raises(NodeSetError) as caught:
        nodeset.parse(_toml(nodes, quorum), "cluster/nodes.toml")
    message = str(caught.value)
    assert message.startswith("cluster/nodes.toml: ")
    assert field in message and fix in message, message
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2


def test_unreadable_files_are_usage_errors(keys: Keys, tmp_path: Path) -> None:
    with pytest.raises(NodeSetError, match="no such node set file"):
        nodeset.load(tmp_path / "absent.toml")
    (tmp_path / "syntax.toml").write_text("[[nodes]\nname = 1\n")
    with pytest.raises(NodeSetError, match=r"syntax\.toml: \(document\): not valid TOML"):
        nodeset.load(tmp_path / "syntax.toml")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe[quorum]\n")
    with pytest.raises(NodeSetError, match="not UTF-8"):
        nodeset.load(tmp_path / "binary.toml")
    (tmp_path / "huge.toml").write_text("# " + "x" * nodeset.MAX_FILE_BYTES)
    with pytest.raises(NodeSetError, match="byte limit"):
        nodeset.load(tmp_path / "huge.toml")
    (tmp_path / "top.toml").write_text(_toml(_three(keys), top='chain = "eth"'))
    with pytest.raises(NodeSetError, match=r"top\.toml: chain: unknown top-level key"):
        nodeset.load(tmp_path / "top.toml")


def test_a_pinned_node_holds_a_verified_proof_of_possession(keys: Keys) -> None:
    (a, pop_a), (b, pop_b) = keys[:2]
    PinnedNode("alpha", "http://127.0.0.1:8001", a.public_key, pop_a)
    with pytest.raises(NodeSetError, match="proof of possession does not verify"):
        PinnedNode("alpha", "http://127.0.0.1:8001", a.public_key, pop_b)  # built in code, not parsed: still checked
    pinned = NodeSet((PinnedNode("beta", "http://h:1", b.public_key, pop_b),), QuorumRule(threshold=1))
    assert pinned.by_key(b.public_key) is not None and pinned.by_key(a.public_key) is None
