"""Small-cell suppression for the statistics tables: the open data rule (ballots.casting.selectors.
turnout_hidden), applied to a table whose rows are pots and whose columns are days or age bands.

One row alone is safe with that rule: its total is exact and what is hidden adds up to at least K, in at
least two cells. A table is not safe row by row: when every district's voter also votes in the citywide pot,
the citywide row is (nearly) the sum of the district rows, so a column works as a total too and a lone hidden
cell in a column is its total minus the shown ones. So the rule runs over every row and, for the district
rows, every column, with what one pass hid forced on the next, until nothing changes (hiding only grows, so
this ends). A row of fewer than K voters in all shows no breakdown at all (its total is shown elsewhere and
one non-zero cell next to zeros would be that total)."""

from __future__ import annotations

from collections.abc import Hashable

from ballots.casting.selectors import turnout_hidden

Cell = tuple[Hashable, Hashable]  # (row, column)


def table_hidden(
    table: dict[Hashable, dict[Hashable, int]], k: int, *, total_row: Hashable | None = None
) -> set[Cell]:
    """The (row, column) cells to hide. `table[row][column]` = voters; `total_row`: the row that may act
    as the column totals of the others (the citywide pot), protected as a row of its own."""
    hidden: set[Cell] = set()
    for row, cells in table.items():
        if 0 < sum(cells.values()) < k:
            hidden |= {(row, col) for col in cells}  # zeros too: next to one non-zero cell they give it away
    columns = sorted({col for cells in table.values() for col in cells}, key=str)
    parts = [r for r in table if r != total_row]
    changed = True
    while changed:
        changed = False
        for row, cells in table.items():
            forced = {col for (r, col) in hidden if r == row}
            for col in turnout_hidden(cells, k, forced=forced) - forced:
                hidden.add((row, col))
                changed = True
        for col in columns if total_row is not None else ():  # no total row: no column total to subtract from
            column = {row: table[row].get(col, 0) for row in parts}
            forced = {row for (row, c) in hidden if c == col and row in column}
            if not forced:
                continue
            for row in turnout_hidden(column, k, forced=forced) - forced:
                hidden.add((row, col))
                changed = True
            # Too few others to cover it (one district voted in this column): the total row's cell would
            # give the hidden one back, so it goes too (and its row is covered on the next pass).
            held = [column[row] for (row, c) in hidden if c == col and row in column and column[row] > 0]
            short = held and (len(held) < 2 or sum(held) < k)
            if short and total_row is not None and (total_row, col) not in hidden:
                hidden.add((total_row, col))
                changed = True
    return hidden
