"""Posting the gateway's certificates to the oracle contract (`zkinfer gateway --post-certificates`), in the
background: an answer never waits on the chain.

A certificate is queued in the records in the same transaction that stores it (`Records.add_certificate(post=True)`),
so one made just before the gateway stopped is posted when it starts again. Each try runs in a worker thread
(web3 blocks). A failed try (the chain unreachable, a refusal that may pass later, such as a signer whose key is
not registered yet) is logged and tried again after a backoff doubling from RETRY_S to MAX_RETRY_S: the certificate
stays in the records whatever happens. A certificate the oracle holds already counts as posted; another statement
held for the same (circuit, request id) (posted first by someone else) is recorded as `taken` and logged; a label
certificate (several statements) is skipped: the oracle records one statement's values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from zkinfer.core.formats.certificate import Certificate
from zkinfer.network.record_types import CertificateRecord, PostState
from zkinfer.network.records import Records

log = logging.getLogger("zkinfer.gateway")
RETRY_S: Final = 5.0
MAX_RETRY_S: Final = 600.0
IDLE_S: Final = 2.0  # how often the queue is looked at when nothing woke the poster


@dataclass(frozen=True)
class ChainTarget:
    """Where certificates go: the chain, the key that pays, the oracle (or the deployments file naming it)."""

    rpc_url: str
    key: str = field(repr=False)  # the paying account's private key (read and checked when the gateway starts)
    oracle: str | None
    registry: Path

    def open(self) -> Any:
        """The oracle client (connects, checks the code there): `zkinfer.chain.oracle.Oracle`."""
        from zkinfer.chain import account, oracle

        return oracle.open_oracle(account.connect(self.rpc_url, self.key), self.oracle, self.registry)


def target(
    post: bool, rpc_url: str | None, key_file: Path | None, oracle: str | None, registry: Path, state_dir: Path
) -> ChainTarget | None:
    """What `--post-certificates` and its options name (None without it); a usage error (GatewayError) for chain
    options without it, an unreadable key, or no chain to post to. Without --rpc-url, the dev chain running from
    `state_dir` (and its first account, unless a key is given)."""
    from zkinfer.chain import account, devchain
    from zkinfer.network.gateway_config import GatewayError

    if not post:
        if rpc_url or key_file or oracle:
            raise GatewayError(
                "--rpc-url, --chain-key-file and --oracle are for --post-certificates; add it or drop them"
            )
        return None
    dev = None
    if rpc_url is None:
        dev = devchain.running(state_dir)
        if dev is None:
            raise GatewayError(f"--post-certificates: give --rpc-url (no dev chain runs from {state_dir})")
        rpc_url = dev.rpc_url
    key = account.resolve_key(key_file, dev)
    if key is None:
        raise GatewayError(
            f"--post-certificates: posting pays gas: give --chain-key-file FILE or set ${account.KEY_ENV}"
        )
    return ChainTarget(rpc_url, key, oracle, registry)


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones."""
    return float(min(MAX_RETRY_S, RETRY_S * 2 ** min(attempts, 16)))


class CertificatePoster:
    """The background task that empties the records' queue of certificates onto the chain."""

    def __init__(self, records: Records, open_oracle: Callable[[], Any], clock: Callable[[], float] = time.time):
        self.records, self._open, self.clock = records, open_oracle, clock
        self._oracle: Any = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def wake(self) -> None:
        """A certificate was queued: look now."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            for seq, record, attempts in self.records.due_posts(self.clock()):
                await asyncio.to_thread(self.post_one, seq, record, attempts)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_S)
            self._wake.clear()

    def post_one(self, seq: int, record: CertificateRecord, attempts: int) -> PostState:
        """One try at posting one queued certificate; what it did is in the records (and the log)."""
        from zkinfer.chain.stake_types import StakeReverted
        from zkinfer.core.support.errors import ZkinferError

        certificate = Certificate.from_json(record.certificate)
        if len(certificate.groups) != 1:
            self.records.settle_post(seq, PostState.SKIPPED, "a label certificate: the oracle records one output")
            return PostState.SKIPPED
        try:
            if self._oracle is None:
                self._oracle = self._open()
            _, sent = self._oracle.post_certificate(certificate)
        except StakeReverted as exc:
            if exc.error == "AlreadyCertified":
                return self._already(seq, record, certificate)
            return self._retry(seq, record, attempts, str(exc))
        except Exception as exc:  # ZkinferError, and whatever web3 or requests raise on a failing node
            self._oracle = None  # connect again next time (the node may have moved or restarted)
            why = str(exc) if isinstance(exc, ZkinferError) else f"{type(exc).__name__}: {exc}"
            return self._retry(seq, record, attempts, why)
        self.records.settle_post(seq, PostState.POSTED, f"block {sent.block}, gas {sent.gas_used}", sent.tx_hash)
        log.info("certificate of request %s posted on chain: tx %s", record.request_id, sent.tx_hash)
        return PostState.POSTED

    def _already(self, seq: int, record: CertificateRecord, certificate: Certificate) -> PostState:
        """The oracle holds a certificate for this (circuit, request id): ours, or another statement posted first
        (anyone may have nodes sign another input under the same request id; readers check the input digest)."""
        said = certificate.statement
        held = self._oracle.answer(said.circuit, said.request_id)
        if held is not None and held.statement_digest == said.digest():
            self.records.settle_post(seq, PostState.POSTED, "on chain already (posted by someone else)")
            return PostState.POSTED
        why = f"the oracle holds another statement for this request: {None if held is None else held.statement_digest}"
        self.records.settle_post(seq, PostState.TAKEN, why)
        log.warning("certificate of request %s not posted: %s", record.request_id, why)
        return PostState.TAKEN

    def _retry(self, seq: int, record: CertificateRecord, attempts: int, why: str) -> PostState:
        wait = backoff(attempts)
        self.records.retry_post(seq, self.clock() + wait, why)
        log.warning(
            "certificate of request %s not posted (try %d): %s; trying again in %.0f s",
            record.request_id,
            attempts + 1,
            why[:300],
            wait,
        )
        return PostState.PENDING
