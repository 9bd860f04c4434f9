"""Small-cell suppression of the published turnout tables (ballots.casting.cells.table_hidden): no cell of
1..K-1 is shown, and no hidden cell can be worked out from the row totals, the totals of a row's column groups
(the results page's online and paper voters per pot), the column totals (a citywide row that is the sum of
the district rows) and the cells that are shown: checked by linear algebra, as an attacker would, on the
statistics page's tables (pot x day, pot x age band) and on the results page's (pot x channel and booth)."""

import random

import pytest

from ballots.casting.cells import table_hidden, turnout_hidden
from tests.ballots.cells_support import determined

K = 20


def _check(table, total_rows=(), group=None):
    hidden = table_hidden(table, K, total_rows=total_rows, group=group)
    # What may be worked out anyway: the breakdown of a row (or a row's group) under K, whose total is
    # published and flagged; nothing else.
    published_small = set()
    for row, cells in table.items():
        for col, n in cells.items():
            if 0 < n < K:
                assert (row, col) in hidden, (row, col, n)
        if 0 < sum(cells.values()) < K:
            assert all((row, col) in hidden for col in cells)  # no breakdown of a row under K
            published_small |= {(row, col) for col in cells}
        for g in {group(col) for col in cells} if group else ():
            members = [col for col in cells if group(col) == g]
            if 0 < sum(cells[col] for col in members) < K:
                assert all((row, col) in hidden for col in members)
                published_small |= {(row, col) for col in members}
    leaks = determined(table, hidden, total_rows=total_rows, group=group) - published_small
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
    hidden = _check(table, total_rows={"city"})
    assert ("south", "tue") in hidden


def test_a_lone_district_in_a_column_hides_the_total_cell():
    table = {
        "city": {"mon": 150, "tue": 5, "wed": 90},
        "north": {"mon": 100, "tue": 5, "wed": 40},
        "south": {"mon": 50, "tue": 0, "wed": 50},
    }
    hidden = _check(table, total_rows={"city"})
    assert ("city", "tue") in hidden


def test_a_hidden_total_cell_gets_a_hidden_district_cell_beside_it():
    # The citywide row hides its 5 and, to cover it, its smallest other cell (45): shown district cells
    # in that column would add up to it.
    table = {
        "city": {"online": 1000, "library": 45, "school": 5},
        "north": {"online": 500, "library": 25, "school": 5},
        "south": {"online": 500, "library": 20, "school": 0},
    }
    hidden = _check(table, total_rows={"city"})
    assert {("city", "library"), ("north", "library"), ("south", "library")} <= hidden


def test_two_citywide_pots_hide_the_same_columns():
    # Both are the districts' sum (green has 30 citywide-only voters online): a cell one of them shows would
    # give back the other's hidden one.
    table = {
        "city": {"online": 200, "library": 28, "school": 5},
        "green": {"online": 230, "library": 28, "school": 5},
        "north": {"online": 100, "library": 25, "school": 5},
        "south": {"online": 100, "library": 3},
    }
    hidden = _check(table, total_rows={"city", "green"})
    assert {c for r, c in hidden if r == "city"} == {c for r, c in hidden if r == "green"} != set()


def test_a_group_total_is_covered_like_a_row_total():
    # Online and booth voters add up to a published figure; so do paper voters. Hiding the booth's 3 with
    # the paper 25 would let online + booth (published) minus online give the 3 back.
    group = {"online": "o", "library": "o", "paper": "p"}.get
    table = {"north": {"online": 40, "library": 3, "paper": 25}}
    assert table_hidden(table, K) == {("north", "library"), ("north", "paper")}  # rows only: a leak
    hidden = _check(table, group=group)
    assert ("north", "online") in hidden


def test_a_group_under_k_needs_no_cover_in_its_row():
    # Its total (3 paper voters) is published anyway: hiding the 500 online voters would protect nothing.
    group = {"online": "o", "paper": "p"}.get
    table = {"north": {"online": 500, "paper": 3}}
    assert _check(table, group=group) == {("north", "paper")}


def test_row_under_k_shows_nothing():
    table = {"north": {"mon": 7, "tue": 0}, "south": {"mon": 30, "tue": 40}}
    hidden = table_hidden(table, K)
    assert ("north", "mon") in hidden and ("north", "tue") in hidden


def test_zero_cells_stay_shown():
    assert table_hidden({"north": {"mon": 100, "tue": 0, "wed": 50}}, K) == set()


def test_one_row_is_the_row_rule():
    rng = random.Random(3)
    for _ in range(500):
        cells = {f"c{i}": rng.choice([0, 1, 5, 19, 20, 30, 200]) for i in range(rng.randint(1, 6))}
        if sum(cells.values()) >= K:
            assert table_hidden({"r": cells}, K) == {("r", c) for c in turnout_hidden(cells, K)}


@pytest.mark.parametrize("seed", range(80))
def test_random_tables_leak_nothing(seed):
    """The statistics page's tables: pot x day or age band."""
    rng = random.Random(seed)
    columns = [f"c{i}" for i in range(rng.randint(2, 7))]
    districts = [f"d{i}" for i in range(rng.randint(1, 5))]
    table = {d: {c: rng.choice([0, 1, 2, 5, 12, 19, 20, 25, 60, 300]) for c in columns} for d in districts}
    with_city = seed % 2 == 0
    if with_city:  # the worst case: every district voter also voted citywide
        table["city"] = {c: sum(table[d][c] for d in districts) for c in columns}
    _check(table, total_rows={"city"} if with_city else ())


def _channel(column: tuple[str, str]) -> str:
    return "paper" if column[0] == "paper" else "online"


@pytest.mark.parametrize("seed", range(120))
def test_random_results_page_tables_leak_nothing(seed):
    """The results page's table (ballots.casting.selectors.turnout_public): pot x (channel, booth), sparse,
    with each pot's online (online and booth) and paper voters published beside it, and one or two
    citywide pots that every district voter may also have voted in, through the same channel and booth."""
    rng = random.Random(1000 + seed)
    booths = [f"b{i}" for i in range(rng.randint(1, 4))]
    columns = [("online", "")] + [(ch, b) for b in booths for ch in ("booth", "paper")] + [("paper", "")]
    districts = [f"d{i}" for i in range(rng.randint(1, 5))]
    values = [0, 0, 1, 2, 3, 5, 12, 19, 20, 22, 25, 40, 300]
    table = {d: {c: n for c in columns if (n := rng.choice(values))} for d in districts}
    citywide = [f"city{i}" for i in range(seed % 3)]  # none, one or two
    for city in citywide:
        # The worst case: the sum of the districts. (Voters of a citywide pot who voted in no district are
        # the difference of published pot totals: no hiding can protect them; docs/secrecy.md, Limits.)
        table[city] = {c: n for c in columns if (n := sum(table[d].get(c, 0) for d in districts))}
    _check(table, total_rows=set(citywide), group=_channel)


@pytest.mark.parametrize("seed", range(40))
def test_the_rules_exact_check_agrees_with_the_attackers(seed):
    """table_hidden's own final check (exact, over a prime field) against the floating-point attacker above,
    on random hidden sets, so neither can drift from the other."""
    from ballots.casting.cells import _determined

    rng = random.Random(5000 + seed)
    columns = [("online", "")] + [(ch, f"b{i}") for i in range(3) for ch in ("booth", "paper")]
    table = {f"d{i}": {c: n for c in columns if (n := rng.choice([0, 1, 5, 25]))} for i in range(4)}
    table["city"] = {c: n for c in columns if (n := sum(table[d].get(c, 0) for d in list(table)))}
    cells = [(r, c) for r, row in table.items() for c in row]
    hidden = set(rng.sample(cells, rng.randint(0, len(cells))))
    for total_rows, group in (((), None), ({"city"}, None), ({"city"}, _channel)):
        totals = [r for r in table if r in total_rows]
        ours = _determined(table, hidden, totals, group)
        assert ours == determined(table, hidden, total_rows=total_rows, group=group)
