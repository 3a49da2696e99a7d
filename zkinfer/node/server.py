"""`zkinfer serve`: `load` the node (everything slow or fallible) before listening, then `run` uvicorn."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from zkinfer.core.crypto import identity
from zkinfer.core.support import logs
from zkinfer.node import state
from zkinfer.node.config import NodeConfig
from zkinfer.node.models import ServedModel, load_provers
from zkinfer.node.service import Node
from zkinfer.node.statement_pool import StatementSettings
from zkinfer.node.statements import signs_statements
from zkinfer.node.workers import WorkerSettings
from zkinfer.serving.app import serve
from zkinfer.serving.connections import ConnectionLimits

if TYPE_CHECKING:
    from zkinfer.node.claimdesk import ClaimDesk

log = logging.getLogger("zkinfer.node")


def _served_models(config: NodeConfig) -> dict[str, ServedModel]:
    """Each circuit under --circuits, its keys set up, with how many jobs one proof may carry."""
    provers = load_provers(config.circuits, prefer_gpu=config.prefer_gpu)
    models = {}
    for name, prover in provers.items():
        manifest = prover.circuit.manifest
        models[name] = model = ServedModel(
            prover=prover, jobs_per_proof=config.jobs_per_proof(manifest.batch_size, manifest.visibility.input)
        )
        log.info(
            "serving %s (k=%d, batch %d, %d job(s) per proof)",
            name,
            prover.circuit.logrows,
            model.batch_size,
            model.jobs_per_proof,
        )
        if not signs_statements(model):
            log.warning(
                "%s: a batch circuit with a hashed input commits to the whole batch, so its answers carry "
                "no signed statement (gateways cannot count them)",
                name,
            )
    return models


def _worker_settings(config: NodeConfig, models: dict[str, ServedModel]) -> WorkerSettings:
    return WorkerSettings(
        circuits=config.circuits,
        store_path=config.store_path,
        key_path=config.node_key_path,
        caps={name: m.jobs_per_proof for name, m in models.items()},
        window_s=config.batch_window_ms / 1000,
        rayon_threads=config.rayon_threads,
        nice=config.worker_nice,
        idle=config.worker_priority == "idle",
        executor=config.executor,
        ray_address=config.ray_address,
        max_prove_memory=config.max_prove_memory,
    )


def _statement_settings(config: NodeConfig) -> StatementSettings:
    return StatementSettings(
        circuits=config.circuits,
        key_path=config.node_key_path,
        prove_within_s=config.prove_within_s,
        promises=config.optimistic is None,
        rayon_threads=config.statement_rayon_threads,
    )


def _ray_address(config: NodeConfig) -> str | None:
    """The Ray cluster the workers prove on: the one given, or a local Ray started here (stopped at
    exit by Ray's own atexit hook)."""
    from zkinfer.prover.executor.ray_actors import check_address, start_local_ray

    if config.ray_address is not None:
        check_address(config.ray_address)  # here, before listening: the workers would retry it for ever
        return config.ray_address
    address, _ = start_local_ray()
    log.info("started a local Ray at %s for --executor ray", address)
    return address


def load(config: NodeConfig) -> Node:
    """Everything slow or fallible (a second node, key setup, a bad circuit or key file), in order,
    before the port opens.

    Nothing runs yet: the workers start (and the store takes jobs) when the app's lifespan calls `Node.start`.
    """
    logs.serve_to_stderr(log)
    lock = state.lock(config)  # first: a second node on this state directory stops here, before touching anything
    key = state.node_key(config)  # statement workers sign each answer's statement and promise; provers, receipts
    log.info(
        "node public key %s (auditors pin it with --expect-signer; `zkinfer keys show` prints its nodes.toml entry)",
        key.public_hex,
    )
    api_keys = state.api_keys(config)
    models = _served_models(config)
    if config.executor == "ray":
        config = dataclasses.replace(config, ray_address=_ray_address(config))
    store = state.store(config)
    store.requeue()  # jobs a stop or crash of the node left mid-proof go back to the queue before any worker starts
    unfinished = store.count_unfinished(list(models))
    if unfinished:
        log.info("resuming %d unfinished job(s)", unfinished)
    return Node(
        config,
        lock=lock,
        api_keys=api_keys,
        models=models,
        store=store,
        unfinished=unfinished,
        workers=_worker_settings(config, models),
        statements=_statement_settings(config),
        key=key,
        proof_of_possession=identity.proof_of_possession(key),
        desk_factory=_desk_factory(config, models),
    )


def _desk_factory(config: NodeConfig, models: dict[str, ServedModel]) -> Callable[[Node], ClaimDesk] | None:
    """--mode optimistic: check the chain now (bonded account, every model registered exactly as its
    circuit gives: verifier code and layout), before anything listens."""
    if config.optimistic is None:
        return None
    from zkinfer.node.claimdesk import ClaimDesk, open_stake_for

    optimistic = config.optimistic
    stake, expected = open_stake_for(optimistic, models)
    log.info(
        "optimistic mode: claims of %s on stake contract %s (batches of %d, every %g s at most; spot checks p=%g)",
        stake.chain.address,
        stake.address,
        optimistic.claim_batch,
        optimistic.claim_interval_s,
        optimistic.spot_check_p,
    )
    return lambda node: ClaimDesk(
        stake, node.store, config.state_dir / "claims", optimistic, node.metrics, node.requeued, expected
    )


def run(node: Node) -> None:
    """Serve until interrupted (SIGINT/SIGTERM stop the workers; an unfinished proof is redone next start)."""
    from zkinfer.node.app import create_app

    config = node.config
    limits = ConnectionLimits(
        header_timeout_s=config.header_timeout_s,
        body_timeout_s=config.body_timeout_s,
        max_connections=config.max_connections,
    )
    log.info(
        "listening on http://%s:%d (KServe v2 under /v2, receipts under /v1/receipts, metrics at /metrics)",
        config.host,
        config.port,
    )
    serve(create_app(node), config.host, config.port, log, limits, config.keep_alive_timeout_s)
