"""`zkinfer gateway`: an Open Inference Protocol front over a pinned set of untrusted nodes.

The same paths as a node (`/v2/health/*`, `/v2`, `/v2/models/{name}`, `POST /v2/models/{name}/infer`,
JSON or Triton binary tensors), so a KServe or Triton client calls a gateway unchanged. An infer is
fanned out by `client.Consensus`; the answer is the certified statement's output with, in
`parameters`, `zkinfer_certificate`, `zkinfer_signers`, `zkinfer_dissent` and `request_id`. No
quorum is a 503 naming what each node said (or the nodes' own 4xx when a quorum of them refused
the request alike), never a made-up output. After answering, the stragglers' answers are judged
and every answer is recorded (`records`), and the watcher follows each node's receipt.

Tenancy: each API key's owner is a tenant, named by a short stable id (`zkinfer.serving.tenancy`). The request
id the gateway sends the nodes, which their statements sign and the records, certificates and
evidence carry, is `<tenant>:<the client's id>` (`<tenant>:zk-<random>` when the client sent
none), so one tenant's id can never name, replace or read another's answer. The answer's `id` is
the client's own; `parameters.request_id` is the namespaced id the certificate carries.

Access: inference, model metadata, `/v1/certificates/{id}` (the caller's own id, in its
namespace: another tenant's is a 404 like an unknown id) and the evidence documents need an API
key; a tenant reads only evidence about its own requests. Public, with no key: node standing only
(`/v1/nodes`: reputation, counts, latency, status; `/ui`: the node table and, for evidence, its
kind, the accused node and the time; `/v1/evidence` without a key: the same rows): no request
ids, inputs, outputs or certificates.
"""

from __future__ import annotations

import logging

from zkinfer.core.support import logs
from zkinfer.network import nodeset as nodeset_mod
from zkinfer.network.gateway_app import create_app
from zkinfer.network.gateway_config import GatewayConfig, GatewayError
from zkinfer.network.gateway_state import Gateway
from zkinfer.network.records import Records
from zkinfer.serving import auth, state
from zkinfer.serving.app import serve
from zkinfer.serving.connections import ConnectionLimits

__all__ = ["Gateway", "GatewayConfig", "GatewayError", "create_app", "load", "run"]
log = logging.getLogger("zkinfer.gateway")
LIMITS = ConnectionLimits(header_timeout_s=10.0, body_timeout_s=30.0, max_connections=4096)


def load(config: GatewayConfig) -> Gateway:
    """Everything fallible before the port opens: the node set, the state directory, the records, the API keys."""
    logs.serve_to_stderr(log)
    pinned = nodeset_mod.load(config.nodes)
    lock = state.lock(config.state_dir, "gateway")  # two gateways on one directory would watch receipts twice
    records = Records(config.state_dir / "gateway.db")
    keys = auth.load(config.api_keys_path, config.api_keys_file is not None, log)
    gateway = Gateway(config, pinned, records, keys)
    gateway.lock = lock
    q = pinned.quorum
    log.info(
        "%d node(s) pinned from %s; quorum: weight %d of %d, agree on %s, %d ms per node, %s weighting",
        len(pinned.nodes),
        config.nodes,
        q.threshold,
        pinned.total_weight(),
        q.agree_on,
        q.timeout_ms,
        q.weighting,
    )
    return gateway


def run(gateway: Gateway) -> None:
    """Serve until interrupted."""
    config = gateway.config
    log.info(
        "listening on http://%s:%d (KServe v2 under /v2, /v1/nodes, /v1/certificates, /v1/evidence, /ui)",
        config.host,
        config.port,
    )
    serve(create_app(gateway), config.host, config.port, log, LIMITS)
