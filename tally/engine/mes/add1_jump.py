"""How far an MES outcome stays the same as the per-voter budget grows: the jump of the Add1 search.

Add1 (Peters, Pierczyński & Skowron, "Proportional Participatory Budgeting with Additive Utilities",
NeurIPS 2021; equalshares.net "completion by varying the budget"; as certified in Wieliczka 2023) runs MES at
the per-voter budgets b = floor(budget / n), b + 1, ... and keeps the last outcome before the first that
overspends. Its cost in steps grows with the size of the currency unit. This module gives, for one integer
b, the MES winners at b and an integer `until` > b such that MES selects the same projects in the same
order (with the same ties) at every integer budget in [b, until): the Add1 search can then jump to `until`
without skipping a budget at which stepping one unit at a time would stop or change its answer.

Why it is exact. Fix the decisions of the MES run at b (in each round: the winner, the tied projects, which
of the winner's supporters pay all they have left). Under those decisions every voter's money is an affine
function of the per-voter budget x: m_i(x) = v_i + s_i (x - b) (v_i its exact value at b, s_i its slope;
at the start v_i = b, s_i = 1), and so is the winner's price rho(x) = (cost - sum_B m_i) / sum_R u_i
(B: the groups paying all they have, R: the rest), and the money after the payment (B: 0, R: m_i - rho u_i).
The decisions stay valid as long as, in every round,
  - the winner's price formula holds: m_i <= rho u_i on B and m_i >= rho u_i on R (then F(rho) = cost and
    F < cost below rho, F(y) = sum_i min(m_i, y u_i): rho is the least root and the winner is affordable);
  - a project tied with the winner at b stays tied: its price formula holds and its criterion (rho / cost
    for cost utilities, rho for points) has the winner's slope;
  - every other unfunded project c stays strictly worse or unaffordable: G_c(x) = F_c(y_c(x)) - cost_c < 0,
    where y_c(x) is the price of c at the winner's criterion (criterion <= the winner's iff F_c reaches
    cost_c there; an unaffordable c never does). G_c is a sum of minima of affine functions, so it is concave
    and piecewise linear in x: the tangent from the left lies above it, and Newton's method from b never
    passes its first root. Each step is rounded up to a whole unit and re-evaluated, so `until` is the
    first integer at which G_c >= 0 (or a lower bound when the iteration is capped; a lower bound only costs
    an extra evaluation);
  - after the last round every unfunded project stays unaffordable (an affine inequality).
Each condition is linear (or, for G_c, concave) in x; `until` is the least integer at which any of them can
fail, computed in exact rationals (Fraction). By induction over the rounds, on [b, until) the affine model
is the true money and every decision equals the one at b, so the winners are the same. Discarding an
unaffordable project is not a decision that matters: at a fixed budget money only falls, so an unaffordable
project never becomes affordable later in the run.

The winners come from the fast MES run at b (`tally.engine.mes.fast.mes_run`, exact decisions) and are
checked here exactly: each round's winner must be affordable, no other project strictly cheaper, tied
projects must lose the TieBreak to it, and nothing may be affordable at the end; otherwise the run is
reported inconsistent (`consistent=False`: the caller steps one unit; the tests require that it never
happens). Two passes: first
the winners' price formulas, one project a round (on large electorates some voter's "pays all or not"
usually flips within a unit, and the analysis gives up there, cheaply); then every other project in every
round. A losing project is first screened in floats: upper bounds of G_c(0) and of its right slope (any
term of a minimum bounds it; where the floats cannot order m_i and y u_i the larger slope is taken;
margins of 1e-9 relative against errors of ~1e-15) that prove G_c < 0 up to the current `until` settle it;
only the others go through the exact iteration.

Voters with the same money function are kept as one class (those who supported the same funded projects
with the same points and paid all or not alike), so the work per round grows with the number of classes,
not of voters.

Figures (bench/tally.py, CPU seconds, shared 2-core machine): 100 voters, 8 projects, budget 10^12:
13 MES runs, ~0.02 s (stepping would need ~6 x 10^9 runs); Warsaw 2026 (61,668 voters): the analysis gives
up within a unit at nearly every budget, the search steps, ~0.36 s as by stepping (2026-12-07).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from tally.engine.mes.data import MesData
from tally.engine.ties import TieBreak

_Group = tuple[Fraction, Fraction, int, int, int]
NEVER = math.inf  # no condition can fail: the outcome is the same at every larger budget
_NEWTON_STEPS = 64


@dataclass
class AffineRun:
    """The analysis of the MES run at the integer per-voter budget `per_voter` whose winners were given.
    `until`: the outcome is the same at every integer budget in [per_voter, until); meaningful only when
    `complete` (the analysis gave up early, once the outcome could change before per_voter + stop_at) and
    `consistent` (the exact analysis confirms the given winners: the winner of each round is affordable, no
    other project is strictly better, ties go to it by the TieBreak, nothing is affordable at the end)."""

    per_voter: int
    until: int | float
    complete: bool = True
    consistent: bool = True


def _first_negative(h0: Fraction, h1: Fraction) -> int | float:
    """Least integer t >= 1 with h0 + h1 t < 0, given h0 >= 0."""
    if h1 >= 0:
        return NEVER
    return math.floor(h0 / -h1) + 1


def _first_nonnegative(a0: Fraction, a1: Fraction) -> int | float:
    """Least integer t >= 1 with a0 + a1 t >= 0, given a0 < 0."""
    if a1 <= 0:
        return NEVER
    return max(1, math.ceil(-a0 / a1))


def _first_reaching(
    groups: list[_Group], y0: Fraction, y1: Fraction, cost: int, cap: int | float
) -> int | float:
    """Least integer t >= 1 with G(t) = sum cnt * min(v + s t, (y0 + y1 t) u) - cost >= 0, given G(0) < 0,
    or a lower bound of it that is >= cap. G is concave: Newton from the left, rounded up to whole units."""
    t = 0
    for _ in range(_NEWTON_STEPS):
        g = Fraction(-cost)
        slope = Fraction(0)
        y, dy = y0 + y1 * t, y1
        for v, s, cnt, u, _ in groups:
            m = v + s * t
            yu = y * u
            if m < yu:
                g += cnt * m
                slope += cnt * s
            elif m > yu:
                g += cnt * yu
                slope += cnt * dy * u
            else:
                g += cnt * m
                slope += cnt * min(s, dy * u)  # the right derivative of the minimum
        if g >= 0:
            return t  # t >= 1: G(0) < 0
        if slope <= 0:
            return NEVER  # concave, not increasing: G stays below its value at t
        t = math.ceil(t + (-g) / slope)  # G < 0 on [t, root of the tangent): the tangent lies above G
        if t >= cap:
            return t
    return t  # a lower bound: G < 0 at every integer below t


_SLACK = 1e-9  # relative; float errors here are ~1e-15 relative, so this bounds them with a wide margin


def _surely_below(
    m: np.ndarray, s: np.ndarray, cnt: np.ndarray, u: np.ndarray, y0: float, y1: float, cost: int, cap
) -> bool:
    """Whether G(t) = sum cnt * min(m + s t, (y0 + y1 t) u) - cost < 0 certainly holds for every t in
    [0, cap], judged in floats (m, s, y0, y1: the exact values correctly rounded). G is concave, so
    G(t) <= G(0) + S t with S its right derivative at 0; upper bounds of both suffice: min(a, b) <= either
    term, and where the floats cannot tell m from y0 u the larger of the two slopes is taken. False means
    "not proved" (the exact computation decides)."""
    yu = y0 * u
    g = float(cnt @ np.minimum(m, yu)) - cost
    g_hi = g + _SLACK * (float(cnt @ (m + yu)) + cost)
    if g_hi >= 0:
        return False
    y1u = y1 * u
    near = np.abs(m - yu) <= _SLACK * (m + yu)
    slope = np.where(near, np.maximum(s, y1u), np.where(m < yu, s, y1u))
    s_hi = float(cnt @ slope) + _SLACK * float(cnt @ (np.abs(s) + np.abs(y1u)))
    if s_hi <= 0:
        return True
    return cap != NEVER and g_hi + s_hi * cap < 0


class _AffineMes:
    def __init__(self, data: MesData, b: int, tie_break: TieBreak):
        self.d = data
        self.b = b
        self.tb = tie_break
        self.V = len(data.uvals)
        self.val: list[Fraction] = [Fraction(b)]  # money at b of each class
        self.slope: list[Fraction] = [Fraction(1)]  # its derivative in the per-voter budget
        self.class_of = np.zeros(data.n, dtype=np.int64)
        self.zero: int | None = None
        self.until: int | float = NEVER  # as an offset t from b: the outcome is the same for t < until

    def groups(self, c: int) -> list[_Group]:
        """(money at b, slope, count, utility, class * V + utility code) of the supporters of c."""
        d = self.d
        V = self.V
        cnt = np.bincount(self.class_of[d.supporters[c]] * V + d.ucodes[c], minlength=len(self.val) * V)
        nz = np.flatnonzero(cnt)
        return [
            (self.val[k // V], self.slope[k // V], n, d.uvals[k % V], k)
            for k, n in zip(nz.tolist(), cnt[nz].tolist(), strict=True)
        ]

    def _bound(self, t: int | float) -> None:
        if t < self.until:
            self.until = t

    @staticmethod
    def price(cost: int, groups: list[_Group]):
        """The exact price at b and its formula: (rho0, rho1, paid-all groups, other groups), rho(x) =
        rho0 + rho1 (x - b) per unit of utility. The groups must cover the cost."""
        order = sorted(groups, key=lambda g: g[0] / g[3])
        left = Fraction(cost)
        left1 = Fraction(0)
        weight = sum(cnt * u for _, _, cnt, u, _ in order)
        for j, (v, s, cnt, u, _) in enumerate(order):
            if v * weight >= left * u:
                return left / weight, left1 / weight, order[:j], order[j:]
            left -= v * cnt
            left1 -= s * cnt
            weight -= cnt * u
        raise AssertionError("unreachable: covered cost has a price")  # pragma: no cover

    def _formula_holds(self, rho0: Fraction, rho1: Fraction, paid_all, rest) -> None:
        """Bound `until` by the first budget at which the price formula stops holding."""
        for v, s, _, u, _ in paid_all:
            self._bound(_first_negative(rho0 * u - v, rho1 * u - s))
        for v, s, _, u, _ in rest:
            self._bound(_first_negative(v - rho0 * u, s - rho1 * u))

    def _pay(self, w: int, rho0: Fraction, rho1: Fraction, paid_all) -> None:
        d = self.d
        V = self.V
        sup = d.supporters[w]
        key = self.class_of[sup] * V + d.ucodes[w]
        key_sorted = np.sort(key)  # the distinct keys (np.unique would import numpy.ma: ~5 ms)
        uniq = key_sorted[np.concatenate(([True], key_sorted[1:] != key_sorted[:-1]))].tolist()
        all_pay = {k for *_, k in paid_all}
        new_of = np.zeros(len(self.val) * V, dtype=np.int64)
        for k in uniq:
            v, s, u = self.val[k // V], self.slope[k // V], d.uvals[k % V]
            if k in all_pay or (v == 0 and s == 0):
                if self.zero is None:
                    self.zero = len(self.val)
                    self.val.append(Fraction(0))
                    self.slope.append(Fraction(0))
                new_of[k] = self.zero
            else:
                new_of[k] = len(self.val)
                self.val.append(v - rho0 * u)
                self.slope.append(s - rho1 * u)
        self.class_of[sup] = new_of[key]

    def _groups_at(self, cls: np.ndarray, c: int) -> list[_Group]:
        saved, self.class_of = self.class_of, cls
        try:
            return self.groups(c)
        finally:
            self.class_of = saved

    def run(self, winners: list[int], stop_at: int = 1) -> AffineRun:
        """Two passes: first the winners' price formulas (cheap: one project a round; on large electorates
        this is where the analysis usually gives up), then every other project in every round."""
        d = self.d
        b = self.b
        gave_up = AffineRun(b, b + 1, complete=False)
        wrong = AffineRun(b, b + 1, consistent=False)
        live = [c for c in range(d.P) if len(d.supporters[c])]
        rounds = []
        for w in winners:
            if w not in live:
                return wrong
            gs = self.groups(w)
            if sum(v * cnt for v, _, cnt, _, _ in gs) < d.costs[w]:
                return wrong
            rho0, rho1, paid_all, rest = self.price(d.costs[w], gs)
            self._formula_holds(rho0, rho1, paid_all, rest)
            if self.until <= stop_at:
                return gave_up
            rounds.append((self.class_of.copy(), w, rho0, rho1))
            self._pay(w, rho0, rho1, paid_all)
            live.remove(w)
        for c in live:  # after the last round every unfunded project is, and stays, unaffordable
            gs = self.groups(c)
            a0 = sum((v * cnt for v, _, cnt, _, _ in gs), Fraction(-d.costs[c]))
            if a0 >= 0:
                return wrong
            self._bound(_first_nonnegative(a0, sum((s * cnt for _, s, cnt, _, _ in gs), Fraction(0))))

        def crit(c: int, r: Fraction) -> Fraction:
            return r / d.costs[c] if d.cost_utility else r

        live = [c for c in range(d.P) if len(d.supporters[c])]
        vf = np.asarray([float(x) for x in self.val])
        sf = np.asarray([float(x) for x in self.slope])
        uf = np.asarray(d.uvals, dtype=float)
        V = self.V
        for cls, w, rho0, rho1 in rounds:
            live.remove(w)
            k0, k1 = crit(w, rho0), crit(w, rho1)
            tied = [w]
            for c in live:
                cost = d.costs[c]
                y0, y1 = (k0 * cost, k1 * cost) if d.cost_utility else (k0, k1)
                cnt = np.bincount(cls[d.supporters[c]] * V + d.ucodes[c])
                nz = np.flatnonzero(cnt)
                ks = nz // V
                if _surely_below(
                    vf[ks], sf[ks], cnt[nz].astype(float), uf[nz % V], float(y0), float(y1), cost, self.until
                ):
                    continue  # c stays strictly worse or unaffordable up to `until` at least
                gs = self._groups_at(cls, c)
                g0 = sum((cnt * min(v, y0 * u) for v, _, cnt, u, _ in gs), Fraction(-cost))
                if g0 < 0:  # c is strictly worse or unaffordable at b: for how long?
                    self._bound(_first_reaching(gs, y0, y1, cost, self.until))
                    continue
                if sum(v * cnt for v, _, cnt, _, _ in gs) < cost:
                    return wrong
                formula = self.price(cost, gs)
                if crit(c, formula[0]) != k0:  # F_c reaches the cost at the winner's criterion: c is cheaper
                    return wrong
                tied.append(c)
                if crit(c, formula[1]) != k1:
                    self._bound(1)
                else:
                    self._formula_holds(*formula)
            if len(tied) > 1:
                wid, _ = self.tb.pick(
                    [d.ids[c] for c in sorted(tied)],
                    cost=lambda p: d.costs[d.index[p]],
                    score=lambda p: d.scores[d.index[p]],
                )
                if wid != d.ids[w]:
                    return wrong
            if self.until <= stop_at:
                return gave_up
        return AffineRun(b, b + self.until if self.until != NEVER else NEVER)


def affine_run(
    data: MesData, per_voter: int, winners: list[int], tie_break: TieBreak, *, stop_at: int = 1
) -> AffineRun:
    """Analyse the MES run at the integer per-voter budget `per_voter`, whose winners (in order) are
    `winners` (from the fast run), in exact arithmetic: how long its outcome lasts (module docstring).
    `stop_at`: give up once the outcome may change before per_voter + stop_at."""
    return _AffineMes(data, per_voter, tie_break).run(winners, stop_at)
