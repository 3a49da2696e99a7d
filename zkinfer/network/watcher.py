"""After the answer: fetch each node's receipt, verify it, and file evidence against liars.

For every answer the gateway recorded with a valid signed statement and promise, the watcher polls
the node's `GET /v1/receipts/{id}` (backing off from `poll_s`) until a receipt arrives or the
promise's time passes. Each node's receipts are followed one at a time, in the order the node
answered (head of line): a node proves its queue in order, so while its oldest receipt is pending
the newer ones are too, and asking for them only costs both sides. One poller per receipt made the
polls grow with the backlog: with 3 nodes proving a 200-request burst (600 receipts pending), the
polls took 77 % of the gateway's event loop and its answers went from 30 to 330 ms at p50. A receipt
is verified isolated (`receipt_examination.examine`, `zkinfer.verify`, with the circuit pinned to the
statement's and the signer to the node's key), and the statement its proof attests
(`statement.from_receipt`) is compared with the one the node signed:

- equal: the node proved what it said (receipt valid);
- same claim, other output: **contradiction** evidence (the node's own valid proof against its word);
- no valid receipt proving the statement, asked after the promised time: **unproven** evidence,
  filed only when the node itself answered after its deadline (202, an error, a receipt that does
  not prove the statement); a node that cannot be reached is recorded as unobserved, never accused,
  because a network error may be the gateway's own.

Each new signed statement is also compared with the node's earlier ones: the same claim with
another output is **equivocation** evidence, across requests and gateways alike.

A receipt that fails verification is not settled at once: the answer stays pending, the receipt is
set aside until the promise falls due and then verified once more (the fault may be the verifier's).
Still no valid receipt of the statement then: the answer is unproven, with **unproven** evidence. It
is recorded as invalid only when, after such a receipt, the node cannot be reached past its promised
time (nothing filed). A failed verification is never itself the ground for evidence (a contradiction
needs a proof that verifies). Evidence documents go to the records and, as files, to
`<state-dir>/evidence/<id>.json`; the id is the document's content digest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from zkinfer.core.crypto.digest import digest_bytes, digest_json
from zkinfer.core.formats.receipt import max_receipt_bytes
from zkinfer.core.formats.statement import SignedPromise, SignedStatement, Statement, StatementError
from zkinfer.core.support.errors import ZkinferError
from zkinfer.network import evidence
from zkinfer.network.checking import lower_priority
from zkinfer.network.client import Consensus
from zkinfer.network.node_http import NodeHTTPError, TooLarge
from zkinfer.network.nodeset import PinnedNode
from zkinfer.network.receipt_examination import Found, examine
from zkinfer.network.record_types import AnswerRecord, EvidenceRecord, ReceiptState
from zkinfer.network.records import Records

log = logging.getLogger("zkinfer.gateway")

# What a node may answer at its receipt URL that is its own word on the receipt: proven (200), not
# yet (202), unknown (404), proving failed (422, 500). Others (401, 403, 429, 502-504, ...) may be the
# gateway's key or a proxy's doing, so they are treated like a network error: no observation.
OBSERVATIONS = frozenset({200, 202, 404, 422, 500})
MAX_POLL_S = 10.0  # the longest wait between two polls of a node's oldest receipt (one poller per node: cheap)
# The node's own word that a receipt will not come by waiting (unknown job, input refused, proving
# failed): such a receipt is set aside until its promise falls due, not left blocking the node's queue.
GIVEN_UP = frozenset({404, 422, 500})
GRACE_S = 120.0  # after the promised time, how long an unreachable node is retried before it is left unobserved
CLOCK_SLACK_S = 2  # seconds past a promise before the watcher calls it unproven


def claim_digest(statement: Statement) -> str:
    """A digest of what the output is a function of (circuit, input, weights), for equivocation look-ups."""
    circuit, input_digest, weights = statement.claim()
    return digest_json(
        {"circuit": circuit, "input": input_digest, "weights": None if weights is None else list(weights)}
    )


@dataclass(frozen=True)
class Watched:
    """One answer to watch, parsed back from its record."""

    record: AnswerRecord
    node: PinnedNode
    signed: SignedStatement
    promise: SignedPromise

    @property
    def url(self) -> str:
        return f"{self.node.url}/v1/receipts/{self.promise.promise.receipt_id}"


class Watcher:
    def __init__(
        self,
        records: Records,
        consensus: Consensus,
        evidence_dir: Path,
        *,
        poll_s: float = 2.0,
        grace_s: float = GRACE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.records, self.consensus, self.evidence_dir = records, consensus, evidence_dir
        self.poll_s, self.grace_s, self.clock = poll_s, grace_s, clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._queues: dict[str, deque[Watched]] = {}  # node key → its receipts to follow, oldest answer first
        self._followers: dict[str, asyncio.Task[None]] = {}  # node key → the task following that node's queue
        self._set_aside = 0  # receipts waiting for their promise to fall due (see GIVEN_UP)
        self._verifying = asyncio.Semaphore(1)  # one verification at a time: it competes with the answers for the CPU
        self._pool: ProcessPoolExecutor | None = None

    # --- entry points ----------------------------------------------------------------------------

    def watch(self, answers: list[AnswerRecord]) -> None:
        """Check each new signed statement for equivocation, and start watching its receipt."""
        for record in answers:
            node = self._node(record)
            if node is None or record.statement is None:
                continue
            try:
                signed = SignedStatement.from_json(record.statement)
            except StatementError:
                continue
            self._equivocation(record, node, signed)
            watched = self._parse(record)
            if watched is not None and record.receipt is ReceiptState.PENDING:
                self._enqueue(watched)

    def resume(self) -> int:
        """Watch again what a stopped gateway left pending; how many."""
        pending = self.records.watching()
        for record in pending:
            watched = self._parse(record)
            if watched is not None:
                self._enqueue(watched)
        return len(pending)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._queues.clear()  # what is still pending stays so in the records: `resume` follows it next time
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    @property
    def busy(self) -> int:
        """Receipts not settled yet."""
        return sum(len(queue) for queue in self._queues.values()) + self._set_aside

    def _enqueue(self, watched: Watched) -> None:
        """Queue a receipt behind the node's earlier ones; start following the node if nobody is."""
        key = watched.record.node_key
        self._queues.setdefault(key, deque()).append(watched)
        follower = self._followers.get(key)
        if follower is None or follower.done():
            task = asyncio.create_task(self._follow_node(key))
            self._followers[key] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _follow_node(self, key: str) -> None:
        """Settle one node's receipts in order until its queue is empty."""
        queue = self._queues[key]
        while queue:
            head = queue[0]
            due = await self._watch(head, set_aside=True)
            queue.popleft()
            if due is not None:
                self._set_aside += 1
                task = asyncio.create_task(self._after(head, due))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _after(self, w: Watched, due: float) -> None:
        """A receipt set aside: asked for again once its promise has fallen due."""
        try:
            await asyncio.sleep(max(0.0, due - self.clock()) + 0.05)
            await self._watch(w, set_aside=False)
        finally:
            self._set_aside -= 1

    def _node(self, record: AnswerRecord) -> PinnedNode | None:
        return self.consensus.nodeset.by_key(bytes.fromhex(record.node_key))

    def _parse(self, record: AnswerRecord) -> Watched | None:
        node = self._node(record)
        if record.statement is None or record.promise is None or node is None:
            return None
        try:
            return Watched(
                record, node, SignedStatement.from_json(record.statement), SignedPromise.from_json(record.promise)
            )
        except StatementError:
            return None

    # --- equivocation ----------------------------------------------------------------------------

    def _equivocation(self, record: AnswerRecord, node: PinnedNode, signed: SignedStatement) -> None:
        said = signed.statement
        for document in self.records.conflicting(record.node_key, claim_digest(said), said.digest()):
            try:
                other = SignedStatement.from_json(document)
            except StatementError:
                continue
            if (other.statement.output_scales, other.statement.output) == (said.output_scales, said.output):
                continue  # the same output for another request: consistent
            try:
                doc = evidence.equivocation(other, signed, node.name, int(self.clock()))
            except ZkinferError as exc:
                log.warning("equivocation by %s not filed: %s", node.name, exc)
                continue
            self._file(doc, node, record.seq)
            return  # one document proves it; more pairs add nothing

    # --- receipts --------------------------------------------------------------------------------

    async def _watch(self, w: Watched, set_aside: bool) -> float | None:
        try:
            return await self._follow(w, set_aside)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a watcher bug must not take the gateway down; the record stays pending
            log.exception("watching %s's receipt for request %s failed: %s", w.node.name, w.record.request_id, exc)
            return None

    async def _follow(self, w: Watched, set_aside: bool) -> float | None:
        """Poll one receipt until it is settled (None), or, with `set_aside`, until the node shows it
        will not come by waiting: then the time its promise falls due, for `_after`."""
        started = w.record.at
        due = w.promise.promise.prove_by + CLOCK_SLACK_S  # clocks differ: the node's deadline, a little later by ours
        delay = self.poll_s
        last_body_digest: str | None = None
        last: Found | None = None
        while True:
            now = self.clock()
            answer = await self._fetch(w)
            if answer is not None and answer[0] in OBSERVATIONS:
                status, body, row_header = answer
                if status == 200:
                    digest = digest_bytes(body)
                    again = now > due and last is not None and last.recheck
                    if digest != last_body_digest or again:
                        last = await self._examine(w, body, row_header)
                        last_body_digest = (
                            None if last.state is ReceiptState.PENDING else digest
                        )  # not examined: again next time
                        last = replace(last, recheck=last.recheck and not again)
                    if last is not None and last.state is ReceiptState.VALID:
                        self._settle(w, last, self.clock() - started)
                        return None
                else:
                    last = Found(ReceiptState.PENDING, None, f"HTTP {status} at {int(now)}")
                if now > due:  # the node answered after its deadline without a receipt that proves its statement
                    detail = last.detail if last is not None else "no receipt"
                    self._unproven(w, int(now), detail)
                    return None
                if set_aside and (status in GIVEN_UP or (last is not None and last.state is ReceiptState.INVALID)):
                    return due
            elif now > due + max(self.grace_s, 10 * self.poll_s):
                state = (
                    ReceiptState.INVALID
                    if last is not None and last.state is ReceiptState.INVALID
                    else ReceiptState.UNOBSERVED
                )
                self.records.settle_receipt(
                    w.record.seq or 0,
                    state,
                    None,
                    "the node could not be reached after its promised time; nothing filed",
                    None,
                )
                return None
            wait = delay if now > due else min(delay, max(due + 1 - now, 0.05))
            await asyncio.sleep(wait)
            delay = min(delay * 1.5, MAX_POLL_S)

    async def _fetch(self, w: Watched) -> tuple[int, bytes, str] | None:
        """The node's answer at the receipt URL, or None on a network error (never held against it)."""
        limit = max_receipt_bytes()
        try:
            async with asyncio.timeout(30):
                reply = await self.consensus.client().request(
                    "GET", w.url, headers=self.consensus.headers(w.node), cap=limit
                )
            return reply.status, reply.body, reply.headers.get("zkinfer-batch-row", "0")
        except TooLarge as too_large:
            return too_large.status, b"", ""
        except (TimeoutError, NodeHTTPError, OSError):
            return None

    async def _examine(self, w: Watched, body: bytes, row_header: str) -> Found:
        """`examine` in the verifier process: its CPU and GIL are not the answers' (see `_verifier`)."""
        async with self._verifying:
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self._verifier(), examine, w.signed, w.node, body, row_header
                )
            except BrokenProcessPool:
                self._pool = None  # made again for the next receipt
                return Found(
                    ReceiptState.PENDING, None, "the gateway's verifier process failed; verified again at the next poll"
                )

    def _verifier(self) -> ProcessPoolExecutor:
        """One process, at idle CPU priority (`client.lower_priority`), verifies receipts: a
        receipt is due by its promise (an hour by default), an answer within milliseconds, and a
        verification (ezkl's proof check, parsing, a pairing) costs far more CPU than an answer;
        in the gateway's own process its Python would also hold the GIL the answers' checks need."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=lower_priority
            )
        return self._pool

    def _settle(self, w: Watched, found: Found, seconds: float | None) -> None:
        self.records.settle_receipt(w.record.seq or 0, found.state, found.proven_equal, found.detail, seconds)
        if found.contradiction is not None:
            receipt_json, row, rows = found.contradiction
            try:
                doc = evidence.contradiction(w.signed, receipt_json, row, rows, w.node.name, int(self.clock()))
            except ZkinferError as exc:
                log.warning("contradiction by %s not filed: %s", w.node.name, exc)
                return
            self._file(doc, w.node, w.record.seq)

    def _unproven(self, w: Watched, observed_at: int, detail: str) -> None:
        observed_at = max(observed_at, w.promise.promise.prove_by + 1)
        self.records.settle_receipt(
            w.record.seq or 0,
            ReceiptState.UNPROVEN,
            None,
            f"no receipt proving the statement by {w.promise.promise.prove_by}: {detail}",
            None,
        )
        try:
            doc = evidence.unproven(w.signed, w.promise, observed_at, w.node.name)
        except ZkinferError as exc:
            log.warning("unproven evidence against %s not filed: %s", w.node.name, exc)
            return
        self._file(doc, w.node, w.record.seq)

    def _file(self, doc: dict[str, Any], node: PinnedNode, answer_seq: int | None) -> None:
        evidence_id = digest_json(doc).removeprefix("sha256:")
        record = EvidenceRecord(
            evidence_id, doc["kind"], doc["accused"], node.name, doc["request_id"], float(doc["observed_at"]), doc
        )
        if self.records.add_evidence(record, answer_seq):
            self.evidence_dir.mkdir(parents=True, exist_ok=True)
            (self.evidence_dir / f"{evidence_id}.json").write_text(json.dumps(doc, indent=2) + "\n")
            log.warning(
                "evidence %s: %s by node %s (request %s)", evidence_id[:16], doc["kind"], node.name, doc["request_id"]
            )
