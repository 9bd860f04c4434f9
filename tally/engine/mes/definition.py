"""The Method of Equal Shares as the papers define it, in exact rationals: the reference every faster path
is tested against.

Sources: Peters & Skowron 2020, "Proportionality and the limits of welfarism" (EC 2020), Rule X; Peters,
Pierczyński & Skowron 2021, "Proportional participatory budgeting with additive utilities" (NeurIPS 2021),
the Method of Equal Shares for participatory budgeting.

Each voter starts with an equal share of the budget (budget / n, or an integer b in the Add1 search). One
round: for every remaining project c with supporters S_c, find the least price rho per unit of utility with
sum_{i in S_c} min(m_i, rho * u_i(c)) = cost(c); c is affordable iff sum_{i in S_c} m_i >= cost(c). The
affordable project with the least rho wins (cost utilities: the least rho / cost, i.e. the highest effective
vote count cost / max payment); each supporter pays min(m_i, rho * u_i(c)). The run ends when no project is
affordable. Projects whose criterion is exactly equal are separated only by the declared `TieBreak` chain
(default: lower cost, higher score = votes or points, published order); every tie broken is recorded
(context "MES round r").

`mes_reference` does exactly that (every voter's money a Fraction, every project re-evaluated every round).
It is slow on purpose: `tally.engine.mes.fast` must return the same winners and ties, which the tests check
on random instances, crafted ties included.
"""

from __future__ import annotations

from fractions import Fraction

from tally.engine.mes.data import MesData
from tally.engine.result import TieBreakRecord
from tally.engine.ties import TieBreak


def _fsum(terms) -> Fraction:
    """Exact sum of m * n (Fraction m, int n): integer sums per denominator, then one Fraction per
    distinct denominator (classes made in the same round share denominators, so there are few)."""
    by_den: dict[int, int] = {}
    for m, n in terms:
        d = m.denominator
        by_den[d] = by_den.get(d, 0) + m.numerator * n
    return sum((Fraction(num, d) for d, num in by_den.items()), Fraction(0))


def _exact_price(
    cost: int, groups: list[tuple[Fraction, int, int]], *, affordable: bool = False
) -> Fraction | None:
    """Least rho' with sum cnt * min(m, rho' * u) = cost over groups (money m, count cnt, utility u);
    None if the groups' money does not cover the cost (not checked when `affordable` is known)."""
    if not affordable and _fsum((m, cnt) for m, cnt, _ in groups) < cost:
        return None
    # ascending m / u: a float pre-sort, then the exact sort (Timsort: linear on nearly sorted input)
    if all(u == 1 for _, _, u in groups):
        order = sorted(sorted(groups, key=lambda g: float(g[0])), key=lambda g: g[0])
    else:
        order = sorted(sorted(groups, key=lambda g: float(g[0]) / g[2]), key=lambda g: g[0] / g[2])
    # The predicate "group j pays rho_j * u in full" (rho_j = what is left / weight of groups j..) is false,
    # ..., false, true, ..., true along this order, and the price is rho_j at the first true j. Guess that j
    # in floats, confirm it exactly (j true, j - 1 false); if the guess fails, walk exactly.
    total_w = sum(cnt * u for _, cnt, u in order)
    left_f, weight, j = float(cost), total_w, 0
    for j, (m, cnt, u) in enumerate(order):  # noqa: B007 - j is used after the loop
        mf = float(m)
        if mf * weight >= left_f * u:
            break
        left_f -= mf * cnt
        weight -= cnt * u
    left = cost - _fsum((m, cnt) for m, cnt, _ in order[:j])
    weight = total_w - sum(cnt * u for _, cnt, u in order[:j])
    m, cnt, u = order[j]
    if m * weight >= left * u:
        if j == 0:
            return left / weight
        pm, pc, pu = order[j - 1]
        if not pm * (weight + pc * pu) >= (left + pm * pc) * pu:
            return left / weight
    left = Fraction(cost)
    weight = total_w
    for m, cnt, u in order:  # the exact walk (the float guess was off)
        if m * weight >= left * u:
            return left / weight
        left -= m * cnt
        weight -= cnt * u
    raise AssertionError("unreachable: covered cost has a price")  # pragma: no cover


def mes_reference(
    data: MesData, per_voter: Fraction | int, tie_break: TieBreak, context: str = ""
) -> tuple[list[int], list[TieBreakRecord]]:
    """Slow, obviously exact MES: every voter's money a Fraction, every project re-evaluated every round."""
    money = [Fraction(per_voter)] * data.n
    util = [
        dict(zip(data.supporters[c].tolist(), (data.uvals[k] for k in data.ucodes[c].tolist()), strict=True))
        for c in range(data.P)
    ]
    remaining = {c for c in range(data.P) if util[c]}
    winners: list[int] = []
    ties: list[TieBreakRecord] = []
    while True:
        prices: dict[int, Fraction] = {}
        for c in sorted(remaining):
            groups = [(money[i], 1, u) for i, u in util[c].items()]
            rho = _exact_price(data.costs[c], groups)
            if rho is None:
                remaining.discard(c)
            else:
                prices[c] = rho / data.costs[c] if data.cost_utility else rho
        if not prices:
            return winners, ties
        best = min(prices.values())
        tied = [c for c in prices if prices[c] == best]
        w = tied[0]
        if len(tied) > 1:
            wid, rec = tie_break.pick(
                [data.ids[c] for c in tied],
                cost=lambda p: data.costs[data.index[p]],
                score=lambda p: data.scores[data.index[p]],
                context=f"{context}MES round {len(winners) + 1}",
            )
            ties.append(rec)
            w = data.index[wid]
        rho = best * data.costs[w] if data.cost_utility else best
        for i, u in util[w].items():
            money[i] = max(money[i] - rho * u, Fraction(0))
        winners.append(w)
        remaining.discard(w)
