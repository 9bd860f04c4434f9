"""Greedy rules: rank projects by score, fund each that still fits.

- `greedy`            fund every project that still fits, in score order; skip the rest (most Polish cities).
- `greedy-threshold`  the same, among projects whose score reaches META `min_project_score_threshold`
                      (or the option `threshold`): Warsaw, Łódź.
- `greedy-no-skip`    the same as greedy, but stop at the first project that does not fit.

Scores: see `tally.engine.scoring`. A project with score 0 is never funded unless option
`unsupported=fund_if_money_left`. Projects with equal scores are ordered only by the declared tie-break
(`ties.TieBreak`), and every such tie is recorded.

Rounds: one per project, in the order considered, with keys `position`, `project`, `score`, `cost`,
`decision` (funded / skipped / under_threshold / not_reached / zero_score / funded_unsupported),
`remaining_before`, `remaining_after`, the structured `why` (`tally.engine.reasons`) and its English `reason`.
Projects nobody supported (score 0): option `unsupported` (`tally.engine.unsupported`).
"""

from __future__ import annotations

from tally.engine import model, reasons, unsupported
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

    how_unsupported = unsupported.mode(options)
    if how_unsupported == unsupported.FUND_IF_MONEY_LEFT:
        # the projects nobody supported come last (score 0), in the tie-break order
        zero = [p for p in order if scores[p] <= 0]
        zero_order, zero_ties = unsupported.order(zero, costs, tie_break)
        order = [p for p in order if scores[p] > 0] + zero_order
        ties += zero_ties

    selected: list[str] = []
    rounds: list[dict] = []
    unfunded: dict[str, str] = {}
    unfunded_why: dict[str, dict] = {}
    remaining = budget
    stopped_at: str | None = None
    for pos, pid in enumerate(order, start=1):
        s, c = scores[pid], costs[pid]
        before = remaining
        if s <= 0 and threshold is not None and threshold > 0 and how_unsupported != unsupported.NEVER:
            decision = "under_threshold"
            why = reasons.why("under_threshold", score=s, threshold=threshold, cost=c)
        elif s <= 0:
            why = unsupported.decide(how_unsupported, c, remaining, stopped=stopped_at is not None)
            decision = "funded_unsupported" if why["code"] == "funded_unsupported" else "zero_score"
        elif threshold is not None and s < threshold:
            decision = "under_threshold"
            why = reasons.why("under_threshold", score=s, threshold=threshold, cost=c)
        elif stopped_at is not None:
            decision = "not_reached"
            why = reasons.why(
                "not_reached", stopped_at=stopped_at, stopped_at_cost=costs[stopped_at], remaining=remaining
            )
        elif c <= remaining:
            decision = "funded"
            why = reasons.why(
                "funded_fits",
                position=pos,
                score=s,
                cost=c,
                remaining_before=remaining,
                remaining_after=remaining - c,
            )
        else:
            decision = "skipped"
            why = reasons.why(
                "did_not_fit", position=pos, score=s, cost=c, remaining=remaining, stops_counting=not skip
            )
            if not skip:
                stopped_at = pid
        reason = reasons.render(why)
        if why["code"] in reasons.FUNDED_CODES:
            selected.append(pid)
            remaining -= c
        else:
            unfunded[pid] = reason
            unfunded_why[pid] = why
        rounds.append(
            {
                "position": pos,
                "project": pid,
                "score": s,
                "cost": c,
                "decision": decision,
                "remaining_before": before,
                "remaining_after": remaining,
                "why": why,
                "reason": reason,
            }
        )
    details: dict = {"score": how, "skip": skip, unsupported.OPTION: how_unsupported}
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
        unfunded_why=unfunded_why,
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
