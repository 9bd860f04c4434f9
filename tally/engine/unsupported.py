"""Projects nobody supported: what every rule does with them (rule option `unsupported`).

A project is unsupported when no ballot supports it: no approval, no positive points, score 0 (ordinal: no
points from any ranking).

- `never` (the default): it is never funded, whatever money is left. A project nobody voted for has no
  mandate from the vote; funding it would spend public money nobody asked for. Reason code `no_support`.
- `fund_if_money_left`: once the rule has finished, the unsupported projects are taken in the declared
  tie-break order with score 0 (by default the cheaper first, then the published order; each tie broken is
  recorded, context "unsupported projects") and each one that fits in the money left is funded: a round with
  decision "funded_unsupported" and reason code `funded_unsupported`; one that does not fit gets
  `unsupported_no_money`. This is what pabutools' greedy does (it ranks them last, with satisfaction 0, and
  funds those that fit); MES in pabutools never funds them (nobody can pay).

Every rule honours the option and records it in `details["unsupported"]`. Rules that stop at the first
project that does not fit (greedy-no-skip, Phragmén) never reach the unsupported projects once they stopped;
greedy-threshold never funds a project whose score is under a positive threshold, so there it matters only
with threshold 0. The comparison step (`equalshares/add1-comparison`) is unaffected by the option: nobody
approved these projects, so they change no voter's satisfaction; the option applies to its final outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tally.engine import reasons
from tally.engine.result import Outcome, TieBreakRecord
from tally.engine.ties import TieBreak

OPTION = "unsupported"
NEVER = "never"
FUND_IF_MONEY_LEFT = "fund_if_money_left"
MODES = (NEVER, FUND_IF_MONEY_LEFT)


def mode(options: Mapping[str, Any]) -> str:
    value = str(options.get(OPTION) or NEVER).strip() or NEVER
    if value not in MODES:
        raise ValueError(f"option {OPTION} must be one of {', '.join(MODES)}, not {value!r}")
    return value


def order(
    ids: Iterable[str], costs: Mapping[str, int], tie_break: TieBreak
) -> tuple[list[str], list[TieBreakRecord]]:
    """The unsupported projects in the order they are considered, and the ties broken to get it."""
    remaining = list(ids)
    out: list[str] = []
    ties: list[TieBreakRecord] = []
    while remaining:
        winner, rec = tie_break.pick(
            remaining, cost=costs.__getitem__, score=lambda _p: 0, context="unsupported projects"
        )
        if rec is not None:
            ties.append(rec)
        out.append(winner)
        remaining.remove(winner)
    return out, ties


def decide(how: str, cost: int, remaining: int, *, stopped: bool = False) -> dict[str, Any]:
    """The reason for one unsupported project, given the money left when its turn comes."""
    if how == NEVER:
        return reasons.why("no_support", supporters=0, option=NEVER)
    if stopped or cost > remaining:
        return reasons.why("unsupported_no_money", cost=cost, remaining=remaining, option=how)
    return reasons.why(
        "funded_unsupported", cost=cost, remaining_before=remaining, remaining_after=remaining - cost
    )


def settle(
    outcome: Outcome,
    unsupported: Iterable[str],
    costs: Mapping[str, int],
    tie_break: TieBreak,
    options: Mapping[str, Any],
    *,
    stopped: bool = False,
) -> None:
    """Apply the option to a finished outcome whose rounds are numbered by "round" (MES, Phragmén): the
    unsupported projects get their reason, and with `fund_if_money_left` those that fit are funded in new
    rounds at the end."""
    how = mode(options)
    outcome.details[OPTION] = how
    ids = [p for p in unsupported if p not in set(outcome.selected)]
    if how == FUND_IF_MONEY_LEFT and not stopped:
        ids, ties = order(ids, costs, tie_break)
        outcome.tie_breaks.extend(ties)
    for pid in ids:
        left = outcome.budget - outcome.total_cost
        w = decide(how, costs[pid], left, stopped=stopped)
        if w["code"] == "funded_unsupported":
            outcome.selected.append(pid)
            outcome.total_cost += costs[pid]
            outcome.unfunded.pop(pid, None)
            outcome.unfunded_why.pop(pid, None)
            outcome.rounds.append(
                {
                    "round": len(outcome.rounds) + 1,
                    "project": pid,
                    "decision": "funded_unsupported",
                    "cost": costs[pid],
                    "total_cost_after": outcome.total_cost,
                    "why": w,
                    "reason": reasons.render(w),
                }
            )
        else:
            outcome.unfunded_why[pid] = w
            outcome.unfunded[pid] = reasons.render(w)
    # project order, as the rules give them
    outcome.unfunded_why = {p: outcome.unfunded_why[p] for p in costs if p in outcome.unfunded_why}
    outcome.unfunded = {p: outcome.unfunded[p] for p in costs if p in outcome.unfunded}
