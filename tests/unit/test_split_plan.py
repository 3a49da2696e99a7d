"""split_plan: where `--split K` cuts a polycommit chain and the one k its segments take, from rows
(no ezkl here: the rows are given, as ezkl's gen_settings measured them for LeNet-5)."""

from __future__ import annotations

import pytest

from zkinfer.core.support.errors import UsageError
from zkinfer.prover import split_plan as plan

# LeNet-5 (benchmarks/bench_split.py), ezkl 23's default decomposition: rows of each piece between
# consecutive cut points alone, and what each adjacent pair saves (the link between them).
LENET_PIECES = (179680, 61152, 55274, 165480, 20800, 18802, 2000, 28820, 1560, 7614, 1092, 1180)
LENET_JOINS = (23520, 23520, 5880, 8000, 8000, 2000, 2000, 600, 600, 420, 420)
LENET_LINKS = (4704, 4704, 1176, 1600, 1600, 400, 400, 120, 120, 84, 84)
LENET_FLOOR = 15  # the 2^14-entry range-check table in one column


def test_cells_are_whole_column_blocks() -> None:
    usable = plan.usable_rows(10)
    assert plan.own_k(usable) == 10 and plan.own_k(usable + 1) == 11
    assert plan.cells(1, 10) == 1024 and plan.cells(usable, 10) == 1024 and plan.cells(usable + 1, 10) == 2048


def test_even_pieces_give_equal_segments() -> None:
    rows = 3000
    found = plan.plan_cuts([rows] * 8, [0] * 7, [10] * 7, 4, floor=8)
    assert found.cuts == (1, 3, 5) and found.rows == (2 * rows,) * 4
    # one k, every segment the same cells there, and fewer than alone at its own k (13: 8,192 rows)
    assert plan.cells(2 * rows, found.k) < 1 << plan.own_k(2 * rows)


def test_lenet_in_four_no_segment_is_padded_to_a_bigger_one() -> None:
    found = plan.plan_cuts(LENET_PIECES, LENET_JOINS, LENET_LINKS, 4, LENET_FLOOR)
    assert len(found.rows) == 4 and sum(found.rows) <= sum(LENET_PIECES)
    largest = max(plan.cells(r, found.k) for r in found.rows)
    # before: every segment raised to the largest one's own k (k=18, 262,144 rows each)
    assert largest < 1 << 18 and sum(plan.cells(r, found.k) for r in found.rows) < 4 << 18
    # each segment costs at the common k no more than it would alone at its own k
    assert all(plan.cells(r, found.k) <= 1 << plan.own_k(r) for r in found.rows)
    # the whole model unsplit (468,494 rows) takes k=19: the largest segment is well under half of it
    assert largest <= 0.4 * (1 << 19)


def test_a_single_huge_piece_spills_rather_than_padding_the_rest() -> None:
    pieces = (1000, 60000, 1000, 1000)
    found = plan.plan_cuts(pieces, (0, 0, 0), (100, 100, 100), 3, floor=10)
    assert found.cuts == (0, 1) and found.rows == (1000, 60000, 2000)  # the huge piece alone
    assert found.k < plan.own_k(60000)  # it spills into more column blocks at the common k ...
    assert plan.cells(60000, found.k) <= 1 << plan.own_k(60000)  # ... costing no more than alone at its own k
    assert all(plan.cells(r, found.k) == 1 << found.k for r in (1000, 2000))  # the small ones: one block each


def test_more_segments_than_pieces_is_refused() -> None:
    with pytest.raises(UsageError, match="2 to 3 segments"):
        plan.plan_cuts((10, 10, 10), (0, 0), (1, 1), 4, floor=5)
    with pytest.raises(UsageError, match="2 to 3 segments"):
        plan.plan_cuts((10, 10, 10), (0, 0), (1, 1), 1, floor=5)


def test_a_link_too_large_for_one_column_is_never_a_cut() -> None:
    pieces = (500, 500, 500)
    found = plan.plan_cuts(pieces, (0, 0), (1 << 20, 10), 2, floor=5)
    assert found.cuts == (1,)  # cut 0's tensor fits no column up to the k the rows need
    with pytest.raises(UsageError, match="fit one column"):
        plan.plan_cuts(pieces, (0, 0), (1 << 20, 1 << 20), 2, floor=5)


def test_common_k_of_compiled_segments() -> None:
    rows = [179680, 92906, 178280, 55028]  # LeNet-5's four segments after calibration
    assert plan.common_k(rows, range(15, 19)) == 15  # 6, 3, 6, 2 blocks of 2^15: none padded to 2^18
    rows = [2 * plan.usable_rows(11)] * 2  # 2 blocks at k=11, 1 at k=12: equal cells, so the fewer columns
    assert plan.common_k(rows, range(10, 13)) == 12
    assert plan.common_k([1 << 20], range(10, 14)) == 13  # past the spill limit at every k: the largest


def test_table_floor_reads_range_checks_and_lookups() -> None:
    assert plan.table_floor({"required_range_checks": [[0, 16383], [-1, 1]], "required_lookups": []}) == 15
    lookups = {"required_lookups": ["ReLU"], "run_args": {"lookup_range": [-32768, 32767]}}
    assert plan.table_floor(lookups) == 17


def test_chain_k_of_compiled_settings() -> None:
    def settings(rows: int, k: int, table: int = 16384) -> dict[str, object]:
        return {"num_rows": rows, "run_args": {"logrows": k}, "required_range_checks": [[0, table - 1]]}

    chain = [settings(179680, 18), settings(92906, 17), settings(178280, 18), settings(55028, 16)]
    assert plan.chain_k(chain, [4704, 1176, 1600]) == 15  # the table's floor; before: 18 for all four
    assert plan.chain_k(chain, [40000, 1176, 1600]) == 16  # a link tensor must fit one column
    tiny = [settings(317, 11, 1024), settings(183, 11, 1024)]  # the tiny test MLP cut at h0: at its table's floor
    assert plan.chain_k(tiny, [4]) == 11
