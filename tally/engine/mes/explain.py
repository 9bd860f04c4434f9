"""Why MES funded what it funded, and why not the rest: the explanation of one run, every figure exact.

The kept run's winners are replayed in exact arithmetic (`tally.engine.mes.exact`), so each round's price,
the supporters' money before it and what each paid are exact rationals, shown as "p/q" strings plus a
rounded decimal string (no JSON floats: canonical JSON refuses them). Each round and each unfunded project
also carries a structured reason (`tally.engine.reasons`): a code and its numbers, from which the English
sentence is rendered.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from tally.engine.mes.data import MesData, MesRun
from tally.engine.mes.exact import _ExactState


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _dec(x: Fraction, places: int = 2) -> str:
    q = round(x * 10**places)
    sign = "-" if q < 0 else ""
    q = abs(q)
    return f"{sign}{q // 10**places}.{q % 10**places:0{places}d}" if places else f"{sign}{q}"


def _money(x: Fraction) -> str:
    """Money for people: whole units with thousands separators when exact, else two decimals."""
    if x.denominator == 1:
        return f"{x.numerator:,}"
    return f"{float(x):,.2f}"


def explain(data: MesData, run: MesRun) -> tuple[list[dict], dict[str, str]]:
    """Rounds and unfunded reasons of a run, from an exact replay of its winners (every figure exact)."""
    ex = _ExactState(data, run.per_voter)
    rounds: list[dict] = []
    total = 0
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
        entry["reason"] = (
            f"highest effective {'vote count' if data.cost_utility else 'support'} {_dec(eff, 3)}: "
            f"its {n_sup:,} supporters had {_money(have)} left, it cost {cost:,}; "
            f"each paid at most {_money(max_pay)}"
        )
        rounds.append(entry)
    unfunded: dict[str, str] = {}
    funded = set(run.winners)
    for c in range(data.P):
        if c in funded:
            continue
        n_sup = len(data.supporters[c])
        if n_sup == 0:
            unfunded[data.ids[c]] = "no votes: a project nobody supports is never funded"
            continue
        start = run.per_voter * n_sup
        cost = data.costs[c]
        if start < cost:
            unfunded[data.ids[c]] = (
                f"its {n_sup:,} supporters had {_money(start)} at the start "
                f"({_money(run.per_voter)} each), it needed {cost:,}"
            )
        else:
            unfunded[data.ids[c]] = (
                f"its {n_sup:,} supporters had {_money(ex.supporters_money(c))} left in total, "
                f"it needed {cost:,}"
            )
    return rounds, unfunded
