"""Where a polycommit link's KZG commitments sit in an ezkl proof, derived from the circuit's settings.

ezkl (23) gives every polycommit tensor its own unblinded advice column, configured before any other
column, so their commitments are the first points the prover writes into the transcript: the
polycommit inputs' columns, then the params', then the outputs' (ezkl's `get_proof_commitments`:
"polycommit commitments are the first set of points in the proof"). The EVM transcript writes a
point as 64 bytes (x then y, 32 bytes each, big-endian). A tensor spills into a second column when
it does not fit in one (2^k minus the blinding rows), which would shift every later point: such a
circuit is refused, so each tensor is exactly one point at a position these settings fix.

Nothing here trusts the proof: the points are read as bytes, and ezkl's verification of the same
bytes is what makes them the commitments the proof's constraints were checked against.
"""

from __future__ import annotations

from dataclasses import dataclass

from zkinfer.core.support.errors import ReceiptFormatError
from zkinfer.core.zkp.ezkl_views import Settings, SettingsError

POINT_BYTES = 64
# Rows of a column a tensor may fill and still be one column: 2^k less ezkl's blinding rows (a few;
# this bound is far above any circuit's) and the row it may duplicate.
SPARE_ROWS = 64


@dataclass(frozen=True)
class Positions:
    """The transcript indices of the input and output tensors' commitment points (empty: not polycommit)."""

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def positions(settings: Settings, where: str) -> Positions:
    """Each polycommit tensor's point index, from `settings` (module_sizes, visibilities, logrows).
    Raises SettingsError naming `where` when the settings do not fix them."""
    n_in = len(settings.input_scales) if settings.visibility("input") == "polycommit" else 0
    n_out = len(settings.output_scales) if settings.visibility("output") == "polycommit" else 0
    if settings.visibility("param") == "polycommit":
        raise SettingsError(f"{where}: polycommit weights are not supported (split circuits take fixed weights)")
    sizes = settings.polycommit_sizes
    if not isinstance(sizes, list) or len(sizes) != n_in + n_out or not all(type(s) is int and s > 0 for s in sizes):
        raise SettingsError(
            f"{where}.module_sizes.polycommit: "
            f"expected {n_in + n_out} tensor size(s) for its polycommit input/output, found {sizes!r}"
        )
    capacity = (1 << settings.logrows) - SPARE_ROWS
    if any(s > capacity for s in sizes):
        raise SettingsError(
            f"{where}.module_sizes.polycommit: a tensor of {max(sizes)} elements spills over one column "
            f"at k={settings.logrows} (at most {capacity}); cut at a smaller tensor"
        )
    return Positions(inputs=tuple(range(n_in)), outputs=tuple(range(n_in, n_in + n_out)))


def point(proof: bytes, index: int, where: str) -> bytes:
    """The `index`-th point the prover wrote (64 bytes), or ReceiptFormatError for a proof too short."""
    end = (index + 1) * POINT_BYTES
    if len(proof) < end:
        raise ReceiptFormatError(
            f"{where}: the proof is {len(proof)} bytes, too short to hold commitment point {index}"
        )
    return proof[index * POINT_BYTES : end]
