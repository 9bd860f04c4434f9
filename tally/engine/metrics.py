"""Metrics of an outcome for the results page (Faliszewski et al., "Participatory Budgeting: Data, Tools
and Analysis", IJCAI 2023; equalshares.net).

Let B be the budget, W the funded projects, N the ballots (n = |N|, empty ballots included) and A_v the
projects voter v supports: the projects on the ballot (approval, choose-1, ordinal) or given positive
points (cumulative, scoring).

- `budget_used`          = cost(W) / B.
- `voters_with_funded`   = |{v : A_v ∩ W ≠ ∅}| / n  - share of voters with at least one funded project.
- `avg_funded_per_voter` = (1/n) Σ_v |A_v ∩ W|.
- `avg_budget_share`     = (1/n) Σ_v cost(A_v ∩ W) / B  - average share of the budget spent on projects the
                           voter supports ("cost satisfaction" normalised by the budget).
- `projects`             = per project: `supporters` (|{v : p ∈ A_v}|), `score` (what the rule ranked by,
                           when it reported one), `funded`, and for rules that report it in their rounds (MES)
                           `effective_support`: the effective vote count (or effective points) when the
                           project was funded, exact as "p/q", with `effective_support_decimal` for display.

Ratios are floats rounded to 6 decimals, for display: hash the Outcome, never the metrics. Integer counts
(`voters`, `voters_with_funded_count`, `total_cost`) are exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tally.engine.model import Election
from tally.engine.result import Outcome
from tally.engine.scoring import supporters, vote_columns


def _ratio(num: int, den: int) -> float:
    return round(num / den, 6) if den else 0.0


def compute(election: Election, outcome: Outcome) -> dict[str, Any]:
    inst = election.instance
    budget = outcome.budget or inst.budget
    funded = set(outcome.selected)
    cost = {pid: p.cost for pid, p in inst.projects.items()}
    points_ballots = inst.vote_type in ("cumulative", "scoring")
    n = len(election.profile.ballots)
    with_funded = 0
    funded_sum = 0
    cost_sum = 0
    funded_cost = {pid: cost[pid] for pid in funded}
    cols = vote_columns(election)
    support = supporters(election)
    if cols is not None:  # pabulib's column form: the same sums without Ballot objects
        ptr, flat, points = cols
        mask = np.asarray([pid in funded_cost for pid in inst.projects], dtype=bool)[flat]
        if points is not None:
            mask &= points > 0
        if len(mask):  # per non-empty ballot (whose starts ascend): any funded project among its own
            starts = ptr[:-1][np.diff(ptr) > 0]
            with_funded = int(np.count_nonzero(np.logical_or.reduceat(mask, starts)))
        # the pairs of `mask` naming a funded project are its count in `support` (both count the (ballot,
        # project) pairs, with positive points for points ballots)
        funded_sum = sum(support[pid] for pid in funded_cost)
        cost_sum = sum(support[pid] * c for pid, c in funded_cost.items())
    else:
        for b in election.profile.ballots:
            if points_ballots and b.points is not None:
                mine = [p for p, v in zip(b.projects, b.points, strict=True) if v > 0 and p in funded_cost]
            else:
                mine = [p for p in b.projects if p in funded_cost]
            if mine:
                with_funded += 1
                funded_sum += len(mine)
                for p in mine:
                    cost_sum += funded_cost[p]
    effective: dict[str, dict[str, str]] = {}
    for r in outcome.rounds:
        for key in ("effective_vote_count", "effective_points"):
            if key in r and "project" in r:
                effective[r["project"]] = {"effective_support": str(r[key])}
                if "effective_decimal" in r:
                    effective[r["project"]]["effective_support_decimal"] = str(r["effective_decimal"])
    total_cost = sum(cost[p] for p in outcome.selected)
    return {
        "budget": budget,
        "total_cost": total_cost,
        "budget_used": _ratio(total_cost, budget),
        "voters": n,
        "voters_with_funded_count": with_funded,
        "voters_with_funded": _ratio(with_funded, n),
        "avg_funded_per_voter": _ratio(funded_sum, n),
        "avg_budget_share": round(cost_sum / (n * budget), 6) if n and budget else 0.0,
        "projects": {
            pid: {
                "supporters": support[pid],
                **({"score": outcome.scores[pid]} if pid in outcome.scores else {}),
                "funded": pid in funded,
                **effective.get(pid, {}),
            }
            for pid in inst.projects
        },
    }
