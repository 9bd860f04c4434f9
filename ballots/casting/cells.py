"""Small-cell suppression of every published turnout table: the results page and its PDF, the open data API
and its CSV, the statistics page (its channel, day and age tables). One rule, here, so that the places that
publish the same table hide the same cells (two tables hidden differently can be subtracted from each other).

`turnout_hidden` protects one row: every cell of 1..K-1 is hidden, and while what is hidden adds up to fewer
than K, or is a single cell (the exact total would give it back), the smallest shown one goes too.

`table_hidden` protects a whole table (rows: pots; columns: channel and booth, days or age bands). A table is
not safe row by row: when every district's voter also votes in the citywide pot, the citywide row is (nearly)
the sum of the district rows, so each column works as a total too, and a lone hidden cell in a column is the
citywide cell minus the other districts'. Where more totals are published beside the table (the results
page's reconciliation gives each pot's online and paper voters exactly), those column groups work as totals
of their own within each row. So the row rule runs over every row, every such group of a row, and every
column of the district rows, with what one pass hid forced on the next, until nothing changes (hiding only
grows, so this ends). A row or a group of fewer than K voters in all shows no breakdown: its total is
published anyway, and one non-zero cell next to zeros would be that total.

Checked by a linear-algebra attacker on random tables (tests/ballots/test_turnout_cells.py)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable

Cell = tuple[Hashable, Hashable]  # (row, column)


def turnout_hidden(cells: dict, k: int, *, forced: frozenset | set = frozenset()) -> set:
    """Which cells of one row to hide so that no cell of fewer than K voters can be read, nor worked out from
    the row's exact total: every cell of 1..K-1, then, while the hidden ones add up to fewer than K (or are a
    single cell, which the total would give back), the smallest of the others (zeros stay shown: they name
    nobody). With a total under K everything is hidden. `forced`: cells already hidden for another reason
    (the same cell hidden in a crossing row or column of a table, `table_hidden`), kept hidden and covered."""
    hidden = {key for key, n in cells.items() if 0 < n < k or (key in forced and n > 0)}
    others = sorted((n, str(key), key) for key, n in cells.items() if key not in hidden and n > 0)
    held = sum(cells[key] for key in hidden)
    while hidden and (held < k or len(hidden) < 2) and others:
        n, _name, key = others.pop(0)
        hidden.add(key)
        held += n
    return hidden


def table_hidden(
    table: dict[Hashable, dict[Hashable, int]],
    k: int,
    *,
    total_rows: Collection[Hashable] = (),
    group: Callable[[Hashable], Hashable] | None = None,
) -> set[Cell]:
    """The (row, column) cells to hide. `table[row][column]` = voters (a missing column is 0);
    `total_rows`: the rows that may each be the column totals of the others (the citywide pots);
    `group(column)`: when given, each row's total over the columns of one group is published too."""
    columns = sorted({col for cells in table.values() for col in cells}, key=str)
    parts = [r for r in table if r not in total_rows]
    totals = [r for r in table if r in total_rows]
    hidden: set[Cell] = set()
    # Cells whose value is published anyway: the only non-zero cell of a row or of a row's group is that
    # total. Hiding one protects nothing, and hiding one as cover for another would cover nothing: they are
    # constants for the rules below (shown, or hidden when under K, their total flagged or published).
    fixed: set[Cell] = set()
    segments: list[tuple[Hashable, list[Hashable]]] = []  # (row, columns) whose total is published
    for row, cells in table.items():
        if 0 < sum(cells.values()) < k:
            # Zeros too: next to one non-zero cell they give it away.
            hidden |= {(row, col) for col in cells}
            if len(nonzero := [col for col in cells if cells[col] > 0]) == 1:
                fixed.add((row, nonzero[0]))
            continue
        groups = [list(cells)]
        if group is not None:
            groups += [[col for col in cells if group(col) == g] for g in {group(col) for col in cells}]
        for members in groups:
            nonzero = [col for col in members if cells[col] > 0]
            if len(nonzero) == 1:
                fixed.add((row, nonzero[0]))
            if 0 < sum(cells[col] for col in members) < k:
                # A group under K: its total is published, so no breakdown and no cover in its row.
                hidden |= {(row, col) for col in members}
                fixed |= {(row, col) for col in members}
            elif len(nonzero) > 1:
                segments.append((row, members))
    while True:
        _cover(table, hidden, fixed, k, segments, columns, parts, totals)
        # The passes are local; a chain of rows, groups and columns can still pin a cell down. The attacker's
        # own check, exactly: any hidden cell that follows from the published totals and shown cells gets
        # one more shown cell of its row (or column) hidden beside it, and the passes run again.
        leaks = sorted(_determined(table, hidden, totals, group) - fixed, key=str)
        if not leaks or not _hide_beside(table, hidden, fixed, leaks[0], parts, totals):
            return hidden


def _cover(table, hidden, fixed, k, segments, columns, parts, totals) -> None:
    """The row, group and column passes, until nothing changes (hiding only grows, so this ends)."""
    changed = True
    while changed:
        changed = False
        for row, members in segments:
            cells = {col: table[row][col] for col in members if (row, col) not in fixed}
            forced = {col for col in cells if (row, col) in hidden}
            for col in turnout_hidden(cells, k, forced=forced) - forced:
                hidden.add((row, col))
                changed = True
        for col in columns if totals else ():  # no total row: no column total to subtract from
            changed |= _cover_column(table, hidden, fixed, k, col, parts, totals)


def _cover_column(table, hidden: set[Cell], fixed: set[Cell], k: int, col, parts: list, totals: list) -> bool:
    """One column of the district rows, whose sum is each total row's cell: a hidden cell in it gets company
    (at least two, at least K); a hidden total cell gets a hidden district cell beside it, else the districts
    shown would add up to it. Returns whether anything more was hidden."""
    before = len(hidden)
    column = {row: table[row].get(col, 0) for row in parts if (row, col) not in fixed}
    forced = {row for row in column if (row, col) in hidden and column[row] > 0}
    total_hidden = any((t, col) in hidden and (t, col) not in fixed for t in totals)
    if total_hidden and not forced:
        smallest = sorted((n, str(row), row) for row, n in column.items() if n > 0)
        if smallest:
            forced = {smallest[0][2]}
    if forced:
        hidden |= {(row, col) for row in turnout_hidden(column, k, forced=forced)}
    # Too few districts to cover it (one district voted in this column): the total cells would give the
    # hidden one back, so they go too (and their rows are covered on the next pass).
    held = [column[row] for row in column if (row, col) in hidden and column[row] > 0]
    if (held and (len(held) < 2 or sum(held) < k)) or total_hidden:
        # Every total row at once: a total cell shown beside a hidden one of another total row is its value.
        hidden |= {(t, col) for t in totals if table[t].get(col, 0) > 0 and (t, col) not in fixed}
    return len(hidden) > before


def _hide_beside(table, hidden: set[Cell], fixed: set[Cell], cell: Cell, parts: list, totals: list) -> bool:
    """Hide the smallest shown cell of `cell`'s row, else of its column among the districts, else the total
    rows' cells of its column (all of them at once): False when nothing is left to hide."""
    row, col = cell

    def shown(candidates):
        return sorted(
            (table[r][c], str(r), (r, c))
            for r, c in candidates
            if (r, c) not in hidden and (r, c) not in fixed and table[r].get(c, 0) > 0
        )

    for candidates in ([(row, c) for c in table[row]], [(r, col) for r in parts if col in table[r]]):
        if found := shown(candidates):
            hidden.add(found[0][2])
            return True
    found = shown([(t, col) for t in totals if col in table[t]])
    hidden |= {c for _n, _r, c in found}
    return bool(found)


_PRIME = (1 << 61) - 1  # ranks over GF(p) of these 0/±1 systems are the rational ranks (a wrong one needs p
# to divide a minor, whose size is bounded far below p for any table a city publishes)


def _determined(table, hidden: set[Cell], totals: list, group) -> set[Cell]:
    """The hidden non-zero cells whose value follows from the published equations: each row's total, each
    row's group totals, each total row's cells as the sum of the others' (shown cells are constants, the
    hidden ones unknowns). A cell is determined iff its unit vector is in the equations' row space, that is
    iff its column is a pivot of the reduced echelon form and that row has no other entry. Exact, unlike a
    floating-point rank; the whole table costs one elimination."""
    unknowns = sorted(hidden, key=str)
    index = {c: i for i, c in enumerate(unknowns)}
    equations: list[dict[int, int]] = []
    for row, cells in table.items():
        keys = [None] if group is None else [None, *{group(col) for col in cells}]
        for g in keys:
            eq = {index[(row, c)]: 1 for c in cells if (row, c) in index and (g is None or group(c) == g)}
            equations.append(eq)
    columns = {col for cells in table.values() for col in cells}
    for t in totals:
        for col in columns:
            # Only where the total row is the districts' sum: elsewhere the difference would be wrong by the
            # citywide pot's own voters of that column (docs/secrecy.md, Limits).
            if table[t].get(col, 0) != sum(table[r].get(col, 0) for r in table if r not in totals):
                continue
            eq = {index[(r, col)]: 1 for r in table if r not in totals and (r, col) in index}
            if (t, col) in index:
                eq[index[(t, col)]] = _PRIME - 1
            equations.append(eq)
    pivots: dict[int, dict[int, int]] = {}  # pivot column -> its row, normalised to 1 at the pivot
    for eq in equations:
        eq = {c: v % _PRIME for c, v in eq.items() if v % _PRIME}
        for p, prow in pivots.items():  # reduce by the pivots found so far
            if p in eq:
                f = eq[p]
                for c, v in prow.items():
                    eq[c] = (eq.get(c, 0) - f * v) % _PRIME
                eq = {c: v for c, v in eq.items() if v}
        if not eq:
            continue
        p = min(eq)
        inv = pow(eq[p], _PRIME - 2, _PRIME)
        eq = {c: v * inv % _PRIME for c, v in eq.items()}
        for q, qrow in pivots.items():  # keep the earlier rows reduced (reduced echelon form)
            if p in qrow:
                f = qrow[p]
                for c, v in eq.items():
                    qrow[c] = (qrow.get(c, 0) - f * v) % _PRIME
                pivots[q] = {c: v for c, v in qrow.items() if v}
        pivots[p] = eq
    return {
        unknowns[p]
        for p, prow in pivots.items()
        if len(prow) == 1 and table[unknowns[p][0]].get(unknowns[p][1], 0) > 0
    }


# Bumped whenever the rule above changes: tables stored or cached under an older rule (the statistics
# snapshot, the open data cache) are rebuilt, since two tables hidden under different rules can be
# subtracted from each other. 1: row by row; 2: rows, column groups and the citywide columns together.
RULE_VERSION = 2
