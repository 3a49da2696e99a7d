"""Signed LLM receipts on disk, one file each, readable only with the key that asked for the answer.

A receipt's file name is the digest of (owner, request id): request ids are namespaced per API key
(two tenants may use the same one), and one tenant cannot find, or learn of, another's receipts.
Files are written atomically, so a crash never leaves half a receipt, and they outlive a restart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from zkinfer.core.support import cache
from zkinfer.llm.receipt import LlmReceipt


class ReceiptStore:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory

    def _path(self, owner: str, request_id: str) -> Path:
        name = hashlib.sha256(owner.encode() + b"\x00" + request_id.encode()).hexdigest()
        return self.directory / f"{name}.json"

    def exists(self, owner: str, request_id: str) -> bool:
        return self._path(owner, request_id).exists()

    def save(self, owner: str, receipt: LlmReceipt) -> None:
        cache.write_atomically(
            self._path(owner, receipt.request_id), (receipt.model_dump_json(indent=2) + "\n").encode()
        )

    def read(self, owner: str, request_id: str) -> bytes | None:
        try:
            return self._path(owner, request_id).read_bytes()
        except FileNotFoundError:
            return None
