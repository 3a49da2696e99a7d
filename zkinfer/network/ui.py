"""The gateway's `/ui` page: one server-rendered HTML document, no build step, no scripts.

The page is public (no API key), so it shows node standing only: the node table, and for each
piece of evidence its kind, the accused node and the time. No request id, input, output,
certificate or link to an evidence document (those need a tenant's key: `/v1/evidence`).

Everything shown comes from nodes (names, URLs, evidence kinds) and so is hostile: every
value goes through `html.escape` (attribute values with quotes escaped too), and the page carries a
Content-Security-Policy that allows no script
and no external resource at all, so a missed escape still runs nothing. Element ids, classes and
`data-*` attributes are stable: tests and scrapers select e.g.
`table#nodes tr[data-node="alpha"] td.reputation`.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EvidenceRow", "NodeRow", "render"]

# The page needs nothing but its own inline style: no script, image, font, frame or form target
# (the gateway may add frame-ancestors as a header: a meta CSP ignores it).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


@dataclass(frozen=True)
class NodeRow:
    """One pinned node as the gateway has observed it."""

    name: str
    url: str
    public_key: str
    reputation: float
    agreed: int
    dissented: int
    timeouts: int
    receipts_valid: int
    receipts_invalid: int
    evidence: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None


@dataclass(frozen=True)
class EvidenceRow:
    """One piece of evidence the gateway recorded against a node, as a visitor may see it."""

    kind: str
    node: str
    at: float


def _e(value: object) -> str:
    """Escape any value for text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def _when(at: float) -> str:
    """A Unix time as UTC text (a hostile or absurd float becomes '-', never an exception)."""
    if not math.isfinite(at):
        return "-"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
    except (OverflowError, OSError, ValueError):
        return "-"


def _ms(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1f} ms"


def _agreement(row: NodeRow) -> tuple[str, str]:
    """Agreement rate over every request sent to the node: a timeout counts as not agreeing."""
    total = row.agreed + row.dissented + row.timeouts
    if total <= 0:
        return "-", "no requests yet"
    return f"{100.0 * row.agreed / total:.1f}%", f"{row.agreed} of {total} requests"


def _short_key(public_key: str) -> str:
    return public_key if len(public_key) <= 16 else f"{public_key[:8]}…{public_key[-6:]}"


def _reputation(value: float) -> str:
    shown = f"{value:.2f}" if math.isfinite(value) else "-"
    width = min(max(value, 0.0), 1.0) * 100 if math.isfinite(value) else 0.0
    level = "good" if width >= 80 else "fair" if width >= 50 else "poor"
    return (
        f'<span class="value">{shown}</span><span class="bar {level}"><span style="width:{width:.0f}%"></span></span>'
    )


def _node_row(row: NodeRow) -> str:
    rate, rate_title = _agreement(row)
    invalid = f'<span class="bad">{row.receipts_invalid} invalid</span>' if row.receipts_invalid else ""
    evidence_class = "evidence bad" if row.evidence else "evidence"
    return (
        f'<tr data-node="{_e(row.name)}">'
        f'<td class="name"><strong>{_e(row.name)}</strong>'
        f'<div class="sub url">{_e(row.url)}</div></td>'
        f'<td class="key" title="{_e(row.public_key)}"><code>{_e(_short_key(row.public_key))}</code></td>'
        f'<td class="reputation">{_reputation(row.reputation)}</td>'
        f'<td class="agreement" title="{_e(rate_title)}">{_e(rate)}'
        f'<div class="sub">{row.agreed} agreed · {row.dissented} dissented<br>{row.timeouts} timeouts</div></td>'
        f'<td class="latency-p50 num">{_e(_ms(row.latency_p50_ms))}</td>'
        f'<td class="latency-p99 num">{_e(_ms(row.latency_p99_ms))}</td>'
        f'<td class="receipts"><span class="ok">{row.receipts_valid} valid</span>{invalid}</td>'
        f'<td class="{evidence_class} num">{row.evidence}</td>'
        "</tr>"
    )


def _evidence_row(row: EvidenceRow) -> str:
    return (
        f'<tr data-accused="{_e(row.node)}">'
        f'<td class="kind"><span class="chip kind">{_e(row.kind)}</span></td>'
        f'<td class="node">{_e(row.node)}</td>'
        f'<td class="at">{_e(_when(row.at))}</td>'
        "</tr>"
    )


def _table(table_id: str, headers: Sequence[str], rows: Sequence[str], empty: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(rows) or (f'<tr class="empty"><td colspan="{len(headers)}">{_e(empty)}</td></tr>')
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_STYLE = """
:root{color-scheme:light;--fg:#1d2330;--muted:#6b7385;--line:#e3e6ec;--bg:#f6f7f9;
--good:#1f9d55;--fair:#d69e2e;--poor:#d64545}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header{background:#1d2330;color:#fff;padding:14px 28px;display:flex;align-items:baseline;gap:16px}
header h1{margin:0;font-size:18px;font-weight:600}
header .meta{color:#aab2c5;font-size:12px}
main{padding:20px 28px;max-width:1280px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;margin-bottom:20px;
overflow:auto}
h2{font-size:14px;margin:0;padding:12px 16px;border-bottom:1px solid var(--line);
display:flex;gap:8px;align-items:baseline}
h2 .count{color:var(--muted);font-weight:400;font-size:12px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:8px 16px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);
font-weight:600;background:#fafbfc}
tr:last-child td{border-bottom:0}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
td.at{white-space:nowrap;color:var(--muted)}
code{font:12px ui-monospace,"DejaVu Sans Mono",monospace;overflow-wrap:anywhere}
.sub{color:var(--muted);font-size:12px;overflow-wrap:anywhere}
td.name{max-width:300px;overflow-wrap:anywhere}
td.key code,td.receipts,td.reputation{white-space:nowrap}
td.agreement{min-width:150px}
td.receipts span{display:block}
.reputation .value{display:inline-block;min-width:3em;font-variant-numeric:tabular-nums}
.bar{display:inline-block;width:80px;height:6px;background:var(--line);border-radius:3px;
vertical-align:middle;overflow:hidden}
.bar span{display:block;height:100%}
.bar.good span{background:var(--good)}.bar.fair span{background:var(--fair)}
.bar.poor span{background:var(--poor)}
.ok{color:var(--good)}.bad{color:var(--poor);font-weight:600}
.chip{display:inline-block;padding:1px 8px;margin:1px 4px 1px 0;border-radius:10px;
font-size:12px;background:#eef1f6;overflow-wrap:anywhere;max-width:100%}
.chip.kind{background:#fdf0d5;color:#7b4d06;white-space:nowrap}
td.node{max-width:360px;overflow-wrap:anywhere}
tr.empty td{color:var(--muted);font-style:italic;text-align:center;padding:16px}
"""


def render(
    nodes: Sequence[NodeRow],
    evidence: Sequence[EvidenceRow],
    title: str = "zkinfer gateway",
    *,
    refresh_s: int | None = None,
) -> str:
    """The whole page, rows in the order given (the caller picks recent-first and how many)."""
    refresh = (
        f'<meta http-equiv="refresh" content="{int(refresh_s)}">' if refresh_s is not None and refresh_s > 0 else ""
    )
    node_table = _table(
        "nodes",
        ["Node", "Public key", "Reputation", "Agreement", "p50", "p99", "Receipts", "Evidence"],
        [_node_row(n) for n in nodes],
        "no nodes pinned",
    )
    evidence_table = _table(
        "evidence",
        ["Kind", "Accused node", "Time"],
        [_evidence_row(e) for e in evidence],
        "no evidence recorded",
    )
    return (
        "<!DOCTYPE html>"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no /favicon.ico request to the gateway
        f"{refresh}<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header><h1 id="title">{_e(title)}</h1>'
        f'<span class="meta">rendered {_e(_when(time.time()))}</span></header><main>'
        f'<section><h2>Nodes <span class="count">{len(nodes)}</span></h2>{node_table}</section>'
        f'<section><h2>Recent evidence <span class="count">{len(evidence)}</span></h2>'
        f"{evidence_table}</section>"
        "</main></body></html>"
    )
