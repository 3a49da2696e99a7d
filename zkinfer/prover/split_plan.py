"""Where `--split K` cuts a polycommit chain, from rows ezkl measures, and the one k all its segments take.

Polycommit links compare KZG commitments, which are equal for equal values only under one Lagrange
basis, so every segment of a chain is proven at one k (one SRS). Raising every segment to the
largest one's k pads the small ones to the big one's size (LeNet-5 in 4: four k=18 proofs, each the
memory and time of half the model). ezkl lays a circuit whose rows exceed one column (2^k less a few
blinding rows) in more column blocks at that k, so a segment at a common k costs about its *cells*:
ceil(rows / usable rows) blocks of 2^k rows, and the prover's memory and time grow with cells, not k.

Planning therefore: (1) measure rows with ezkl's own layout pass (`gen_settings`, no calibration,
fractions of a second) on each piece between consecutive cut points and on each adjacent pair: a
segment's rows are its pieces' rows less what each inner boundary's link costs (the pair's
measurement says how much); (2) for every k from the floor (ezkl's range-check table and each link
tensor fit one column) up to the largest piece's own k, choose by dynamic programming the cuts that
minimise the largest segment's cells, then the total cells; (3) keep the k with the fewest cells in
the largest segment, then in all, then the larger k (fewer columns). After compiling, the same rule
picks the common k from the rows calibration gave (`common_k`).
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkinfer.core.crypto.polycommit import SPARE_ROWS
from zkinfer.core.formats.circuit import Visibility
from zkinfer.core.support.errors import ModelError, UsageError

# At most 2^MAX_SPILL_BITS column blocks per segment: a lower k trades rows for columns, and every
# column is one more commitment in the proof and one more column for the permutation argument.
MAX_SPILL_BITS = 3
TOO_MANY = 1 << 62  # the cost of a segment that would spill over more blocks than that


def usable_rows(k: int) -> int:
    """Rows of one column at k that ezkl can fill (2^k less the blinding rows, with room to spare)."""
    return (1 << k) - SPARE_ROWS


def own_k(rows: int) -> int:
    """The smallest k at which `rows` fit one column block (what ezkl chooses alone, tables aside)."""
    k = 1
    while usable_rows(k) < rows:
        k += 1
    return k


def cells(rows: int, k: int) -> int:
    """Rows a segment of `rows` takes at k: whole column blocks of 2^k (what memory and time grow with)."""
    usable = usable_rows(k)
    return -(-max(rows, 1) // usable) << k


def common_k(rows: Sequence[int], ks: Sequence[int]) -> int:
    """The k (of `ks`) for segments of `rows`: the fewest cells in the largest segment, then in all, then
    the larger k; a k at which a segment would spill over more than 2^MAX_SPILL_BITS blocks only when all do."""
    if not ks:
        raise UsageError("no k to choose from")
    fit = [k for k in ks if max(rows) <= usable_rows(k) << MAX_SPILL_BITS] or [max(ks)]
    return min(fit, key=lambda k: (max(cells(r, k) for r in rows), sum(cells(r, k) for r in rows), -k))


def chain_k(settings: Sequence[dict[str, Any]], link_elements: Sequence[int]) -> int:
    """The one k of a compiled polycommit chain (each segment's ezkl `settings`, the elements of each
    link tensor): `common_k` of their rows, from the floor their tables and link tensors allow
    (each in one column) up to the largest segment's own k."""
    floor = max([*(table_floor(s) for s in settings), *(own_k(n) for n in link_elements)])
    top = max([floor, *(int(s["run_args"]["logrows"]) for s in settings)])
    return common_k([int(s["num_rows"]) for s in settings], range(floor, top + 1))


@dataclass(frozen=True)
class Plan:
    """Cuts (indices into the cut points), the common k, and each segment's rows as measured."""

    cuts: tuple[int, ...]
    k: int
    rows: tuple[int, ...]


def segment_rows(pieces: Sequence[int], joins: Sequence[int], start: int, end: int) -> int:
    """Rows of the segment made of pieces [start, end): their rows, less the links inside it."""
    return sum(pieces[start:end]) - sum(joins[start : end - 1])


def plan_cuts(pieces: Sequence[int], joins: Sequence[int], links: Sequence[int], parts: int, floor: int) -> Plan:
    """Cut `len(pieces)` pieces into `parts` segments at one k. `pieces[i]`: rows of piece i compiled
    alone; `joins[i]`: rows saved when pieces i and i+1 are one segment (the link between them);
    `links[i]`: elements of the tensor crossing cut i (it must fit one column); `floor`: the smallest k ezkl allows."""
    n = len(pieces)
    if len(joins) != n - 1 or len(links) != n - 1:
        raise UsageError(f"{n} pieces need {n - 1} joins and links, got {len(joins)} and {len(links)}")
    if parts < 2 or parts > n:
        raise UsageError(f"--split {parts}: the model has {n - 1} cut point(s), so 2 to {n} segments")
    ks = range(max(floor, 1), max(floor, own_k(segment_rows(pieces, joins, 0, n))) + 1)
    best: tuple[tuple[int, int, int], Plan] | None = None
    for k in ks:
        found = _best_at(pieces, joins, links, parts, k)
        if found is None:
            continue
        worst, total, chosen = found
        if worst >= TOO_MANY:
            continue
        bounds = [0, *(c + 1 for c in chosen), n]
        rows = tuple(segment_rows(pieces, joins, a, b) for a, b in itertools.pairwise(bounds))
        key = (worst, total, -k)
        if best is None or key < best[0]:
            best = (key, Plan(cuts=chosen, k=k, rows=rows))
    if best is None:
        raise UsageError(
            f"--split {parts}: no {parts - 1} cut(s) whose tensors each fit one column at any k up to {max(ks)}; "
            "give fewer segments"
        )
    return best[1]


def _best_at(
    pieces: Sequence[int], joins: Sequence[int], links: Sequence[int], parts: int, k: int
) -> tuple[int, int, tuple[int, ...]] | None:
    """(largest cells, total cells, cut indices) of the best `parts`-way cut at k, or None if no cut fits."""
    n = len(pieces)
    usable = usable_rows(k)

    def cost(a: int, b: int) -> int:
        rows = segment_rows(pieces, joins, a, b)
        return cells(rows, k) if rows <= usable << MAX_SPILL_BITS else TOO_MANY

    # layer[e]: the best (largest, total, cuts) covering pieces [0, e) with j+1 segments, ending at a cut (e < n)
    layer: dict[int, tuple[int, int, tuple[int, ...]]] = {e: (cost(0, e), cost(0, e), ()) for e in range(1, n + 1)}
    for _ in range(1, parts):
        nxt: dict[int, tuple[int, int, tuple[int, ...]]] = {}
        for e in range(2, n + 1):
            for s, (worst, total, chosen) in layer.items():
                if s >= e or s >= n or links[s - 1] > usable:
                    continue
                piece = cost(s, e)
                candidate = (max(worst, piece), total + piece, (*chosen, s - 1))
                if e not in nxt or candidate < nxt[e]:
                    nxt[e] = candidate
        layer = nxt
    return layer.get(n)


def table_floor(settings: dict[str, Any]) -> int:
    """The smallest k whose one column holds ezkl's largest range-check or lookup table in `settings`."""
    spans = [1]
    for low, high in settings.get("required_range_checks") or []:
        spans.append(int(high) - int(low) + 1)
    run_args = settings.get("run_args")
    if settings.get("required_lookups") and isinstance(run_args, dict) and run_args.get("lookup_range"):
        low, high = run_args["lookup_range"]
        spans.append(int(high) - int(low) + 1)
    return own_k(max(spans))


@dataclass(frozen=True)
class Measured:
    """Rows ezkl lays out for each piece alone and each adjacent pair, and the floor k of its tables."""

    pieces: tuple[int, ...]
    joins: tuple[int, ...]
    floor: int


def extract(model_path: Path, out: Path, input_names: list[str], output_names: list[str]) -> Path:
    """The sub-model of `model_path` from `input_names` to `output_names`, written to `out`."""
    import onnx

    try:
        onnx.utils.extract_model(str(model_path), str(out), input_names, output_names, check_model=True)
    except Exception as exc:  # onnx's extractor raises several unrelated types
        raise ModelError(f"{model_path}: could not extract the segment {input_names} -> {output_names}: {exc}") from exc
    return out


def measure(
    model_path: Path,
    boundaries: Sequence[str],
    visibility: Visibility,
    decomposition: tuple[int, int] | None,
    symbols: tuple[tuple[str, int], ...] = (),
) -> Measured:
    """ezkl's rows (`gen_settings`, no calibration) for the pieces of a polycommit chain between
    consecutive `boundaries` (the model's input, every cut tensor, its output) and each adjacent pair."""
    from zkinfer.core.zkp import ezkl_adapter as _ezkl  # ezkl loads only when rows are measured

    base, legs = decomposition or (None, None)
    last = len(boundaries) - 1

    def rows(a: int, b: int, work: Path) -> tuple[int, int]:
        sub = extract(model_path, work / f"p{a}-{b}.onnx", [boundaries[a]], [boundaries[b]])
        args = _ezkl.run_args(
            input_visibility=visibility.input if a == 0 else "polycommit",
            output_visibility="public" if b == last else "polycommit",
            param_visibility="fixed",
            decomp_base=base,
            decomp_legs=legs,
            symbols=symbols,
        )
        settings_file = work / f"p{a}-{b}.json"
        _ezkl.gen_settings(sub, settings_file, args)
        settings = json.loads(settings_file.read_text())
        return int(settings["num_rows"]), table_floor(settings)

    with tempfile.TemporaryDirectory(prefix="zkinfer-split-rows-") as tmp:
        alone = [rows(i, i + 1, Path(tmp)) for i in range(last)]
        pairs = [rows(i, i + 2, Path(tmp))[0] for i in range(last - 1)]
    pieces = tuple(r for r, _ in alone)
    joins = tuple(pieces[i] + pieces[i + 1] - pairs[i] for i in range(last - 1))
    return Measured(pieces=pieces, joins=joins, floor=max(f for _, f in alone))
