"""Many untrusted nodes, one answer: fan a request out, count signed statements, certify a quorum.

`Consensus(nodeset).infer(model, body)` sends one OIP v2 request (its `id` set to the request id)
to every pinned node at once over one pooled HTTP/1.1 keep-alive client, and returns as soon as
signers of one statement reach the quorum, without waiting for the slow nodes (their answers
still arrive and are judged: `Outcome.settled()`, which the gateway records).

Every answer is hostile until judged (`judge`); agreement is on identical statements (`agree_on =
"output"`) or on the label (the argmax of output 0: `agree_on = "label"`, for classifiers whose
honest nodes may differ in the last quantized unit); the quorum needs the signers' static weight
at the threshold and, with `weighting = "reputation"`, more than half of the reputation-weighted
weight (`tally`). No quorum raises `NoQuorum`, naming what each node said; the output is never
made up (`outcome`). Each answer is checked the moment it arrives, on the event loop (two BLS
verifications, ~1.1 ms each with blspy, which holds the GIL throughout), so checking overlaps with
waiting for the other nodes; or in processes (`checking`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar
from urllib.parse import quote

from zkinfer.core.formats.statement import REQUEST_ID
from zkinfer.core.support.errors import UsageError
from zkinfer.core.support.text import visible
from zkinfer.network import probes
from zkinfer.network.answers import Dissent, DissentKind, NodeAnswer
from zkinfer.network.checking import CheckPools
from zkinfer.network.judge import ANSWER_TOLERANCE, judge
from zkinfer.network.node_http import MAX_ANSWER_BYTES, NodeClient, NodeHTTPError, TooLarge
from zkinfer.network.nodeset import NodeSet, PinnedNode
from zkinfer.network.outcome import NoQuorum, Outcome, Round, decided, no_quorum
from zkinfer.network.sync import LoopThread
from zkinfer.network.tally import Tally
from zkinfer.serving import oip
from zkinfer.serving.tenancy import new_request_id

__all__ = ["Consensus", "NoQuorum", "Outcome"]  # the library's names (zkinfer.Consensus, ...)
T = TypeVar("T")


class Consensus:
    """Fan-out and quorum over a pinned node set, as a library (the gateway is a front for it).

    `api_keys` maps node names to the API key sent to each (default: each node's `api_key_env`
    environment variable). `reputation` returns each node's current score (for weighting =
    "reputation"; default: every node 1/2). `check_processes`: answers are judged in that many
    processes (0: on the event loop of this one). The BLS library holds the GIL while it verifies
    (~1.1 ms a signature with blspy quiet, ~3 ms loaded, ~8 ms with milagro before it; two per
    answer), so a thread of this process could never check beside the loop: it only added a
    hand-over (a thread woken on a loaded machine) and GIL hand-offs to every answer, which is why
    answers are checked on the loop itself. In processes they run side by side, but each check then
    pays a hand-over to another process: on this 2-core machine, loaded (with milagro), one answer
    took 40 ms p50 in a process against 18-28 ms on a thread, so in this process is the default;
    processes are for a gateway with cores to spare. Stragglers (answers after the decision) are then checked in one
    more process at nice 10; `stragglers_apart` sends them there with `check_processes` = 0 too (the
    gateway does: see `checking`).
    """

    def __init__(
        self,
        nodeset: NodeSet,
        api_keys: Mapping[str, str] | None = None,
        *,
        reputation: Callable[[], Mapping[bytes, float]] | None = None,
        tolerance: float = ANSWER_TOLERANCE,
        environ: Mapping[str, str] | None = None,
        check_processes: int = 0,
        stragglers_apart: bool = False,
    ) -> None:
        self.nodeset = nodeset
        self.pools = CheckPools(check_processes, stragglers_apart)
        self.tolerance = tolerance
        self.reputation = reputation
        env = os.environ if environ is None else environ
        keys = dict(api_keys or {})
        for node in nodeset.nodes:
            if node.name not in keys and node.api_key_env is not None:
                if node.api_key_env not in env:
                    raise UsageError(
                        f"{nodeset.source}: node {node.name!r}: environment variable {node.api_key_env} "
                        "(its api_key_env) is not set; export it with the node's API key"
                    )
                keys[node.name] = env[node.api_key_env]
        self._auth = {name: {"Authorization": f"Bearer {key}"} for name, key in keys.items()}
        self._clients: dict[asyncio.AbstractEventLoop, NodeClient] = {}
        self._inflight: set[asyncio.Task[NodeAnswer]] = set()
        self._loop_thread: LoopThread | None = None

    @property
    def check_processes(self) -> int:
        return self.pools.processes

    @property
    def timeout_s(self) -> float:
        return self.nodeset.quorum.timeout_ms / 1000

    def client(self) -> NodeClient:
        """The pooled client of the running event loop (HTTP/1.1 keep-alive, one pool for all nodes)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            n = len(self.nodeset.nodes)
            client = self._clients[loop] = NodeClient(256 * n, 64 * n, self.timeout_s + 1)
        return client

    def headers(self, node: PinnedNode) -> dict[str, str]:
        return dict(self._auth.get(node.name, {}))

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
        self.pools.shutdown()

    async def infer(self, model: str, body: Mapping[str, Any], request_id: str | None = None) -> Outcome:
        """One OIP v2 request (JSON body) answered by a quorum; raises NoQuorum otherwise."""
        return await self.infer_request(model, oip.validate_request(dict(body)), b"", request_id)

    async def infer_request(
        self, model: str, request: oip.InferRequest, binary: bytes = b"", request_id: str | None = None
    ) -> Outcome:
        """As `infer`, for a typed request whose tensors may follow the JSON header as Triton binary data
        (sent to the nodes unchanged); the nodes answer in JSON, with every output (the statement covers them all)."""
        request_id = request_id if request_id is not None else request.id or new_request_id()
        if not REQUEST_ID.fullmatch(request_id):
            raise UsageError(f"id: {request_id[:40]!r} is not a request id (1-128 characters of A-Z a-z 0-9 . _ : -)")
        parameters = request.parameters
        if parameters is not None:
            parameters = {k: v for k, v in parameters.items() if k != "binary_data_output"}
        forwarded = request.model_copy(update={"id": request_id, "outputs": None, "parameters": parameters})
        content, extra = oip.encode_request(forwarded, binary)
        path = f"/v2/models/{quote(model, safe='')}/infer"
        round = Round(request_id, model, {}, time.perf_counter())
        round.tasks = {
            n.name: asyncio.create_task(self._ask(n, path, content, extra, round)) for n in self.nodeset.nodes
        }
        for task in round.tasks.values():  # held until done, even when the caller goes away before the decision
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        try:
            return await self._decide(round)
        finally:
            round.decided = True

    async def _ask(
        self, node: PinnedNode, path: str, content: bytes, extra: dict[str, str], round: Round
    ) -> NodeAnswer:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                status, body = await self._post(node, path, content, extra)
        except TimeoutError:
            return NodeAnswer(
                node,
                None,
                problem=Dissent(DissentKind.TIMEOUT, f"no answer within {self.nodeset.quorum.timeout_ms} ms"),
            )
        except TooLarge:
            return NodeAnswer(
                node,
                (time.perf_counter() - start) * 1000,
                problem=Dissent(DissentKind.GARBAGE, f"an answer over {MAX_ANSWER_BYTES} bytes"),
            )
        except (NodeHTTPError, OSError) as exc:
            return NodeAnswer(
                node, None, problem=Dissent(DissentKind.UNREACHABLE, visible(f"{type(exc).__name__}: {exc}", 200))
            )
        latency_ms = (time.perf_counter() - start) * 1000
        args = (node, self.nodeset, round.request_id, status, body, latency_ms, time.time(), self.tolerance)
        late = round.decided  # a straggler: checked for the records only, after the next requests' answers
        if self.pools.in_process(late):
            try:
                return await asyncio.get_running_loop().run_in_executor(self.pools.pool(late), judge, *args)
            except BrokenProcessPool:
                self.pools.broken(late)  # made again for the next answer; this one is checked here
        return judge(*args)  # on the loop: the GIL-bound check gains nothing from a thread (see the class)

    async def warm(self) -> None:
        """Start the checking processes now rather than on the first answers (a spawn costs ~1 s)."""
        await self.pools.warm()

    async def _post(self, node: PinnedNode, path: str, content: bytes, extra: dict[str, str]) -> tuple[int, bytes]:
        reply = await self.client().request(
            "POST", node.url + path, content=content, headers={**self.headers(node), **extra}
        )
        return reply.status, reply.body

    async def _decide(self, round: Round) -> Outcome:
        reputation = (
            self.reputation() if self.reputation is not None and self.nodeset.quorum.weighting == "reputation" else None
        )
        tally = Tally(self.nodeset, reputation)
        answers: dict[str, NodeAnswer] = {}
        waiting: set[asyncio.Task[NodeAnswer]] = set(round.tasks.values())
        while waiting:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                answer = task.result()
                answers[answer.node.name] = answer
                tally.add(answer)
            agreed = tally.quorum()
            if agreed is not None:
                return decided(self.nodeset, round, tally, agreed, answers)
            if not tally.possible():
                break
        raise no_quorum(self.nodeset, round, answers)

    # --- other requests to the nodes -----------------------------------------------------------

    async def first_answer(self, path: str) -> tuple[int, Any]:
        """GET `path` from every node; the first 200 JSON answer, or the most common failure."""
        return await probes.first_answer(self.client(), self.nodeset.nodes, path, self.timeout_s, self.headers)

    async def identities(self) -> dict[str, str]:
        """Each node's `/v1/identity` checked against its pinned key: "ok" or what is wrong."""
        return await probes.identities(self.client(), self.nodeset.nodes, self.timeout_s)

    # --- synchronous use (notebooks, scripts) --------------------------------------------------

    def infer_sync(self, model: str, body: Mapping[str, Any], request_id: str | None = None) -> Outcome:
        """`infer` from synchronous code, also where an event loop already runs (Jupyter): on a loop
        of its own, in a thread, where the stragglers finish too."""
        return self._run(self.infer(model, body, request_id))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop_thread is None:
            self._loop_thread = LoopThread()
        return self._loop_thread.run(coroutine)

    def close(self) -> None:
        """Close the synchronous wrapper's loop and its connections."""
        if self._loop_thread is not None:
            self._loop_thread.run(self.aclose())
            self._loop_thread.stop()
            self._loop_thread = None
