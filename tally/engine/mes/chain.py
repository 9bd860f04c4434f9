"""MES at a stretch of consecutive per-voter budgets, from the highest down, each run helped by the one above.

The rule is `tally.engine.mes.definition` (Peters & Skowron 2020; Peters, Pierczyński & Skowron 2021); the
Add1 search (`tally.engine.mes.add1`, equalshares.net "completion by varying the budget") runs it at the
integer per-voter budgets b, b + 1, ... . Where the search cannot jump (large electorates: Warsaw 2026 runs
MES at 186 consecutive budgets) it knows ahead which budgets it will step through, and `chain_runs` runs
them from the highest down, each run (`fast._FastMes`, floats with certified error bounds) given what the
run one unit above it proved (`prior`), which changes the work, never a decision:

Take two runs at budgets x < x' that funded the same projects in the same order before round t. Every voter
has at most as much money at x as at x' at the start of round t (induction over the rounds: with less money
everywhere, F(y) = sum_i min(m_i, y u_i) is smaller at every y, so the winner's price rho, the least root of
F(rho) = cost, is at least as large, and what is left, max(m_i - rho u_i, 0), is smaller). So in round t
every project's price at x is at least its price at x', and a project unaffordable at x' is unaffordable at
x: the certified lower bounds and the unaffordable projects of round t at x' are certificates at x. A
competitor proved worse than the round's winner at x' is usually proved worse at x by that bound alone,
without reading its supporters' money (Warsaw 2026: 10,000 of the 13,200 evaluations of projects that do
not win their round are saved; the whole search takes 0.33 s instead of 0.40 s; bench/README.md).

Each run also evaluates first the project the run above funded in the same round (`guide`). Every run keeps
the exact fallback of `fast` (exact arithmetic for the rounds floats cannot decide), so every budget gets the
winners of exact arithmetic, as `mes_run` does; the tests compare the two on generated elections with ties.
Only winners and total costs come out: the run the search keeps is made again by `mes_run` for its tie-break
records and explanation.
"""

from __future__ import annotations

from fractions import Fraction

from tally.engine.mes.data import MesData
from tally.engine.mes.fast import _FastMes
from tally.engine.ties import TieBreak


def chain_runs(
    data: MesData, budgets: range, tie_break: TieBreak, guide: list[int] | None = None
) -> dict[int, tuple[list[int], int]]:
    """{budget: (winners in order, their total cost)} of MES at each integer per-voter budget of `budgets`,
    those of `mes_run` at that budget (module docstring), run from the highest budget down. `guide`: the
    winners of a similar run, which the highest budget's run evaluates first."""
    out: dict[int, tuple[list[int], int]] = {}
    prior = None
    for x in sorted(budgets, reverse=True):
        run = _FastMes(data, Fraction(x), tie_break, "", prior[0] if prior else guide, prior, record=True)
        res = run.run()
        prior = (res.winners, run.trail)
        out[x] = (res.winners, res.total_cost)
    return out
