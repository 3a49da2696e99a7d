"""The [llm] table of nodes.toml (LLM routing and audit shares): part of the pinned node set, which is the
auditor's policy, so it lives in `zkinfer.verify.llm_policy`; re-exported here for the network's LLM routing."""

from zkinfer.verify.llm_policy import LLM_KEYS, LlmPolicy, dump, parse

__all__ = ["LLM_KEYS", "LlmPolicy", "dump", "parse"]
