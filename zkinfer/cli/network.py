"""The network's commands: `zkinfer gateway` and `zkinfer network status`. Parsing and rendering
only; the work is in `zkinfer.network` (imported when a command runs, so `zkinfer --help` stays fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zkinfer.cli.output import guarded, json_out, out, shown, step

network_app = typer.Typer(help="The network of untrusted nodes behind a gateway.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `gateway` and the `network` group to the main command."""
    app.command(name="gateway")(gateway)
    app.add_typer(network_app, name="network")


def gateway(
    nodes: Annotated[
        Path,
        typer.Option(
            "--nodes", help="The pinned node set (nodes.toml): URLs, public keys, proofs of possession, quorum rule"
        ),
    ],
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on")] = 8090,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (0.0.0.0 exposes the gateway beyond this machine)")
    ] = "127.0.0.1",
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Records (SQLite), evidence files and API keys live here")
    ] = Path(".zkinfer-gateway"),
    api_keys: Annotated[
        Path | None,
        typer.Option(
            "--api-keys",
            help="File of API keys callers send, one per line, # lines are comments (default: --state-dir/api-keys, "
            "made with one key)",
        ),
    ] = None,
    watch_interval: Annotated[
        float,
        typer.Option(
            "--watch-interval", min=0.01, help="Seconds between the first polls of a node's receipt (then backing off)"
        ),
    ] = 2.0,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Largest request body accepted (413 above)")
    ] = 1 << 20,
    check_processes: Annotated[
        int,
        typer.Option(
            "--check-processes",
            min=0,
            help=(
                "Processes that check the nodes' signed answers side by side (0: on the event loop; N pays with "
                "spare cores); answers after the decision are always checked in one more process at nice 10"
            ),
        ),
    ] = 0,
    post_certificates: Annotated[
        bool,
        typer.Option(
            "--post-certificates",
            help="Post each certificate to the oracle contract in the background (retried until it is on chain)",
        ),
    ] = False,
    rpc_url: Annotated[
        str | None,
        typer.Option("--rpc-url", help="--post-certificates: the EVM node (default: the dev chain in .zkinfer-chain)"),
    ] = None,
    chain_key_file: Annotated[
        Path | None,
        typer.Option(
            "--chain-key-file",
            help="--post-certificates: file of the hex key that pays the gas (or $ZKINFER_CHAIN_KEY)",
        ),
    ] = None,
    oracle: Annotated[
        str | None,
        typer.Option(
            "--oracle", help="--post-certificates: the oracle's address (default: the latest in --chain-registry)"
        ),
    ] = None,
    chain_registry: Annotated[
        Path,
        typer.Option("--chain-registry", help="--post-certificates: the deployments file recording the oracle"),
    ] = Path(".zkinfer-chain/deployments.json"),
) -> None:
    """Serve one OIP v2 endpoint over several untrusted nodes: answer when a quorum signs the same statement."""
    from zkinfer.chain.registry import DEFAULT_STATE_DIR
    from zkinfer.network import gateway as gateway_mod
    from zkinfer.network.certificate_posts import target

    post_to = guarded(
        lambda: target(post_certificates, rpc_url, chain_key_file, oracle, chain_registry, DEFAULT_STATE_DIR)
    )
    config = gateway_mod.GatewayConfig(
        nodes=nodes,
        state_dir=state_dir,
        host=host,
        port=port,
        api_keys_file=api_keys,
        poll_s=watch_interval,
        max_body_bytes=max_body_bytes,
        check_processes=check_processes,
        post_to=post_to,
    )
    with step("loading the node set, records and API keys"):
        loaded = guarded(lambda: gateway_mod.load(config))
    gateway_mod.run(loaded)


# (field in /v1/nodes, column header): short headers, no borders, so the table fits 80 columns with
# every number whole (a long node name folds onto a second line instead); statuses follow it
COLUMNS = (
    ("name", "node"),
    ("reputation", "rep"),
    ("agreed", "agreed"),
    ("dissented", "dissent"),
    ("timeouts", "t/o"),
    ("receipts_valid", "proven"),
    ("receipts_invalid", "bad"),
    ("evidence", "evid"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p99_ms", "p99 ms"),
)


@network_app.command("status")
def status(
    gateway_url: Annotated[str, typer.Option("--gateway", help="The gateway's base URL, e.g. http://127.0.0.1:8090")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the gateway's /v1/nodes answer as JSON")] = False,
) -> None:
    """Each node as the gateway sees it: reputation, agreement, timeouts, receipts, evidence, latency."""
    from zkinfer.network.status import fetch_nodes

    document = guarded(lambda: fetch_nodes(gateway_url), as_json)
    if as_json:
        json_out(document)
        return
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True)
    for field, header in COLUMNS:
        if field == "name":
            table.add_column(header, overflow="fold", justify="left")
        else:
            table.add_column(header, no_wrap=True, justify="right", min_width=len(header))
    for row in document["nodes"]:
        table.add_row(*(shown(_cell(row.get(field))) for field, _ in COLUMNS))
    out.print(table)
    for row in document["nodes"]:
        if row.get("status") not in (None, "ok"):
            out.print(shown(f"node {row.get('name')}: {row.get('status')}"))
    q = document.get("quorum", {})
    out.print(
        shown(
            f"quorum: weight {q.get('threshold')} of {q.get('total_weight')}, agree on {q.get('agree_on')}, "
            f"{q.get('weighting')} weighting"
        )
    )
    out.print(shown(f"{document.get('watching', 0)} receipt(s) being watched"))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    return str(value)
