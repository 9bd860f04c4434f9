"""Greedy rules: rank projects by score, fund each that still fits.

- `greedy`            fund every project that still fits, in score order; skip the rest (most Polish cities).
- `greedy-threshold`  the same, among projects whose score reaches META `min_project_score_threshold`
                      (or the option `threshold`): Warsaw, Łódź.
- `greedy-no-skip`    the same as greedy, but stop at the first project that does not fit.

Scores: see `tally.engine.scoring`. A project with score 0 is never funded. Projects with equal scores are
ordered only by the declared tie-break (`ties.TieBreak`), and every such tie is recorded.

Rounds: one per project, in the order considered, with keys `position`, `project`, `score`, `cost`,
`decision` (funded / skipped / under_threshold / not_reached / zero_score), `remaining_before`,
`remaining_after` and a readable `reason`.
"""

from __future__ import annotations

from tally.engine import model
from tally.engine.registry import rule
from tally.engine.result import Outcome, TieBreakRecord
from tally.engine.scoring import project_scores
from tally.engine.ties import TieBreak


def _int_option(options: dict, key: str) -> int | None:
    value = options.get(key)
    if value is None or str(value).strip() == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"option {key} must be an integer, got {value!r}") from None


def score_order(
    scores: dict[str, int], costs: dict[str, int], tie_break: TieBreak, *, context: str = "greedy"
) -> tuple[list[str], list[TieBreakRecord]]:
    """Projects by descending score; equal scores ordered by the tie-break, each tie recorded.

    Projects with score 0 are left in published order and their ties are not recorded: they are never
    funded, so their relative order decides nothing.
    """
    groups: dict[int, list[str]] = {}
    for pid, s in scores.items():
        groups.setdefault(s, []).append(pid)
    order: list[str] = []
    records: list[TieBreakRecord] = []
    for s in sorted(groups, reverse=True):
        group = groups[s]
        if s <= 0:
            order.extend(sorted(group, key=tie_break.rank_of))
            continue
        remaining = list(group)
        while remaining:
            winner, rec = tie_break.pick(
                remaining,
                cost=costs.__getitem__,
                score=scores.__getitem__,
                context=f"{context} position {len(order) + 1} (score {s})",
            )
            if rec is not None:
                records.append(rec)
            order.append(winner)
            remaining.remove(winner)
    return order, records


def _greedy(
    rule_id: str,
    election: model.Election,
    tie_break: TieBreak,
    options: dict,
    *,
    threshold: int | None = None,
    skip: bool = True,
) -> Outcome:
    inst = election.instance
    budget = _int_option(options, "budget") or inst.budget
    costs = {pid: p.cost for pid, p in inst.projects.items()}
    scores, how = project_scores(election, options)
    order, ties = score_order(scores, costs, tie_break)

    selected: list[str] = []
    rounds: list[dict] = []
    unfunded: dict[str, str] = {}
    remaining = budget
    stopped_at: str | None = None
    for pos, pid in enumerate(order, start=1):
        s, c = scores[pid], costs[pid]
        before = remaining
        if s <= 0:
            decision, reason = "zero_score", "no votes: a project with score 0 is never funded"
        elif threshold is not None and s < threshold:
            decision, reason = "under_threshold", f"score {s} is under the threshold {threshold}"
        elif stopped_at is not None:
            decision = "not_reached"
            reason = f"not reached: counting stopped at project {stopped_at}, which did not fit"
        elif c <= remaining:
            decision, reason = "funded", f"fits: cost {c} of {remaining} remaining"
            selected.append(pid)
            remaining -= c
        else:
            decision = "skipped"
            reason = f"did not fit: {remaining} remaining, cost {c}"
            if not skip:
                stopped_at = pid
                reason += "; counting stops here (no skipping)"
        if decision != "funded":
            unfunded[pid] = reason
        rounds.append(
            {
                "position": pos,
                "project": pid,
                "score": s,
                "cost": c,
                "decision": decision,
                "remaining_before": before,
                "remaining_after": remaining,
                "reason": reason,
            }
        )
    details: dict = {"score": how, "skip": skip}
    if threshold is not None:
        details["threshold"] = threshold
    return Outcome(
        rule=rule_id,
        selected=selected,
        budget=budget,
        total_cost=budget - remaining,
        rounds=rounds,
        tie_breaks=ties,
        unfunded=unfunded,
        details=details,
        scores=scores,
    )


@rule(
    "greedy",
    description="fund projects in order of score (votes / points), skipping any that no longer fit",
    vote_types=model.VOTE_TYPES,
)
def greedy(election: model.Election, *, tie_break: TieBreak, options: dict) -> Outcome:
    return _greedy("greedy", election, tie_break, options)


@rule(
    "greedy-threshold",
    description="greedy among projects whose score reaches min_project_score_threshold (option threshold)",
    vote_types=model.VOTE_TYPES,
)
def greedy_threshold(election: model.Election, *, tie_break: TieBreak, options: dict) -> Outcome:
    threshold = _int_option(options, "threshold")
    if threshold is None:
        threshold = election.instance.meta_int("min_project_score_threshold")
    if threshold is None:
        raise ValueError(
            "greedy-threshold needs a threshold: META min_project_score_threshold or --option threshold=N"
        )
    return _greedy("greedy-threshold", election, tie_break, options, threshold=threshold)


@rule(
    "greedy-no-skip",
    description="greedy by score, stopping at the first project that does not fit",
    vote_types=model.VOTE_TYPES,
)
def greedy_no_skip(election: model.Election, *, tie_break: TieBreak, options: dict) -> Outcome:
    return _greedy("greedy-no-skip", election, tie_break, options, skip=False)
