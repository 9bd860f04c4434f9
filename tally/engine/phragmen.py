"""Sequential Phragmén for approval ballots, budget-limited as in pabutools `sequential_phragmen`.

Voters earn virtual money continuously; a project is bought as soon as its supporters together hold its cost,
and then every supporter's "load" becomes the same: new load = (sum of the supporters' loads + cost) / number
of supporters. Each round funds the project with the least new load. As in pabutools, counting STOPS (it does
not skip) at the first round whose least-load project(s) no longer fit in the remaining budget: if any of the
projects tied at the least load does not fit, counting stops. Projects costing more than the budget are never
candidates (pabutools drops them at the start).

Differences from pabutools, on purpose: a project nobody approved is never a candidate (pabutools gives it an
infinite load, so it could only be bought last, when every other project is gone); option
`unsupported=fund_if_money_left` (`tally.engine.unsupported`) funds those that fit once counting ends without
stopping; ties are broken by the
declared `TieBreak` chain (pabutools: lexicographic by name) and every tie broken is recorded.

Exact: loads are rationals, kept as integer numerators over one common denominator. A voter's load is the load
set by the last funded project they approved, so voters are grouped by that project and each round costs
O(projects x funded projects) integer operations.

Rounds: `round`, `project`, `decision` ("funded" / "stopped"), `cost`, `supporters`, `new_load` ("p/q") and
`new_load_decimal`, `total_cost_after`, the structured `why` (`tally.engine.reasons`) and its English
`reason`.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from tally.engine import mes, model, reasons, unsupported
from tally.engine.registry import rule
from tally.engine.result import Outcome, TieBreakRecord
from tally.engine.ties import TieBreak

_fmt = reasons.exact


def _dec(x: Fraction, places: int = 4) -> str:
    return reasons.decimal(x, places)


def sequential_phragmen(
    election: model.Election, tie_break: TieBreak
) -> tuple[list[str], list[dict], list[TieBreakRecord], dict[str, dict], str, dict[str, int]]:
    """(selected ids in order, rounds, tie records, structured reasons of the unfunded projects nobody
    left out for lack of support, stop reason, approvals per project). Projects nobody approved are left to
    `tally.engine.unsupported`."""
    inst = election.instance
    ids = list(inst.projects)
    index = {p: k for k, p in enumerate(ids)}
    P = len(ids)
    costs = [inst.projects[p].cost for p in ids]
    budget = inst.budget
    data = mes.prepare(election)  # vectorised: supporters per project, ballots as a CSR (duplicates dropped)
    ptr, ind = data.csr()
    n = data.n
    votes = [len(s) for s in data.supporters]
    sup = data.supporters

    # Exact loads as integer numerators over ONE common denominator L (load = num / L): a group's load and
    # every project's sum of supporters' loads. A new price's denominator multiplies L (and every numerator)
    # once per round, instead of a Fraction (with its gcd) per update.
    # group g = index of the last funded project the voter approved (P = none yet, load 0)
    last = np.full(n, P, dtype=np.int64)
    L = 1
    group_num: dict[int, int] = {P: 0}
    sum_num = [0] * P  # sum of the supporters' load numerators, per project
    unfunded: dict[str, dict] = {}
    remaining = set()
    for c in range(P):
        if votes[c] == 0:
            continue
        if costs[c] > budget:
            unfunded[ids[c]] = reasons.why("over_budget", cost=costs[c], budget=budget)
        else:
            remaining.add(c)
    selected: list[int] = []
    rounds: list[dict] = []
    ties: list[TieBreakRecord] = []
    total = 0
    stop = "every approved project that fits was funded"
    stopped: dict | None = None  # the stop, as the fields of a `not_reached` reason
    while remaining:
        # new load of c = (sum of loads + cost) / votes = (sum_num + cost * L) / (votes * L)
        new_load = {c: Fraction(sum_num[c] + costs[c] * L, votes[c] * L) for c in remaining}
        best = min(new_load.values())
        tied = sorted((c for c in remaining if new_load[c] == best), key=lambda c: tie_break.rank_of(ids[c]))
        too_big = [c for c in tied if total + costs[c] > budget]
        if too_big:
            c = too_big[0]
            stop = (
                f"project {ids[c]} has the least new load {_dec(best)} but costs {costs[c]:,} with "
                f"{budget - total:,} left: counting stops (sequential Phragmén does not skip)"
            )
            load = reasons.amount("new_load", best, 4)
            why = reasons.why(
                "stopped_least_load",
                round=len(rounds) + 1,
                cost=costs[c],
                remaining=budget - total,
                supporters=int(votes[c]),
                **load,
            )
            unfunded[ids[c]] = why
            remaining.discard(c)
            stopped = {"stopped_at": ids[c], "stopped_at_cost": costs[c], "remaining": budget - total, **load}
            rounds.append(
                {
                    "round": len(rounds) + 1,
                    "project": ids[c],
                    "decision": "stopped",
                    "cost": costs[c],
                    "supporters": int(votes[c]),
                    "new_load": _fmt(best),
                    "new_load_decimal": _dec(best),
                    "total_cost_after": total,
                    "why": why,
                    "reason": reasons.render(why),
                }
            )
            break
        w = tied[0]
        if len(tied) > 1:
            wid, rec = tie_break.pick(
                [ids[c] for c in tied],
                cost=lambda p: costs[index[p]],
                score=lambda p: int(votes[index[p]]),
                context=f"Phragmén round {len(selected) + 1}",
            )
            if rec is not None:
                ties.append(rec)
            w = index[wid]
        # put best on the common denominator: best = best.numerator / best.denominator, L | ... rescale
        k = best.denominator // math.gcd(best.denominator, L)
        if k != 1:
            L *= k
            sum_num = [x * k for x in sum_num]
            group_num = {g: x * k for g, x in group_num.items()}
        best_num = best.numerator * (L // best.denominator)
        # move w's supporters to group w; update every project's load sum for the voters that moved
        voters = sup[w]
        lens = ptr[voters + 1] - ptr[voters]
        starts = np.repeat(ptr[voters] - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
        pairs = starts + np.arange(int(lens.sum()), dtype=np.int64)
        proj_of = ind[pairs]
        old_of = np.repeat(last[voters], lens)
        counts = np.bincount(proj_of * (P + 1) + old_of, minlength=P * (P + 1))
        keys = np.flatnonzero(counts)
        group_num[w] = best_num
        for key, cnt in zip(keys.tolist(), counts[keys].tolist(), strict=True):
            c, old = divmod(key, P + 1)
            sum_num[c] += (best_num - group_num[old]) * cnt
        last[voters] = w
        selected.append(w)
        remaining.discard(w)
        total += costs[w]
        why = reasons.why(
            "funded_least_load",
            round=len(rounds) + 1,
            cost=costs[w],
            supporters=int(votes[w]),
            **reasons.amount("new_load", best, 4),
            total_cost_after=total,
        )
        rounds.append(
            {
                "round": len(rounds) + 1,
                "project": ids[w],
                "decision": "funded",
                "cost": costs[w],
                "supporters": int(votes[w]),
                "new_load": _fmt(best),
                "new_load_decimal": _dec(best),
                "total_cost_after": total,
                "why": why,
                "reason": reasons.render(why),
            }
        )
    for c in remaining:
        unfunded[ids[c]] = reasons.why("not_reached", **(stopped or {}))
    unfunded = {p: unfunded[p] for p in ids if p in unfunded}
    return [ids[c] for c in selected], rounds, ties, unfunded, stop, dict(zip(ids, votes, strict=True))


@rule(
    "phragmen",
    description="sequential Phragmén (approval), budget-limited: stops at the first project that won't fit",
    vote_types=("approval", "choose-1"),
)
def phragmen(election: model.Election, *, tie_break: TieBreak, options: dict) -> Outcome:
    selected, rounds, ties, unfunded_why, stop, votes = sequential_phragmen(election, tie_break)
    inst = election.instance
    out = Outcome(
        rule="phragmen",
        selected=selected,
        budget=inst.budget,
        total_cost=sum(inst.projects[p].cost for p in selected),
        rounds=rounds,
        tie_breaks=ties,
        unfunded={p: reasons.render(w) for p, w in unfunded_why.items()},
        unfunded_why=unfunded_why,
        details={"stop_reason": stop},
        scores=votes,
    )
    costs = {p: inst.projects[p].cost for p in inst.projects}
    nobody = [p for p in inst.projects if votes[p] == 0]
    stopped = any(r["decision"] == "stopped" for r in rounds)
    unsupported.settle(out, nobody, costs, tie_break, options, stopped=stopped)
    return out
