"""An optimistic node's chain side (`serve --mode optimistic`): check the stake at start (the account
bonded; every served model registered with exactly the verifier and layout its circuit gives:
`zkinfer.chain.registration`), then, in one background thread (web3 is synchronous), post claims in
batches, watch for challenges and answer them once the worker pool has proven the challenged job.

Claims are committed to SQLite with their job before the answer leaves (`service.Node.infer`), so a
crash loses none a client holds: what is not yet posted is posted after a restart. The chain is the
only judge of what is challenged: the desk reads `Challenged` events and the challenge's state from
the contract, and matches them to its own claims by claim key (keccak(batchId, leaf)).

Known limits: a crash between a batch's transaction and its `mark_posted` commit posts those claims
again on restart (another batch; the first copy stays answerable only from the chain's event log);
challenges are scanned from block 0 at each start (fine on a dev chain, slow on a long public one).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zkinfer.chain import account, claims, registration
from zkinfer.chain.challenge import load_claim_file, parse_claim_file
from zkinfer.chain.claims import Claim
from zkinfer.chain.optimistic import CLAIM_SUFFIX, OptimisticNode
from zkinfer.chain.registration import Expected, RegistrationMismatch
from zkinfer.chain.stake import ModelNotRegistered, Stake, open_stake
from zkinfer.core.formats.receipt import parse
from zkinfer.core.support.errors import ChainError
from zkinfer.node.config import NodeConfigError, OptimisticConfig
from zkinfer.node.metrics import Metrics
from zkinfer.node.models import ServedModel
from zkinfer.node.store import JobState, Store, StoredClaim

log = logging.getLogger("zkinfer.node")

TICK_S = (
    0.5  # how often the desk looks at the store and the chain (posting still waits for a full batch or the interval)
)


def open_stake_for(config: OptimisticConfig, models: dict[str, ServedModel]) -> tuple[Stake, dict[bytes, Expected]]:
    """The stake contract, once it is known to bond this node's account and to register every served
    model (model id = circuit digest) with exactly the verifier and layout its circuit gives, and what
    each model's registration must be (checked again before each batch); else NodeConfigError naming
    the command that fixes it, or the mismatch."""
    try:
        chain = account.connect(config.rpc_url, account.resolve_key(config.key_file))
        if chain.account is None:
            raise NodeConfigError(
                "--mode optimistic posts claims and needs the node's chain key: "
                f"give --chain-key-file FILE or set ${account.KEY_ENV}"
            )
        stake = open_stake(chain, config.stake, config.registry)
        info = stake.node(chain.address)
        minimum = stake.params().min_bond
    except ChainError as exc:
        raise NodeConfigError(f"--mode optimistic: {exc}") from exc
    if not info.registered or info.slashed or info.bond < minimum:
        why = (
            "was slashed"
            if info.slashed
            else "is not registered"
            if not info.registered
            else f"bonds {info.bond} wei, below the minimum {minimum}"
        )
        raise NodeConfigError(
            f"--mode optimistic: the chain account {chain.address} {why} on the stake contract {stake.address}; "
            f"bond it with `zkinfer chain register-node --rpc-url {config.rpc_url} --stake {stake.address}` "
            "(or `chain add-bond`)"
        )
    expected = {}
    for name, model in models.items():
        model_id = claims.model_id(model.prover.circuit_digest)
        try:
            want = registration.expected(model.prover.circuit.path)
            registration.check(stake, want)
        except ModelNotRegistered:
            raise NodeConfigError(
                f"--mode optimistic: model {name!r} (model id 0x{model_id.hex()}) "
                f"is not registered on the stake contract {stake.address}; "
                f"register it with `zkinfer chain register-model {model.prover.circuit.path} "
                f"--rpc-url {config.rpc_url} --stake {stake.address}`"
            ) from None
        except ChainError as exc:
            raise NodeConfigError(f"--mode optimistic: model {name!r}: {exc}") from exc
        expected[want.model_id] = want
    return stake, expected


@dataclass
class ClaimDesk:
    """Posts the store's claims, answers their challenges; runs `tick` every TICK_S in a thread."""

    stake: Stake
    store: Store
    book: Path  # claim files, as OptimisticNode writes them
    config: OptimisticConfig
    metrics: Metrics
    on_requeue: Callable[[int], None]  # a held job went back to the proving queue (the node counts its depth)
    expected: dict[bytes, Expected]  # what each served model's registration must be (open_stake_for checked it)

    def __post_init__(self) -> None:
        self.claimer = OptimisticNode(
            self.stake, self.book, batch_size=self.config.claim_batch, spot_check_p=self.config.spot_check_p
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_post = time.monotonic()
        self._next_block = 0
        self._refused: str | None = None  # the last registration mismatch logged (not repeated every tick)

    def draw(self) -> bool:
        """Whether a new claim is proven at once anyway: the operator's own spot check (it finds the
        node's faults, e.g. a fast path that drifted from the circuit, before a challenger does; it
        binds no one: a cheating node would set it to 0, which is why challenges exist)."""
        return self.claimer.rng.random() < self.config.spot_check_p

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="zkinfer-claims", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            for step in (self.post_due, self.watch, self.answer_ready):
                try:
                    step()
                except Exception:  # the chain or its node failing: logged, retried next tick, never fatal
                    log.exception("optimistic %s failed; retrying", step.__name__)

    def post_due(self, force: bool = False) -> int:
        """Post full batches, and what is pending once the interval has passed; claims posted."""
        done = 0
        while True:
            pending = self.store.count_unposted_claims()
            due = force or time.monotonic() - self._last_post >= self.config.claim_interval_s
            if pending == 0 or (pending < self.config.claim_batch and not due):
                return done
            batch = self.store.unposted_claims(self.config.claim_batch)
            posted = self._post(batch)
            self._last_post = time.monotonic()
            if posted == 0:  # refused (a registration mismatch, logged): tried again at the next interval
                return done
            done += posted

    def _post(self, batch: list[StoredClaim]) -> int:
        pending = [Claim.from_json(json.loads(c.claim), f"claim of {c.request_id}") for c in batch]
        try:
            self.check_registrations(pending)
        except RegistrationMismatch as exc:
            if str(exc) != self._refused:
                log.error("not posting %d claim(s): %s", len(pending), exc)
                self._refused = str(exc)
            return 0
        self.claimer.pending = pending
        posted = self.claimer.flush()
        assert posted is not None
        records = []
        for stored in batch:
            document = load_claim_file(self.book / f"{stored.request_id}{CLAIM_SUFFIX}")
            key = claims.claim_key(document.batch_id, document.claim.leaf()).hex()
            records.append((stored.request_id, document.batch_id, key, json.dumps(document.to_json())))
        self.store.mark_posted(records)
        self.metrics.claims_posted.inc(len(batch))
        self.metrics.claim_batches.inc()
        log.info("posted %d claim(s) as batch %d (gas %d)", len(batch), posted.batch_id, posted.sent.gas_used)
        return len(batch)

    def check_registrations(self, batch: list[Claim]) -> None:
        """Before a batch: each claim's model is a served one whose registration is still exactly its
        circuit's (verifier code and layout); RegistrationMismatch otherwise, and nothing is posted."""
        for model_id in dict.fromkeys(c.model_id for c in batch):
            want = self.expected.get(model_id)
            if want is None:
                raise RegistrationMismatch(
                    f"a pending claim names model 0x{model_id.hex()}, which this node does not serve: "
                    "its registration was never checked"
                )
            registration.check(self.stake, want)

    def watch(self) -> None:
        """Challenges of this node's claims since the last look: their jobs go to the proving queue."""
        head = int(self.stake.chain.web3.eth.block_number)
        if head < self._next_block:
            return
        for event in self.stake.events("Challenged", self._next_block):
            stored = self.store.claim_by_key(bytes(event["args"]["claimKey"]).hex())
            if stored is None or stored.challenged:
                continue
            view = self.store.get(stored.job_id)
            self.store.challenge(stored.request_id)
            if view is not None and view.state is JobState.HELD:
                self.on_requeue(1)
            log.info("claim %s challenged: proving its job %s", stored.request_id, stored.job_id)
        self._next_block = head + 1

    def answer_ready(self) -> None:
        """Answer each open challenge whose job is proven, with its receipt (verified before gas is spent)."""
        for stored in self.store.challenged_claims():
            view = self.store.get(stored.job_id)
            if view is not None and view.state is JobState.FAILED:
                log.error(
                    "claim %s is challenged but its job failed to prove (%s): "
                    "it cannot be answered, and the bond will be slashed",
                    stored.request_id,
                    view.error,
                )
                self.store.close_challenge(stored.request_id)  # nothing left to try
                continue
            if view is None or view.state is not JobState.PROVEN or view.receipt is None or stored.claim_file is None:
                continue
            document = parse_claim_file(json.loads(stored.claim_file), f"claim file of {stored.request_id}")
            key = claims.claim_key(document.batch_id, document.claim.leaf())
            if self.stake.challenge_info(key, document.batch_id).state == "challenged":
                sent = self.stake.answer(
                    document.batch_id,
                    document.claim,
                    parse(json.loads(view.receipt), f"receipt of job {stored.job_id}"),
                )
                self.metrics.challenges_answered.inc()
                log.info("answered the challenge of claim %s (gas %d)", stored.request_id, sent.gas_used)
            self.store.close_challenge(stored.request_id)
