"""What circuits and receipts both say about a chain of segments, in a module of its own: a receipt
names how its segments link and is held to the same segment limit as a split circuit, and reading
one (`zkinfer verify`) should not import the circuit formats (their pydantic models take ~20 ms to
build)."""

from __future__ import annotations

from typing import Literal

LinkKind = Literal["hashed", "polycommit"]  # how a split circuit's segments commit to the tensor between them
MAX_SEGMENTS = 64  # the most segments a split circuit (and so a split receipt) may have
