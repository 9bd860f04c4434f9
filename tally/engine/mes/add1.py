"""The Add1 completion of MES: raise the per-voter budget one unit at a time while the outcome fits.

Source: Peters, Pierczyński & Skowron 2021, "Proportional participatory budgeting with additive utilities"
(NeurIPS 2021), Section 5, completing MES by varying the initial budget; equalshares.net "completion by
varying the budget"; as certified in Wieliczka 2023 and Świecie 2023: start at floor(budget / n) per voter,
raise by 1 per voter, run MES each time, stop when the NEXT step would overspend (total cost > budget) and
keep the last outcome that fits. `stop="exhaustive"` also stops at the first exhaustive outcome (no
unselected project fits in what is left: equalshares.net "add1e", pabutools' `voter_budget_increment`).

The search jumps over the budgets where the outcome provably stays the same (`tally.engine.mes.add1_jump`,
which proves how far an outcome lasts): the same result as one unit at a time, at a cost that does not grow
with the currency unit. Where it steps one unit at a time for a while (large electorates), the budgets of the
stretch run as one chain (`tally.engine.mes.chain`: from the highest down, each run given the certificates
of the run above), which gives the winners of each run alone. `method="step"` is the plain definition the
tests compare with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from tally.engine.mes.add1_jump import affine_run
from tally.engine.mes.chain import chain_runs
from tally.engine.mes.data import MesData, MesRun
from tally.engine.mes.fast import mes_run
from tally.engine.ties import TieBreak


@dataclass
class Add1Result:
    run: MesRun
    per_voter: int
    steps: (
        int  # budgets the stepping search examines: floor(budget / n) .. per_voter, and the one overspending
    )
    stop_reason: str
    # [per-voter budget, total cost, number funded] at the first budget, at every budget where the outcome
    # (the projects funded, in order) changes, and at the budget whose outcome overspent (if that stopped it)
    trace: list[list[int]]
    evaluations: int = 0  # budgets whose MES outcome the search needed (the stepping search: every step)
    changes: list[tuple[int, list[int]]] = field(default_factory=list)  # (budget, winners) of the trace
    disagreements: int = 0  # budgets where the jump analysis contradicted the fast run (it then stepped)


def _exhaustive(data: MesData, winners: list[int], total: int) -> bool:
    left = data.budget - total
    chosen = set(winners)
    return all(data.costs[c] > left for c in range(data.P) if c not in chosen)


ADD1_METHODS = ("jump", "step")
CHAIN = 64  # budgets per chain at most: longer chains share more, but may run past the end of the search


def add1(data: MesData, tie_break: TieBreak, *, stop: str = "overspend", method: str = "jump") -> Add1Result:
    """Add1: b = floor(budget / n), b + 1, ... ; keep the last outcome before the first that overspends.

    `stop="exhaustive"` also stops at the first exhaustive outcome (equalshares.net add1e / pabutools).
    If no outcome can ever overspend (the supported projects cost at most the budget together), the search
    stops when every supported project is funded.

    `method="step"` runs MES at every budget (the definition; the tests compare with it). `method="jump"`
    (the default) runs it only where the outcome can change: `add1_jump.affine_run` proves that the outcome
    at b lasts up to some `until` > b, so the stepping search would examine b + 1, ..., until - 1 with the
    same outcome, the same stop tests (they depend on the outcome only) and no overspend, and the next
    budget to look at is `until`. The analysis checks the fast run's winners at b exactly; on a
    disagreement (which the tests rule out) the search steps by one unit there. The number of MES runs then
    depends on how often the outcome's decisions change, not on the size of the currency unit.
    """
    if stop not in ("overspend", "exhaustive"):
        raise ValueError(f"option add1_stop must be 'overspend' or 'exhaustive', not {stop!r}")
    if method not in ADD1_METHODS:
        raise ValueError(f"Add1 method must be one of {', '.join(ADD1_METHODS)}, not {method!r}")
    if data.n == 0:
        return Add1Result(MesRun(Fraction(0), [], []), 0, 0, "no ballots", [])
    supported = [c for c in range(data.P) if len(data.supporters[c]) > 0]
    can_overspend = sum(data.costs[c] for c in supported) > data.budget
    evaluations = 0
    # The analysis costs more than a plain MES run (exact rationals, every project every round); on large
    # electorates some decision usually flips within a unit or two, and then it is wasted. After an
    # attempt that saved less than `plain_unit` runs, the search steps plainly for a while, twice as long
    # after each further such attempt (one success halves it back), in units of one run per 1,000 voters:
    # the overhead stays a few analyses there, and small electorates, where jumps are long, analyse
    # (nearly) every budget they visit. Which budgets are analysed
    # changes the work, never the outcome (each analysed jump is exact, each plain step is the definition).
    plain_unit = -(-data.n // 1000)
    plain_left = 0
    failures = 0
    disagreements = 0  # the exact analysis contradicting the fast run's winners (never, says the tests)
    # Where the search will step plainly (plain_left more budgets, then one analysed), MES runs at those
    # budgets as one chain (`chain_runs`: from the highest down, each run helped by the one above; the same
    # winners as `mes_run`). Its outcomes wait in `ahead`; a run made from one carries winners and total cost
    # only, so the run the search keeps is made again by `mes_run` with the guide it would have had.
    ahead: dict[int, tuple[list[int], int]] = {}
    light: dict[int, tuple[MesRun, list[int] | None]] = {}

    def run_at(b: int, guide: list[int] | None) -> MesRun:
        if method == "jump" and plain_left > 0 and b not in ahead:
            ahead.update(chain_runs(data, range(b, b + min(plain_left, CHAIN - 1) + 1), tie_break, guide))
        got = ahead.pop(b, None)
        if got is None:
            return mes_run(data, b, tie_break, guide=guide)
        run = MesRun(Fraction(b), got[0], [], total_cost=got[1])
        light[id(run)] = (run, guide)
        return run

    def evaluate(b: int, guide: list[int] | None) -> tuple[MesRun, int | float]:
        nonlocal evaluations, plain_left, failures, disagreements
        evaluations += 1  # one MES outcome the search needs (run alone or in a chain)
        run = run_at(b, guide)
        if method == "step":
            return run, b + 1
        if plain_left > 0:
            plain_left -= 1
            return run, b + 1
        aff = affine_run(data, b, run.winners, tie_break)
        if not aff.consistent:  # pragma: no cover - ruled out by the tests; step, never guess
            disagreements += 1
            return run, b + 1
        if not aff.complete or aff.until - b <= plain_unit:
            failures = min(failures + 1, 20)
            plain_left = plain_unit * (2**failures - 1)
        else:
            failures = max(failures - 1, 0)
        return run, aff.until

    b = data.budget // data.n
    current, until = evaluate(b, None)
    trace = [[b, current.total_cost, len(current.winners)]]
    changes = [(b, list(current.winners))]
    overspent = False
    while True:
        if stop == "exhaustive" and _exhaustive(data, current.winners, current.total_cost):
            reason = f"the outcome at {b} per voter is exhaustive (no unselected project fits)"
            break
        if not can_overspend and len(current.winners) == len(supported):
            reason = f"every supported project is funded at {b} per voter"
            break
        if until == math.inf:  # pragma: no cover - at a large enough budget MES funds every supported project
            raise AssertionError("Add1: an outcome that fits would last at every larger budget")
        nb = int(until)
        nxt, nuntil = evaluate(nb, current.winners)
        if nxt.winners != current.winners:
            trace.append([nb, nxt.total_cost, len(nxt.winners)])
            changes.append((nb, list(nxt.winners)))
        if nxt.total_cost > data.budget:
            if nb - 1 != b:  # the same winners as at b, but the run explained is the one at nb - 1
                evaluations += 1
                current = mes_run(data, nb - 1, tie_break, guide=current.winners)
                b = nb - 1
            overspent = True
            reason = (
                f"the next step ({b + 1} per voter) would fund projects costing {nxt.total_cost:,}, "
                f"over the budget {data.budget:,}"
            )
            break
        b, current, until = nb, nxt, nuntil
    if id(current) in light:  # the kept run, with its tie-break records, as `mes_run` makes it
        current = mes_run(data, b, tie_break, guide=light[id(current)][1])
    steps = b - data.budget // data.n + 1 + overspent  # as many budgets as the stepping search examines
    return Add1Result(current, b, steps, reason, trace, evaluations, changes, disagreements)
