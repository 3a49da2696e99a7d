"""What the gateway shows of its nodes and evidence: `/v1/nodes`' rows, the public page, and the
public part of an evidence record (no request ids, inputs, outputs or certificates)."""

from __future__ import annotations

from typing import Any

from zkinfer.network import ui
from zkinfer.network.gateway_state import Gateway
from zkinfer.network.record_types import EvidenceRecord


def node_rows(gateway: Gateway) -> list[dict[str, Any]]:
    """Each pinned node's standing: what `/v1/nodes` lists and the page shows."""
    scores = gateway.reputations()
    rows = []
    for node in (*gateway.nodeset.nodes, *gateway.nodeset.llm_nodes):
        stats = gateway.records.node_stats(node.public_hex)
        rows.append(
            {
                "name": node.name,
                "url": node.url,
                "public_key": node.public_hex,
                "weight": node.weight,
                "kind": node.kind,
                "status": gateway.node_status.get(node.name) or gateway.llm.status_of(node.name),
                "reputation": round(scores.get(node.public_key, 0.5), 4),
                "answers": stats.answers,
                "agreed": stats.agreed,
                "dissented": stats.dissented,
                "timeouts": stats.timeouts,
                "receipts_valid": stats.receipts_valid,
                "receipts_invalid": stats.receipts_invalid,
                "evidence": stats.evidence,
                "latency_p50_ms": _ms(stats.latency_p50_ms),
                "latency_p99_ms": _ms(stats.latency_p99_ms),
            }
        )
    return rows


def page(gateway: Gateway) -> str:
    """The public page: node standing, and evidence as kind, accused node and time only."""
    nodes = [
        ui.NodeRow(**{k: v for k, v in row.items() if k not in ("weight", "status", "answers", "kind")})
        for row in node_rows(gateway)
    ]
    evidence = [ui.EvidenceRow(e.kind, e.node, e.at) for e in gateway.records.evidence_list(25)]
    return ui.render(nodes, evidence, title="zkinfer gateway")


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def public(record: EvidenceRecord) -> dict[str, Any]:
    """What anyone may read of an evidence record: whom it accuses, of what, when."""
    return {"kind": record.kind, "accused": record.accused, "node": record.node, "observed_at": record.at}
