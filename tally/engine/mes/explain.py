"""Why MES funded what it funded, and why not the rest: the explanation of one run, every figure exact.

The kept run's winners are replayed in exact arithmetic (`tally.engine.mes.exact`), so each round's price,
the supporters' money before it and what each paid are exact rationals, shown as "p/q" strings plus a
rounded decimal string (no JSON floats: canonical JSON refuses them). Each round and each unfunded project
also carries a structured reason (`tally.engine.reasons`): a code and its numbers, from which the English
sentence is rendered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tally.engine import reasons
from tally.engine.mes.data import MesData, MesRun
from tally.engine.mes.exact import _ExactState

_fmt = reasons.exact
_dec = reasons.decimal


def explain(data: MesData, run: MesRun) -> tuple[list[dict], dict[str, dict[str, Any]]]:
    """Rounds and the structured reasons of the supported projects left unfunded, from an exact replay of
    the run's winners (every figure exact). Projects nobody supported are left to `tally.engine.unsupported`.

    An unfunded project's reason names the funded project that shares the most of its supporters
    (`shared_with`, the earlier round on equal counts): where its supporters' money most likely went. It is
    counted, not estimated: tracking each project's exact money round by round would cost 0.075 s on
    Warsaw 2026, three times the whole explanation."""
    ex = _ExactState(data, run.per_voter)
    rounds: list[dict] = []
    total = 0
    funded = set(run.winners)
    per_voter = {"per_voter_budget": _fmt(run.per_voter), "per_voter_budget_decimal": _dec(run.per_voter)}
    utilities = "cost" if data.cost_utility else "points"
    for r, w in enumerate(run.winners, start=1):
        paid = ex.apply(w)
        rho, have = paid.rho, paid.have
        cost = data.costs[w]
        max_pay = rho * paid.u_max
        eff = cost / rho  # cost utilities: cost / max payment (effective vote count); points: cost / price
        payers_full = paid.paid_all
        total += cost
        n_sup = paid.supporters
        entry: dict[str, Any] = {
            "round": r,
            "project": data.ids[w],
            "decision": "funded",
            "cost": cost,
            "supporters": n_sup,
            "score": data.scores[w],
            "effective_vote_count" if data.cost_utility else "effective_points": _fmt(eff),
            "effective_decimal": _dec(eff, 3),
            "max_payment": _fmt(max_pay),
            "max_payment_decimal": _dec(max_pay),
            "supporters_money_before": _fmt(have),
            "supporters_money_before_decimal": _dec(have),
            "supporters_paying_all_they_had": payers_full,
            "total_cost_after": total,
        }
        if not data.cost_utility:
            entry["price_per_point"] = _fmt(rho)
        entry["why"] = reasons.why(
            "funded_equal_shares",
            round=r,
            cost=cost,
            supporters=n_sup,
            score=data.scores[w],
            utilities=utilities,
            **per_voter,
            **reasons.amount("money_before", have),
            **reasons.amount("max_payment", max_pay),
            **reasons.amount("effective", eff, 3),
            paid_all=payers_full,
        )
        entry["reason"] = reasons.render(entry["why"])
        rounds.append(entry)
    unfunded: dict[str, dict[str, Any]] = {}
    shared_with = _shared_with(data, run.winners)
    for c in range(data.P):
        n_sup = len(data.supporters[c])
        if c in funded or n_sup == 0:
            continue
        cost = data.costs[c]
        shared = shared_with[c]
        if run.per_voter * n_sup < cost:
            unfunded[data.ids[c]] = reasons.why(
                "short_at_start",
                supporters=n_sup,
                cost=cost,
                **per_voter,
                **reasons.amount("money_start", run.per_voter * n_sup),
                **shared,
            )
            continue
        unfunded[data.ids[c]] = reasons.why(
            "not_enough_money",
            supporters=n_sup,
            cost=cost,
            **per_voter,
            **reasons.amount("money_left", ex.supporters_money(c)),
            **shared,
        )
    return rounds, unfunded


def _shared_with(data: MesData, winners: list[int]) -> dict[int, dict[str, Any]]:
    """Per project c: the funded project sharing the most supporters with c, its round and that number
    (None, None, 0 when none shares any). One (rounds x projects) matrix of the overlaps the run cached."""
    if not winners:
        return {
            c: {"shared_with": None, "shared_with_round": None, "shared_supporters": 0} for c in range(data.P)
        }
    overlaps = np.stack([data.overlap(w) for w in winners])
    first_max = np.argmax(overlaps, axis=0).tolist()  # the earliest round on equal counts
    counts = overlaps.max(axis=0).astype(np.int64).tolist()
    return {
        c: {
            "shared_with": data.ids[winners[r]] if n else None,
            "shared_with_round": r + 1 if n else None,
            "shared_supporters": n,
        }
        for c, (r, n) in enumerate(zip(first_max, counts, strict=True))
    }
