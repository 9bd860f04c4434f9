"""The linear-algebra attacker of the turnout tables (ballots.casting.cells): which hidden cells follow from
what is published alongside them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable

import numpy as np


def determined(
    table: dict[Hashable, dict[Hashable, int]],
    hidden: Collection[tuple[Hashable, Hashable]],
    *,
    total_rows: Collection[Hashable] = (),
    group: Callable[[Hashable], Hashable] | None = None,
) -> set[tuple[Hashable, Hashable]]:
    """Hidden non-zero cells whose value follows from what is published: each row's exact total; with
    `group`, each row's exact total over the columns of one group; with `total_rows`, each column of the
    other rows summing to each total row's cell (where it does: the worst case is that it does everywhere).
    The shown cells are constants, so only the hidden ones are unknowns: a cell is determined iff its unit
    vector lies in the row space of the equations."""
    cells = sorted(hidden, key=str)
    if not cells:
        return set()
    index = {c: i for i, c in enumerate(cells)}

    def equation(members) -> np.ndarray:
        eq = np.zeros(len(cells))
        for cell, sign in members:
            if cell in index:
                eq[index[cell]] = sign
        return eq

    equations = []
    columns = {col for row_cells in table.values() for col in row_cells}
    for row in table:
        equations.append(equation(((row, col), 1) for col in columns))
        if group is not None:
            for g in {group(col) for col in columns}:
                equations.append(equation(((row, col), 1) for col in columns if group(col) == g))
    for total in total_rows:
        for col in columns:
            parts = sum(table[row].get(col, 0) for row in table if row not in total_rows)
            if table[total].get(col, 0) != parts:
                continue  # not the districts' sum here: subtracting gives a wrong number
            equations.append(
                equation(
                    ((row, col), -1 if row == total else 1)
                    for row in table
                    if row not in total_rows or row == total
                )
            )
    a = np.array(equations)
    rank = np.linalg.matrix_rank(a)
    found = set()
    for cell, i in index.items():
        if table[cell[0]].get(cell[1], 0) == 0:
            continue  # a hidden zero names nobody
        unit = np.zeros(len(cells))
        unit[i] = 1
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            found.add(cell)
    return found
