"""The node's settings, and the sizing rules that follow from them (worker counts, rayon threads).

One ezkl prove already spreads over every core through rayon, and holds the GIL throughout, so the
node proves in worker *processes* and splits the cores between them instead of adding threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zkinfer.core.support.errors import UsageError
from zkinfer.prover.executor import EXECUTORS, cpu_count  # cpu_count: also the node's (service, benchmarks)
from zkinfer.serving.config import NodeServerConfig

DEFAULT_MAX_QUEUE = 1000
WORKER_PRIORITIES = ("idle", "nice")
DEFAULT_PROVE_WITHIN_S = 3600
MODES = ("proving", "optimistic")
MAX_STATEMENT_WORKERS = 64


def default_statement_workers() -> int:
    """One statement worker per core (README, "Sizing a node"): a statement is a witness run and two
    signatures, CPU-bound in one process each, so N workers make N at once on N cores; a worker with
    nothing to do costs only its memory (its own copy of the circuits)."""
    return max(1, min(cpu_count(), MAX_STATEMENT_WORKERS))


class NodeConfigError(UsageError):
    """A node option or the file it names is unusable."""


class ServeModeError(NodeConfigError):
    """`serve` options that its --mode does not take, or that it lacks (exit 2)."""


@dataclass(frozen=True)
class OptimisticConfig:
    """`serve --mode optimistic`: answer with a claim backed by the bond, prove only when challenged
    (or when a spot check draws the claim)."""

    rpc_url: str
    key_file: Path | None  # None: $ZKINFER_CHAIN_KEY
    stake: str | None  # the stake contract's address; None: the latest `registry` records on this chain
    registry: Path
    spot_check_p: float = 0.01
    claim_batch: int = 64
    claim_interval_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.spot_check_p <= 1.0:
            raise NodeConfigError(f"--spot-check: {self.spot_check_p}; give a probability from 0 to 1")
        if not 1 <= self.claim_batch <= 1 << 16:
            raise NodeConfigError(f"--claim-batch: {self.claim_batch}; give 1 to 65536 claims per batch")
        if not 0.1 <= self.claim_interval_s <= 86400:
            raise NodeConfigError(f"--claim-interval: {self.claim_interval_s} s; give 0.1 to 86400 seconds")


@dataclass(frozen=True)
class NodeConfig(NodeServerConfig):
    """Everything `zkinfer serve` was told (where it listens, its state directory, keys, body limit
    and /metrics access: `zkinfer.serving.config`); paths are resolved when the node starts."""

    config_error = NodeConfigError

    circuits: Path
    workers: int = 1
    statement_workers: int = field(default_factory=default_statement_workers)  # processes making answers' statements
    max_queue: int = DEFAULT_MAX_QUEUE
    wait_timeout_s: float = 300.0
    batch_window_ms: float = 0.0
    batch_private_inputs: bool = False
    prefer_gpu: bool = True
    worker_nice: int = 10
    worker_priority: str = (
        "idle"  # "idle": proving threads under SCHED_IDLE; "nice": niced by worker_nice only (see `workers`)
    )
    prove_within_s: int = DEFAULT_PROVE_WITHIN_S  # the promise each answer carries: proven within this many seconds
    header_timeout_s: float = 10.0  # a request's headers, from the connection's opening (or the request's first byte)
    body_timeout_s: float = 30.0  # the whole body, after the headers
    keep_alive_timeout_s: float = 5.0  # an idle kept-alive connection
    max_connections: int = 4096  # beyond it the oldest idle or still-sending connection is closed, or the new one
    executor: str = (
        "local"  # where proofs run: "local" (in the worker processes) or "ray" (Ray actors; `zkinfer.prover.executor`)
    )
    ray_address: str | None = None  # the Ray cluster for executor "ray"; None: a local Ray started with the node
    max_prove_memory: int | None = None  # bytes: each proving process's memory ceiling (RLIMIT_AS); None: none
    optimistic: OptimisticConfig | None = None  # None: --mode proving (every answer proven, as promised)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.worker_priority not in WORKER_PRIORITIES:
            raise NodeConfigError(
                f"--worker-priority: {self.worker_priority!r} is not one of {', '.join(WORKER_PRIORITIES)}"
            )
        if not 1 <= self.statement_workers <= MAX_STATEMENT_WORKERS:
            raise NodeConfigError(
                f"--statement-workers: {self.statement_workers}; give 1 to {MAX_STATEMENT_WORKERS} "
                "(one per core is the default)"
            )
        if self.executor not in EXECUTORS:
            raise NodeConfigError(f"--executor: {self.executor!r} is not one of {', '.join(EXECUTORS)}")
        if self.ray_address is not None and self.executor != "ray":
            raise NodeConfigError("--ray-address is for --executor ray; drop it or add --executor ray")
        if not 1 <= self.prove_within_s <= 10 * 365 * 86400:
            raise NodeConfigError(
                f"--prove-within: {self.prove_within_s} s; give a number of seconds from 1 to ten years"
            )

    @staticmethod
    def optimistic_for(
        mode: str,
        *,
        rpc_url: str | None = None,
        chain_key_file: Path | None = None,
        stake: str | None = None,
        stake_registry: Path | None = None,
        spot_check_p: float = 0.01,
        claim_batch: int = 64,
        claim_interval_s: float = 30.0,
    ) -> OptimisticConfig | None:
        """`serve --mode`'s rules: which options combine, and what they mean. None for --mode proving
        (every answer proven); for --mode optimistic, the chain it claims on (the stake contract from
        `stake_registry`, the chain commands' one registry, when --stake is not given). A mix the
        mode does not take raises `ServeModeError` naming the options."""
        if mode not in MODES:
            raise ServeModeError(f"--mode: {mode!r} is not one of {', '.join(MODES)}")
        if mode == "proving":
            if rpc_url or chain_key_file or stake:
                raise ServeModeError(
                    "--rpc-url, --chain-key-file and --stake are for --mode optimistic; add it or drop them"
                )
            return None
        if rpc_url is None:
            raise ServeModeError(
                "--mode optimistic: give --rpc-url (the EVM node of the stake contract the node is bonded on)"
            )
        from zkinfer.chain import registry

        found = registry.resolve(stake_registry)  # older registry files are adopted
        return OptimisticConfig(rpc_url, chain_key_file, stake, found.path, spot_check_p, claim_batch, claim_interval_s)

    @property
    def store_path(self) -> Path:
        return self.state_dir / "jobs.sqlite3"

    @property
    def statement_rayon_threads(self) -> int:
        """Every core for each statement worker's witness: a batch circuit's runs go one at a time, and
        its witness on one core took twice as long (a 500-request burst's answers went from p50 68 to
        93 ms); when several workers run at once the kernel shares the cores out."""
        return cpu_count()

    @property
    def rayon_threads(self) -> int:
        """Each worker's share of the cores, so concurrent proves do not oversubscribe them."""
        return max(1, cpu_count() // max(1, self.workers))

    def jobs_per_proof(self, batch_size: int, input_visibility: str) -> int:
        """How many queued requests one proof may carry for a circuit compiled for `batch_size`.

        A batched receipt states every row's output, and every row's input when inputs are public:
        each requester sees the others' requests. So batching is off unless the operator sets a
        window, and for hashed (private) inputs it also needs `batch_private_inputs`.
        """
        if batch_size <= 1 or self.batch_window_ms <= 0:
            return 1
        if input_visibility != "public" and not self.batch_private_inputs:
            return 1
        return batch_size
