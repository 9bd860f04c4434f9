"""Small-cell suppression of the statistics tables (tally.statistics.cells): no cell of 1..K-1 is shown, and
no hidden cell can be worked out from the row totals, the column totals (a citywide row that is the sum of
the district rows) and the cells that are shown: checked by linear algebra, as an attacker would."""

import random

import numpy as np
import pytest

from tally.statistics.cells import table_hidden

K = 20


def _determined(table, hidden, total_row):
    """Hidden cells whose value follows from what is published: each row's exact total, and when
    `total_row` is given, each column of the other rows summing to the total row's cell."""
    cells = sorted(hidden, key=str)
    if not cells:
        return set()
    index = {c: i for i, c in enumerate(cells)}
    equations = []
    for row in table:
        eq = np.zeros(len(cells))
        for col in table[row]:
            if (row, col) in index:
                eq[index[(row, col)]] = 1
        equations.append(eq)
    if total_row is not None:
        columns = {c for cells_ in table.values() for c in cells_}
        for col in columns:
            eq = np.zeros(len(cells))
            for row in table:
                if (row, col) in index:
                    eq[index[(row, col)]] = -1 if row == total_row else 1
            equations.append(eq)
    a = np.array(equations)
    rank = np.linalg.matrix_rank(a)
    found = set()
    for cell, i in index.items():
        if table[cell[0]].get(cell[1], 0) == 0:
            continue  # a hidden zero names nobody
        # The cell is determined iff adding its unit vector does not raise the rank of the equations.
        unit = np.zeros(len(cells))
        unit[i] = 1
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            found.add(cell)
    return found


def _check(table, total_row=None):
    hidden = table_hidden(table, K, total_row=total_row)
    for row, cells in table.items():
        for col, n in cells.items():
            if 0 < n < K:
                assert (row, col) in hidden, (row, col, n)
        if 0 < sum(cells.values()) < K:
            assert all((row, col) in hidden for col in cells)  # no breakdown of a row under K
    small_rows = {r for r, cells in table.items() if 0 < sum(cells.values()) < K}
    leaks = {c for c in _determined(table, hidden, total_row) if c[0] not in small_rows}
    assert not leaks, (table, hidden, leaks)
    return hidden


def test_one_small_cell_hides_a_second_one():
    table = {"north": {"mon": 100, "tue": 3, "wed": 40}}
    assert table_hidden(table, K) == {("north", "tue"), ("north", "wed")}  # 100 - shown would give 3 back


def test_column_total_forces_a_second_district():
    # The citywide row is the sum of the districts: north's 3 on Tuesday = 60 - 57 unless south hides too.
    table = {
        "city": {"mon": 200, "tue": 60},
        "north": {"mon": 100, "tue": 3},
        "south": {"mon": 100, "tue": 57},
    }
    hidden = _check(table, total_row="city")
    assert ("south", "tue") in hidden


def test_a_lone_district_in_a_column_hides_the_total_cell():
    table = {
        "city": {"mon": 150, "tue": 5, "wed": 90},
        "north": {"mon": 100, "tue": 5, "wed": 40},
        "south": {"mon": 50, "tue": 0, "wed": 50},
    }
    hidden = _check(table, total_row="city")
    assert ("city", "tue") in hidden


def test_row_under_k_shows_nothing():
    table = {"north": {"mon": 7, "tue": 0}, "south": {"mon": 30, "tue": 40}}
    hidden = table_hidden(table, K)
    assert ("north", "mon") in hidden and ("north", "tue") in hidden


def test_zero_cells_stay_shown():
    assert table_hidden({"north": {"mon": 100, "tue": 0, "wed": 50}}, K) == set()


@pytest.mark.parametrize("seed", range(60))
def test_random_tables_leak_nothing(seed):
    rng = random.Random(seed)
    columns = [f"c{i}" for i in range(rng.randint(2, 7))]
    districts = [f"d{i}" for i in range(rng.randint(1, 5))]
    table = {d: {c: rng.choice([0, 1, 2, 5, 12, 19, 20, 25, 60, 300]) for c in columns} for d in districts}
    with_city = seed % 2 == 0
    if with_city:  # the worst case: every district voter also voted citywide
        table["city"] = {c: sum(table[d][c] for d in districts) for c in columns}
    _check(table, total_row="city" if with_city else None)
