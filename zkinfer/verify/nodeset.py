"""The pinned node set (nodes.toml): who may sign, with what weight, and the quorum rule.

It is the policy a certificate is checked against (`verify.certificate_check`), as a receipt's pins are.

A gateway answers with it and an auditor checks certificates against it, so it is read strictly:
an unknown key, a duplicate name, key or URL, a public key that is not a valid BLS12-381 key, or a
proof of possession that does not verify is an error naming the file, the field and the fix. The
proofs of possession are checked here, once per (key, proof) and process (~2 ms each with blspy,
~1.5 s with py_ecc, the fallback): every `PinnedNode` holds a verified pair, so an aggregate over pinned keys needs only
FastAggregateVerify (a rogue key, made up to cancel the others, cannot prove possession).
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from zkinfer.core.crypto import bls
from zkinfer.core.support.errors import UsageError
from zkinfer.verify import llm_policy

MAX_FILE_BYTES: Final = 1 << 20
MAX_NODES: Final = 1024
MAX_WEIGHT: Final = 1 << 32
NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_HEX = re.compile(r"^[0-9a-f]*$")
QUORUM_KEYS: Final = ("threshold", "agree_on", "timeout_ms", "prove_within_s", "weighting")
NODE_KEYS: Final = ("name", "url", "public_key", "proof_of_possession", "weight", "api_key_env", "kind")
KINDS: Final = ("oip", "llm")  # a proving node (quorum), or an LLM node (`llm_routing`: one answers, another audits)


class NodeSetError(UsageError):
    """nodes.toml is unreadable or breaks a rule; the message names the file, the field and the fix."""


@functools.lru_cache(maxsize=4096)
def pop_ok(public_key: bytes, proof_of_possession: bytes) -> bool:
    """KeyValidate and PopVerify, memoized: a pinned pair is checked once per process."""
    return bls.key_validate(public_key) and bls.pop_verify(public_key, proof_of_possession)


@dataclass(frozen=True)
class PinnedNode:
    name: str
    url: str
    public_key: bytes
    proof_of_possession: bytes
    weight: int = 1
    api_key_env: str | None = None
    kind: str = "oip"

    def __post_init__(self) -> None:
        if not pop_ok(self.public_key, self.proof_of_possession):
            raise NodeSetError(f"node {self.name!r}: the proof of possession does not verify for its public key")

    @property
    def public_hex(self) -> str:
        return self.public_key.hex()


@dataclass(frozen=True)
class QuorumRule:
    threshold: int
    agree_on: Literal["output", "label"] = "output"
    timeout_ms: int = 1000
    prove_within_s: int = 3600
    weighting: Literal["static", "reputation"] = "static"


@dataclass(frozen=True)
class NodeSet:
    nodes: tuple[PinnedNode, ...]
    quorum: QuorumRule
    source: str = "nodes.toml"
    llm_nodes: tuple[PinnedNode, ...] = ()  # `kind = "llm"`: never in a quorum
    llm: llm_policy.LlmPolicy = field(default_factory=llm_policy.LlmPolicy)
    _by_key: dict[bytes, PinnedNode] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {n.public_key: n for n in self.nodes})

    def by_key(self, public_key: bytes) -> PinnedNode | None:
        return self._by_key.get(public_key)

    def by_name(self, name: str) -> PinnedNode | None:
        return next((n for n in self.nodes if n.name == name), None)

    def total_weight(self) -> int:
        return sum(n.weight for n in self.nodes)

    def weight_of(self, keys: Iterable[bytes]) -> int:
        """The static weight of the distinct pinned keys among `keys` (unpinned keys weigh nothing)."""
        return sum(node.weight for key in set(keys) if (node := self._by_key.get(key)) is not None)

    def majority(self) -> int:
        """More than half of all weight: the default threshold."""
        return self.total_weight() // 2 + 1


def _fail(source: str, where: str, problem: str, fix: str) -> NodeSetError:
    return NodeSetError(f"{source}: {where}: {problem}; {fix}")


def _int(value: Any, source: str, where: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _fail(
            source, where, f"{value!r} is not an integer in [{low}, {high}]", "give a whole number in that range"
        )
    return value


def _choice(value: Any, source: str, where: str, options: tuple[str, ...]) -> Any:
    if value not in options:
        raise _fail(
            source, where, f"{str(value)[:40]!r} is not one of {', '.join(map(repr, options))}", "use one of those"
        )
    return value


def _hex(value: Any, size: int, source: str, where: str, fix: str) -> bytes:
    if not isinstance(value, str):
        raise _fail(source, where, "not a string", fix)
    text = value.lower().removeprefix("0x")
    if len(text) != 2 * size or not _HEX.fullmatch(text):
        raise _fail(source, where, f"expected {2 * size} hex digits, got {len(text)} characters", fix)
    return bytes.fromhex(text)


def _url(value: Any, source: str, where: str) -> str:
    fix = "give the node's base URL, e.g. http://127.0.0.1:8001"
    if not isinstance(value, str) or len(value) > 2048:
        raise _fail(source, where, "not a string of at most 2048 characters", fix)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise _fail(source, where, f"not a URL ({exc})", fix) from exc
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise _fail(
            source,
            where,
            f"{value[:80]!r} is not an http(s) URL with a host and no query, fragment or credentials",
            fix,
        )
    netloc = parts.hostname + ("" if port is None else f":{port}")
    if ":" in parts.hostname:
        netloc = f"[{parts.hostname}]" + ("" if port is None else f":{port}")
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _node(table: Any, index: int, source: str) -> PinnedNode:
    where = f"nodes[{index}]"
    if not isinstance(table, dict):
        raise _fail(source, where, "not a table", "write each node as a [[nodes]] table")
    unknown = sorted(set(table) - set(NODE_KEYS))
    if unknown:
        raise _fail(source, f"{where}.{unknown[0]}", "unknown key", f"known keys: {', '.join(NODE_KEYS)}")
    missing = [k for k in ("name", "url", "public_key", "proof_of_possession") if k not in table]
    if missing:
        raise _fail(
            source,
            where,
            f"missing {', '.join(missing)}",
            "each node needs name, url, public_key and proof_of_possession (`GET /v1/identity` on the node prints "
            "them)",
        )
    name = table["name"]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise _fail(
            source, f"{where}.name", f"{str(name)[:40]!r} is not 1-32 characters of A-Z a-z 0-9 _ -", "rename the node"
        )
    where = f"nodes[{index}] ({name})"
    identity_fix = "copy it from the node's `GET /v1/identity`"
    public_key = _hex(table["public_key"], bls.PUBLIC_KEY_BYTES, source, f"{where}.public_key", identity_fix)
    if not bls.key_validate(public_key):
        raise _fail(
            source,
            f"{where}.public_key",
            "not a valid BLS12-381 public key (a compressed G1 point in the prime-order subgroup)",
            identity_fix,
        )
    pop = _hex(table["proof_of_possession"], bls.SIGNATURE_BYTES, source, f"{where}.proof_of_possession", identity_fix)
    if not pop_ok(public_key, pop):
        raise _fail(
            source,
            f"{where}.proof_of_possession",
            "does not verify for this public key (a key without a proof of possession could cancel the others' in "
            "an aggregate)",
            identity_fix,
        )
    api_key_env = table.get("api_key_env")
    if api_key_env is not None and (not isinstance(api_key_env, str) or not ENV_NAME.fullmatch(api_key_env)):
        raise _fail(
            source,
            f"{where}.api_key_env",
            f"{str(api_key_env)[:40]!r} is not an environment variable name",
            "name the variable that holds the API key, e.g. ALPHA_API_KEY",
        )
    return PinnedNode(
        name=name,
        url=_url(table["url"], source, f"{where}.url"),
        public_key=public_key,
        proof_of_possession=pop,
        weight=_int(table.get("weight", 1), source, f"{where}.weight", 1, MAX_WEIGHT),
        api_key_env=api_key_env,
        kind=_choice(table.get("kind", "oip"), source, f"{where}.kind", KINDS),
    )


def _unique(nodes: list[PinnedNode], source: str) -> None:
    for attribute, fix in (
        ("name", "give each node its own name"),
        ("public_key", "each node has its own key; remove the copy"),
        ("url", "each node has its own URL; remove the copy"),
    ):
        seen: dict[Any, str] = {}
        for node in nodes:
            value = getattr(node, attribute)
            if value in seen:
                shown = value.hex()[:16] + "…" if isinstance(value, bytes) else value
                raise _fail(source, f"nodes ({node.name})", f"{attribute} {shown} is also node {seen[value]!r}'s", fix)
            seen[value] = node.name


def _quorum(table: Any, total: int, source: str) -> QuorumRule:
    if not isinstance(table, dict):
        raise _fail(source, "quorum", "not a table", "write it as [quorum]")
    unknown = sorted(set(table) - set(QUORUM_KEYS))
    if unknown:
        raise _fail(source, f"quorum.{unknown[0]}", "unknown key", f"known keys: {', '.join(QUORUM_KEYS)}")
    threshold = _int(table.get("threshold", total // 2 + 1), source, "quorum.threshold", 1, MAX_WEIGHT * MAX_NODES)
    if threshold > total and total > 0:  # total 0: LLM nodes only, no quorum to form
        raise _fail(
            source,
            "quorum.threshold",
            f"{threshold} is more than the total weight of all nodes ({total}), so no quorum could ever form",
            f"lower it to at most {total} or add nodes",
        )
    return QuorumRule(
        threshold=threshold,
        agree_on=_choice(table.get("agree_on", "output"), source, "quorum.agree_on", ("output", "label")),
        timeout_ms=_int(table.get("timeout_ms", 1000), source, "quorum.timeout_ms", 1, 600_000),
        prove_within_s=_int(table.get("prove_within_s", 3600), source, "quorum.prove_within_s", 1, 30 * 86400),
        weighting=_choice(table.get("weighting", "static"), source, "quorum.weighting", ("static", "reputation")),
    )


def parse(text: str, source: str = "nodes.toml") -> NodeSet:
    """A NodeSet from nodes.toml text; `source` names the file in every error."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(source, "(document)", f"not valid TOML ({exc})", "fix the syntax at the position shown") from exc
    unknown = sorted(set(document) - {"quorum", "nodes", "llm"})
    if unknown:
        raise _fail(
            source,
            unknown[0],
            "unknown top-level key",
            "nodes.toml holds [quorum] and [llm] tables and [[nodes]] tables only",
        )
    tables = document.get("nodes")
    if not isinstance(tables, list) or not tables:
        raise _fail(
            source, "nodes", "no [[nodes]] tables", "pin at least one node (name, url, public_key, proof_of_possession)"
        )
    if len(tables) > MAX_NODES:
        raise _fail(source, "nodes", f"{len(tables)} nodes", f"pin at most {MAX_NODES}")
    nodes = [_node(table, i, source) for i, table in enumerate(tables)]
    _unique(nodes, source)
    oip, llm = [n for n in nodes if n.kind == "oip"], [n for n in nodes if n.kind == "llm"]
    quorum = _quorum(document.get("quorum", {}), sum(n.weight for n in oip), source)
    policy = llm_policy.parse(document.get("llm"), source, NodeSetError)
    return NodeSet(nodes=tuple(oip), quorum=quorum, source=source, llm_nodes=tuple(llm), llm=policy)


def load(path: Path) -> NodeSet:
    """Read and check a nodes.toml file (at most 1 MiB)."""
    if not path.is_file():
        raise NodeSetError(
            f"{path}: no such node set file; write a nodes.toml with a [quorum] table and one [[nodes]] table per node"
        )
    with open(path, "rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise NodeSetError(f"{path}: over the {MAX_FILE_BYTES}-byte limit for a node set file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NodeSetError(f"{path}: not UTF-8 text ({exc})") from exc
    return parse(text, str(path))


def dump(nodeset: NodeSet) -> str:
    """nodes.toml text for a node set (what `parse` reads back to an equal NodeSet)."""
    q = nodeset.quorum
    lines = [
        "[quorum]",
        f"threshold = {q.threshold}",
        f'agree_on = "{q.agree_on}"',
        f"timeout_ms = {q.timeout_ms}",
        f"prove_within_s = {q.prove_within_s}",
        f'weighting = "{q.weighting}"',
    ]
    if nodeset.llm_nodes:
        lines += ["", *llm_policy.dump(nodeset.llm)]
    for node in (*nodeset.nodes, *nodeset.llm_nodes):
        lines += [
            "",
            "[[nodes]]",
            f"name = {json.dumps(node.name)}",
            f"url = {json.dumps(node.url)}",
            f'public_key = "{node.public_hex}"',
        ]
        lines += [f'proof_of_possession = "{node.proof_of_possession.hex()}"', f"weight = {node.weight}"]
        if node.api_key_env is not None:
            lines.append(f"api_key_env = {json.dumps(node.api_key_env)}")
        if node.kind != "oip":
            lines.append(f'kind = "{node.kind}"')
    return "\n".join(lines) + "\n"
