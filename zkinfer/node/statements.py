"""What the node signs the moment it answers: the statement its proof will attest, and its promise to prove it.

The statement comes from ezkl's witness (the quantized forward pass, exactly what the proof will
attest), so a request pays one witness run and two BLS signatures (statement and promise: ~0.7 ms
of CPU each with blspy, ~2 ms with milagro before it; both hold the GIL) before it is answered. Both run
in the node's statement workers (`statement_pool`): processes that load the circuits and the node key
once, so the web process only coalesces requests (`StatementSigner`, here) and hands each run over;
the worker's side is `StatementMaker`.

Concurrent requests share witness runs: a circuit compiled for batch N takes up to N waiting
requests in one run (request i in row i; for the tiny MLP a witness costs ~10 ms of CPU at batch 1
and ~42 ms at batch 32, whatever the number of real rows), and at
most `slots` runs are in flight per model, so under a burst the cost per request falls instead of
queueing one witness per request. Row i of a stacked witness is the same statement as that request
alone in row 0 (zero-padded), because a batch circuit computes each row from that row alone — the
same property that lets the worker prove the request in whichever batch row it lands (the node's
tests check the statement against the receipt's row).

What it costs (`benchmarks/bench_node_load.py`, tiny MLP compiled for batch 32, 2 cores): the web
process spent 2.2 ms of CPU per request before statements; with them made on a thread of the web
process, 10-11.6 ms at 32 requests in flight with milagro's signatures (~4.8 ms the pair) and 3-8.4
ms with blspy's, the rest HTTP and a share of a witness run shared by 13-15 requests. The signatures
and half the witness held the GIL there, so that CPU bounded the node's answer rate; in the statement
workers it grows with the cores instead (the benchmark prints the CPU per request of each part).

An input whose witness fails (outside the range the circuit was calibrated on) could never be
proven: it is refused with an `InputError` and nothing is queued. In a shared run, one such input
fails the whole witness, so the run is split in halves and retried (a failing witness fails in
milliseconds), and only that request is refused.

A batch circuit with a hashed (private) input commits to the whole batch at once, so no
statement binds one request; such a model answers without a statement (`signs_statements` is False).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from zkinfer.core.crypto.identity import NodeKey
from zkinfer.core.formats import statement
from zkinfer.core.formats.inputs import Sample
from zkinfer.core.formats.statement import SignedPromise, SignedStatement
from zkinfer.core.support.errors import InputError, ProvingError
from zkinfer.node.models import ServedModel, stack
from zkinfer.prover.prove import Prover


@dataclass(frozen=True)
class Signed:
    """A request's signed statement and signed promise, as the infer response carries them.

    An optimistic node promises no proof (its bond backs its word instead): `promise` is None and
    `input_felts` holds what the request's on-chain claim hashes."""

    statement: SignedStatement
    promise: SignedPromise | None
    input_felts: list[list[str]] | None = None


Request = tuple[Sample, str, str]  # one request's sample, request id (the statement's) and receipt id (the promise's)


@dataclass
class _Waiting:
    sample: Sample
    request_id: str
    receipt_id: str
    done: asyncio.Future[Signed]


def signs_statements(model: ServedModel) -> bool:
    """False for a batch circuit with a hashed input: its commitment covers every row, so no statement
    binds one request."""
    return not (model.batch_size > 1 and model.prover.circuit.manifest.visibility.input == "hashed")


Run = Callable[[str, list[Request]], Awaitable[list["Signed | Exception"]]]


class StatementSigner:
    """One model's statements, in the web process: coalesces waiting requests into witness runs and
    hands each run to `run` (the statement pool: `statement_pool.StatementPool.run`)."""

    def __init__(self, model: ServedModel, run: Run, slots: int) -> None:
        self.model = model
        self._run = run
        self.slots = max(1, slots)
        self.runs = 0  # witness runs made (a shared run counts once), for /metrics
        self._waiting: list[_Waiting] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references to tasks

    async def sign(self, sample: Sample, request_id: str, receipt_id: str) -> Signed:
        """The signed statement and promise for one request; InputError when its witness fails."""
        done: asyncio.Future[Signed] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(sample, request_id, receipt_id, done))
        if self._running < self.slots:
            self._running += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    async def _drain(self) -> None:
        """Run witness groups until nobody waits; one of at most `slots` such loops per model."""
        try:
            while self._waiting:
                group = [w for w in self._waiting[: self.model.batch_size] if not w.done.cancelled()]
                del self._waiting[: self.model.batch_size]
                if not group:
                    continue
                self.runs += 1
                try:
                    results = await self._run(self.model.name, [(w.sample, w.request_id, w.receipt_id) for w in group])
                except Exception as exc:  # a lost worker (503), a bug or an ezkl panic (500): the node keeps serving
                    results = [exc] * len(group)
                for waiting, result in zip(group, results, strict=True):
                    if waiting.done.done():
                        continue
                    if isinstance(result, Exception):
                        waiting.done.set_exception(result)
                    else:
                        waiting.done.set_result(result)
        finally:
            self._running -= 1


class StatementMaker:
    """In a statement worker: each model's witness and the node key's signatures, loaded once."""

    def __init__(self, provers: dict[str, Prover], key: NodeKey, prove_within_s: int, promises: bool = True) -> None:
        self.provers = provers
        self.key = key
        self.prove_within_s = prove_within_s
        self.promises = promises  # False on an optimistic node: claims instead of promises

    def make(self, model: str, group: list[Request]) -> list[Signed | Exception]:
        """One witness for the group (halves on failure), then sign each row."""
        prover = self.provers[model]
        batch_size = prover.circuit.manifest.batch_size
        samples = [sample for sample, _, _ in group]
        try:
            if not self.promises:
                return [self._claimable(prover, sample, request_id) for sample, request_id, _ in group]
            said = prover.statements(
                samples[0] if batch_size == 1 else stack(samples, batch_size), [rid for _, rid, _ in group]
            )
        except ProvingError as exc:
            if len(group) > 1:
                half = len(group) // 2
                return self.make(model, group[:half]) + self.make(model, group[half:])
            return [_unprovable(exc)]
        prove_by = int(time.time()) + self.prove_within_s
        signed: list[Signed | Exception] = []
        for made, (_, _, receipt_id) in zip(said, group, strict=True):
            signed_statement = statement.sign(made, self.key.secret, self.key.public_key)
            signed.append(
                Signed(signed_statement, statement.promise(signed_statement, receipt_id, prove_by, self.key.secret))
            )
        return signed

    def _claimable(self, prover: Prover, sample: Sample, request_id: str) -> Signed | Exception:
        """An optimistic node's signed statement (no promise) and the input felts its claim hashes."""
        try:
            made, felts = prover.claimable_statement(sample, request_id)
        except ProvingError as exc:
            return _unprovable(exc)
        return Signed(statement.sign(made, self.key.secret, self.key.public_key), None, felts)


def _unprovable(exc: ProvingError) -> InputError:
    """The 422 for an input whose witness fails: no proof could ever cover it, so nothing is queued."""
    return InputError(
        f"inputs: the circuit cannot prove this input (witness generation failed: {exc.__cause__ or exc}); "
        "it lies outside the range "
        "the circuit was calibrated on: send values in the range the model was made for"
    )
