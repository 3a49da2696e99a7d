"""`zkinfer serve`: the proving node (OIP v2 with receipts), or an LLM with the OpenAI API (--llm)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkinfer.cli.output import (
    guarded,
    step,
)


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    circuits: Annotated[
        Path, typer.Option("--circuits", help="A folder of compiled circuits (or one circuit directory)")
    ] = Path("circuits"),
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on")] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (0.0.0.0 exposes the node beyond this machine)")
    ] = "127.0.0.1",
    state_dir: Annotated[Path, typer.Option("--state-dir", help="Job store, node key and API keys live here")] = Path(
        ".zkinfer-node"
    ),
    key: Annotated[
        Path | None, typer.Option("--key", help="Node key file that signs receipts (default: made in --state-dir)")
    ] = None,
    api_keys: Annotated[
        Path | None,
        typer.Option(
            "--api-keys",
            help="File of API keys, one per line, # lines are comments (default: --state-dir/api-keys, made with "
            "one key: grep -v '^#' reads it)",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, help="Proving processes; the cores are split between them (RAYON_NUM_THREADS)"
        ),
    ] = 1,
    statement_workers: Annotated[
        int | None,
        typer.Option(
            "--statement-workers",
            min=1,
            help="Processes that make each answer's signed statement (witness + signatures); default: one per core",
        ),
    ] = None,
    max_queue: Annotated[
        int, typer.Option("--max-queue", min=1, help="Unproven jobs beyond which infer answers 429")
    ] = 1000,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Largest request body accepted (413 above)")
    ] = 1 << 20,
    wait_timeout: Annotated[
        float,
        typer.Option(
            "--wait-timeout", min=0, help="Longest an infer?wait=true request waits for its proof, in seconds"
        ),
    ] = 300.0,
    batch_window_ms: Annotated[
        float,
        typer.Option(
            "--batch-window-ms",
            min=0,
            help="Prove requests within this window together (batch_size > 1 circuits; 0 = off); they see each "
            "other's outputs",
        ),
    ] = 0.0,
    batch_private_inputs: Annotated[
        bool, typer.Option("--batch-private-inputs", help="Also batch circuits with hashed (private) inputs")
    ] = False,
    cpu: Annotated[bool, typer.Option("--cpu", help="Run the fast path on the CPU even if a GPU is present")] = False,
    metrics: Annotated[
        str, typer.Option("--metrics", help="/metrics access: off, key (needs an API key) or public")
    ] = "key",
    header_timeout: Annotated[
        float, typer.Option("--header-timeout", min=0.1, help="Seconds a connection has to send a request's headers")
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option("--body-timeout", min=0.1, help="Seconds a request has to send its whole body after the headers"),
    ] = 30.0,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections", min=1, help="Open connections at most (kept below the file-descriptor limit)"
        ),
    ] = 4096,
    prove_within: Annotated[
        int,
        typer.Option(
            "--prove-within", min=1, help="Seconds within which each answer's signed promise says it will be proven"
        ),
    ] = 3600,
    worker_priority: Annotated[
        str,
        typer.Option(
            "--worker-priority",
            help="Provers run as: idle (SCHED_IDLE: answers preempt proving; never-idle cores starve it) or nice "
            "(nice 10)",
        ),
    ] = "idle",
    executor_name: Annotated[
        str,
        typer.Option(
            "--executor",
            help="Where proofs run: local (the worker processes) or ray (Ray actors; a local Ray unless --ray-address)",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to prove on, with --executor ray (default: a local Ray started with the node)",
        ),
    ] = None,
    max_prove_memory: Annotated[
        str | None,
        typer.Option(
            "--max-prove-memory",
            help="Memory ceiling of each proving process, e.g. 2GiB (a job over it fails, naming it)",
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="proving (every answer proven, as promised) or optimistic (a claim on chain backed by the bond; "
            "proven if challenged or spot-checked)",
        ),
    ] = "proving",
    rpc_url: Annotated[
        str | None, typer.Option("--rpc-url", help="--mode optimistic: the EVM node of the stake contract")
    ] = None,
    chain_key_file: Annotated[
        Path | None,
        typer.Option(
            "--chain-key-file",
            help="--mode optimistic: file of the hex key of the node's bonded account (or $ZKINFER_CHAIN_KEY)",
        ),
    ] = None,
    stake_address: Annotated[
        str | None,
        typer.Option(
            "--stake",
            help="--mode optimistic: the stake contract's address (default: the latest in --stake-registry for this "
            "chain)",
        ),
    ] = None,
    stake_registry: Annotated[
        Path | None,
        typer.Option(
            "--stake-registry",
            help="--mode optimistic: the deployments file of the stake contract (default: "
            ".zkinfer-chain/deployments.json)",
        ),
    ] = None,
    spot_check: Annotated[
        float,
        typer.Option("--spot-check", help="--mode optimistic: probability that an answer is proven at once anyway"),
    ] = 0.01,
    claim_batch: Annotated[
        int, typer.Option("--claim-batch", help="--mode optimistic: claims per on-chain batch (one Merkle root)")
    ] = 64,
    claim_interval: Annotated[
        float,
        typer.Option("--claim-interval", help="--mode optimistic: post pending claims at least this often, in seconds"),
    ] = 30.0,
    llm: Annotated[
        Path | None,
        typer.Option(
            "--llm",
            help="Serve this Hugging Face causal-LM directory with the OpenAI API (e.g. models/llm/tiny-stdlib); "
            "every answer carries a signed LLM receipt",
        ),
    ] = None,
    llm_threads: Annotated[int, typer.Option("--llm-threads", min=1, help="--llm: torch threads for generation")] = 1,
    max_tokens: Annotated[
        int,
        typer.Option(
            "--max-tokens", min=1, help="--llm: the most tokens a request may ask for (above it: 422 naming max_tokens)"
        ),
    ] = 256,
    max_prompt_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-prompt-tokens",
            min=1,
            help="--llm: the longest prompt in tokens (default: the model's context less one)",
        ),
    ] = None,
) -> None:
    """Serve proven inference over HTTP (Open Inference Protocol / KServe v2) with receipts, or a
    language model with the OpenAI API and signed LLM receipts (--llm DIR)."""
    if llm is not None:
        from zkinfer.llm_node import server as llm_server
        from zkinfer.llm_node.config import LlmConfig

        llm_config = guarded(
            lambda: LlmConfig(
                model_dir=llm,
                state_dir=state_dir,
                host=host,
                port=port,
                key_file=key,
                api_keys_file=api_keys,
                threads=llm_threads,
                max_tokens_cap=max_tokens,
                max_prompt_tokens=max_prompt_tokens,
                max_queue=max_queue,
                max_body_bytes=max_body_bytes,
                metrics=metrics,
            )
        )
        guarded(lambda: llm_server.run(llm_config))
        return
    from zkinfer.node import server
    from zkinfer.node.config import NodeConfig
    from zkinfer.prover.executor import parse_memory

    optimistic = guarded(
        lambda: NodeConfig.optimistic_for(
            mode,
            rpc_url=rpc_url,
            chain_key_file=chain_key_file,
            stake=stake_address,
            stake_registry=stake_registry,
            spot_check_p=spot_check,
            claim_batch=claim_batch,
            claim_interval_s=claim_interval,
        )
    )

    config = guarded(
        lambda: NodeConfig(  # an option it refuses (--metrics, --worker-priority) is a one-line error, exit 2
            circuits=circuits,
            state_dir=state_dir,
            host=host,
            port=port,
            key_file=key,
            api_keys_file=api_keys,
            workers=workers,
            **({} if statement_workers is None else {"statement_workers": statement_workers}),
            max_queue=max_queue,
            max_body_bytes=max_body_bytes,
            wait_timeout_s=wait_timeout,
            batch_window_ms=batch_window_ms,
            batch_private_inputs=batch_private_inputs,
            prefer_gpu=not cpu,
            metrics=metrics,
            header_timeout_s=header_timeout,
            body_timeout_s=body_timeout,
            max_connections=max_connections,
            prove_within_s=prove_within,
            worker_priority=worker_priority,
            executor=executor_name,
            ray_address=ray_address,
            max_prove_memory=parse_memory(max_prove_memory) if max_prove_memory is not None else None,
            optimistic=optimistic,
        )
    )
    with step("loading circuits, keys and the job store"):
        node = guarded(lambda: server.load(config))
    server.run(node)
