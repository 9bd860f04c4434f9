"""The registered MES rules (registry ids), built from the modules of this package.

- `equalshares`                  MES, no completion. Each voter starts with budget / n (exact rational).
- `equalshares/add1`             MES with the Add1 completion (`tally.engine.mes.add1`). Option
                                 `add1_stop=exhaustive`: also stop at the first exhaustive outcome.
                                 details["add1"]: the final per-voter budget, `steps` (budgets the
                                 stepping search examines), `evaluations` (budgets whose MES outcome
                                 it needed), the stop reason and a `trace` of [budget, total cost,
                                 number funded] at the first budget and wherever the outcome (projects
                                 in order) changes.
- `equalshares/add1u`            Add1, then utilitarian greedy completion (by score, fund what still fits).
- `equalshares/add1-comparison`  Add1, then the comparison step against `greedy`
                                 (`tally.engine.mes.comparison`).
"""

from __future__ import annotations

from fractions import Fraction

from tally.engine import model, reasons, unsupported
from tally.engine.mes.add1 import Add1Result, add1
from tally.engine.mes.comparison import _greedy_by_score, _greedy_outcome, comparison_counts
from tally.engine.mes.data import APPROVAL_TYPES, MES_VOTE_TYPES, MesData, MesRun, prepare
from tally.engine.mes.explain import _fmt, explain
from tally.engine.mes.fast import mes_run
from tally.engine.registry import rule
from tally.engine.result import Outcome
from tally.engine.ties import TieBreak


def _outcome(
    rule_id: str, data: MesData, run: MesRun, details: dict, extra_selected: list[int] | None = None
) -> Outcome:
    rounds, unfunded_why = explain(data, run)
    selected = [data.ids[c] for c in run.winners]
    for c in extra_selected or []:
        pid = data.ids[c]
        selected.append(pid)
        unfunded_why.pop(pid, None)
    total = sum(data.costs[data.index[p]] for p in selected)
    details.setdefault("per_voter_budget", _fmt(run.per_voter))
    details["exact_rounds"] = run.exact_rounds
    details["utilities"] = "cost (approval)" if data.cost_utility else "points"
    return Outcome(
        rule=rule_id,
        selected=selected,
        budget=data.budget,
        total_cost=total,
        rounds=rounds,
        tie_breaks=list(run.ties),
        unfunded={p: reasons.render(w) for p, w in unfunded_why.items()},
        unfunded_why=unfunded_why,
        details=details,
        scores={data.ids[c]: data.scores[c] for c in range(data.P)},
    )


def _settled(out: Outcome, data: MesData, tie_break: TieBreak, options: dict) -> Outcome:
    """The option `unsupported` applied to the finished outcome (`tally.engine.unsupported`)."""
    nobody = [data.ids[c] for c in range(data.P) if len(data.supporters[c]) == 0]
    unsupported.settle(out, nobody, dict(zip(data.ids, data.costs, strict=True)), tie_break, options)
    return out


def _add1_details(res: Add1Result) -> dict:
    return {
        "add1": {
            "per_voter_budget": str(res.per_voter),
            "steps": res.steps,
            "evaluations": res.evaluations,
            "stop_reason": res.stop_reason,
            "trace": res.trace,
        }
    }


def _stop_option(options: dict) -> str:
    return str(options.get("add1_stop", "overspend")).strip() or "overspend"


@rule(
    "equalshares",
    description="Method of Equal Shares (cost utilities; points for cumulative/scoring), no completion",
    vote_types=MES_VOTE_TYPES,
)
def equalshares(election: model.Election, *, tie_break: TieBreak, options: dict) -> Outcome:
    data = prepare(election)
    if data.n == 0:
        return _settled(
            _outcome("equalshares", data, MesRun(Fraction(0), [], []), {}), data, tie_break, options
        )
    run = mes_run(data, Fraction(data.budget, data.n), tie_break)
    return _settled(_outcome("equalshares", data, run, {}), data, tie_break, options)


@rule(
    "equalshares/add1",
    description="MES with Add1: raise the per-voter budget by 1 until the next step would overspend",
    vote_types=MES_VOTE_TYPES,
)
def equalshares_add1(election: model.Election, *, tie_break: TieBreak, options: dict) -> Outcome:
    data = prepare(election)
    res = add1(data, tie_break, stop=_stop_option(options))
    return _settled(_outcome("equalshares/add1", data, res.run, _add1_details(res)), data, tie_break, options)


@rule(
    "equalshares/add1u",
    description="MES with Add1, then utilitarian greedy completion (by score, fund what still fits)",
    vote_types=MES_VOTE_TYPES,
)
def equalshares_add1u(election: model.Election, *, tie_break: TieBreak, options: dict) -> Outcome:
    data = prepare(election)
    res = add1(data, tie_break, stop=_stop_option(options))
    _, added = _greedy_by_score(data, tie_break, res.run.winners)
    details = _add1_details(res)
    details["completion"] = {"added": [data.ids[c] for c in added]}
    out = _outcome("equalshares/add1u", data, res.run, details, extra_selected=added)
    left = data.budget - res.run.total_cost
    for r, c in enumerate(added, start=len(out.rounds) + 1):
        cost = data.costs[c]
        why = reasons.why(
            "funded_completion",
            round=r,
            cost=cost,
            score=data.scores[c],
            remaining_before=left,
            remaining_after=left - cost,
        )
        left -= cost
        out.rounds.append(
            {
                "round": r,
                "project": data.ids[c],
                "decision": "funded_by_completion",
                "cost": cost,
                "score": data.scores[c],
                "why": why,
                "reason": reasons.render(why),
            }
        )
    return _settled(out, data, tie_break, options)


@rule(
    "equalshares/add1-comparison",
    description="MES with Add1, then the comparison step against greedy (switch if more voters prefer it)",
    vote_types=APPROVAL_TYPES,
)
def equalshares_add1_comparison(election: model.Election, *, tie_break: TieBreak, options: dict) -> Outcome:
    data = prepare(election)
    how = str(options.get("comparison", "satisfaction")).strip() or "satisfaction"
    res = add1(data, tie_break, stop=_stop_option(options))
    greedy_ids, greedy_source = _greedy_outcome(election, data, tie_break)
    index = {p: k for k, p in enumerate(data.ids)}
    greedy_sel = [index[p] for p in greedy_ids]
    pm, pg = comparison_counts(data, res.run.winners, greedy_sel, how)
    details = _add1_details(res)
    stood = "greedy" if pg > pm else "equalshares/add1"
    details["comparison"] = {
        "measure": how,
        "prefer_mes": pm,
        "prefer_greedy": pg,
        "greedy_selected": greedy_ids,
        "greedy_rule": greedy_source,
        "outcome": stood,
        "reason": (
            f"{pm:,} voters prefer the MES outcome, {pg:,} prefer greedy: "
            + ("greedy is preferred by strictly more voters, so it replaces MES" if pg > pm else "MES stands")
        ),
    }
    out = _outcome("equalshares/add1-comparison", data, res.run, details)
    if pg > pm:
        out.selected = list(greedy_ids)
        out.total_cost = sum(data.costs[index[p]] for p in greedy_ids)
        kept = set(greedy_ids)
        why = reasons.why("replaced_by_greedy", measure=how, prefer_mes=pm, prefer_greedy=pg)
        out.unfunded_why = {p: dict(why) for p in data.ids if p not in kept}
        out.unfunded = {p: reasons.render(w) for p, w in out.unfunded_why.items()}
    return _settled(out, data, tie_break, options)
