"""nodes.toml's `[llm]` table: how a gateway audits the LLM nodes pinned with `kind = "llm"`.

An LLM request goes to one node; re-running every answer everywhere is what makes LLM networks
expensive. So a share `audit_share` (p) of answers, drawn at random after the answer is sent (a
node cannot tell which will be checked), and every answer of a node whose reputation is below
`audit_below`, is re-executed by another LLM node holding the same model (`llm_audit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from zkinfer.core.support.errors import UsageError

LLM_KEYS: Final = ("audit_share", "audit_below", "timeout_ms", "audit_timeout_ms")


@dataclass(frozen=True)
class LlmPolicy:
    audit_share: float = 0.1  # p: the share of answers re-executed by another node
    audit_below: float = 0.3  # every answer of a node whose reputation is below this is re-executed
    timeout_ms: int = 60_000  # the most an LLM node may take to start answering
    audit_timeout_ms: int = 120_000  # the most a re-execution may take


def _share(table: dict[str, Any], key: str, default: float, source: str, error: type[UsageError]) -> float:
    value = table.get(key, default)
    if type(value) not in (int, float) or not 0 <= value <= 1:
        raise error(f"{source}: llm.{key}: {str(value)[:40]!r} is not a number in [0, 1]; give e.g. {default}")
    return float(value)


def _ms(table: dict[str, Any], key: str, default: int, source: str, error: type[UsageError]) -> int:
    value = table.get(key, default)
    if type(value) is not int or not 1 <= value <= 3_600_000:
        raise error(
            f"{source}: llm.{key}: {str(value)[:40]!r} is not milliseconds in [1, 3600000]; give e.g. {default}"
        )
    return value


def parse(table: Any, source: str, error: type[UsageError] = UsageError) -> LlmPolicy:
    """The `[llm]` table (absent: the defaults); `error` is the node-set error type, naming the file and field."""
    if table is None:
        return LlmPolicy()
    if not isinstance(table, dict):
        raise error(f"{source}: llm: not a table; write it as [llm]")
    unknown = sorted(set(table) - set(LLM_KEYS))
    if unknown:
        raise error(f"{source}: llm.{unknown[0]}: unknown key; known keys: {', '.join(LLM_KEYS)}")
    default = LlmPolicy()
    return LlmPolicy(
        audit_share=_share(table, "audit_share", default.audit_share, source, error),
        audit_below=_share(table, "audit_below", default.audit_below, source, error),
        timeout_ms=_ms(table, "timeout_ms", default.timeout_ms, source, error),
        audit_timeout_ms=_ms(table, "audit_timeout_ms", default.audit_timeout_ms, source, error),
    )


def dump(policy: LlmPolicy) -> list[str]:
    """The `[llm]` table's lines (what `parse` reads back to an equal policy)."""
    return [
        "[llm]",
        f"audit_share = {policy.audit_share!r}",
        f"audit_below = {policy.audit_below!r}",
        f"timeout_ms = {policy.timeout_ms}",
        f"audit_timeout_ms = {policy.audit_timeout_ms}",
    ]
