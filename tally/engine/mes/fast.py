"""MES in binary64 floats with certified error bounds: the decisions are exactly those of exact arithmetic.

The rule is `tally.engine.mes.definition` (Peters & Skowron 2020; Peters, Pierczyński & Skowron 2021).
Money is integer (budget, costs, points; the per-voter budget is b or budget/n). This fast path runs in
floats, but every float carries a rigorous error bound, and a decision is taken in floats only when the
bounds prove it; otherwise that round is decided in exact rationals (`tally.engine.mes.exact`). The argument
(u = 2^-53, the unit roundoff; K = number of supporters of the project at hand):

1. Each voter has a float m~ and a bound d >= |m~ - m| + 2u*m~ (the slack makes fl(m~ - d) <= m <= fl(m~ + d)
   despite the rounding of that subtraction/addition). At the start d covers the conversion of b to float.
2. F(rho) = sum_i min(m_i, rho * u_i) is nondecreasing, concave and piecewise linear in rho, and nondecreasing
   in every m_i. With L_i = m~_i - d_i and H_i = m~_i + d_i: F_L <= F <= F_H pointwise. Every float sum of
   K nonnegative terms is widened by marg = (K + 4) * 4u relative, a safe bound for its rounding.
   - certainly unaffordable: sum H_i < cost (widened); certainly affordable: sum L_i >= cost (widened);
   - a lower bound rho_lo: any x with F_H(x) < cost (widened) has x < rho. Newton's method on F_H from below
     produces such x (concavity: the tangent lies above F_H, so Newton iterates never pass the root);
   - an upper bound rho_hi: any x with F_L(x) >= cost (widened) has rho <= x; the candidate is the root of
     F_H moved up by (2 * sum d_i + 3 * marg * cost) / slope, and it is verified, never assumed.
   A project whose Newton iterate passes the current best's upper bound is certainly worse ('worse').
   In the first round everybody has the same money, and the exact price is closed-form (approval: rho' =
   cost / |S_c|, affordable iff per_voter * |S_c| >= cost); it is taken as after an exact round.
3. rho only grows during a run (money only falls), so a stale lower bound stays a lower bound: candidates sit
   in a heap keyed by it (lazy evaluation), and a project sharing no supporter with the last winner keeps its
   verified interval (its true rho did not change).
4. A round's winner is taken in floats only if it is certainly affordable and its rho_hi is below the rho_lo
   of every other candidate that could still be the minimum. Otherwise (near-ties, exact ties, uncertain
   affordability or a failed verification) the exact money of every class of voters is rebuilt by replaying
   the run's winners exactly (`_ExactState`), the candidates are evaluated exactly, ties go to the TieBreak,
   and the float money is re-synchronised from the exact values (so errors never accumulate past an exact
   round).
5. When a winner with true price rho in [rho_lo, rho_hi] is paid for, m'_i = max(m_i - rho * u_i, 0); the
   float update uses the midpoint rho~ and d'_i = (d_i + w * u_i + 3u * (m~_i + rho~ * u_i)) * (1 + 8u), w the
   half-width plus rounding: |max(a, 0) - max(b, 0)| <= |a - b|, so d' is again a bound with the slack of 1.
Every decision therefore equals the exact-arithmetic decision; `mes_reference` is what the tests compare with.

Speed: per-voter float money in NumPy, lazy heap, per-project "fresh" flags, Newton with early exit against
the current best, the first round in closed form. The supporter lists (built by one stable sort of the
flattened ballots) and per-project constants are shared by all Add1 steps. On approval ballots the tangent
at a certified point certifies the next lower bound without evaluating F there, and the upper bound is tried
at once from the tangent's root: proving a project worse than the round's best takes one pass over its
supporters, bracketing the winner's price two (Warsaw 2026: ~1.9 ms a run, 0.36 s for Add1's 186 runs, was
2.3 ms and 0.46 s; bench/tally.py). Runs at consecutive Add1 budgets can pass each other certificates
(`prior`, `record`: tally.engine.mes.chain).
"""

from __future__ import annotations

import heapq
import math
from fractions import Fraction

import numpy as np

from tally.engine.mes.data import MesData, MesRun, U
from tally.engine.mes.exact import _ExactState
from tally.engine.result import TieBreakRecord
from tally.engine.ties import TieBreak

# Constants of the error bounds, computed once (the same floats the expressions would give each time).
_DN8, _UP8 = 1 - 8 * U, 1 + 8 * U
_DN4, _UP4 = 1 - 4 * U, 1 + 4 * U
_UP16, _DN128 = 1 + 16 * U, 1 - 128 * U
_U3, _U4 = 3 * U, 4 * U
_INF = math.inf
_minimum, _add, _count_nonzero = np.minimum, np.add.reduce, np.count_nonzero


class _FastMes:
    """Float MES with rigorous error bounds and exact fallback (see the module docstring).

    Float state per voter: money m~ and a bound d >= |m~ - m| + 2u*m~ (np arrays of length n)."""

    def __init__(
        self,
        data: MesData,
        per_voter: Fraction,
        tie_break: TieBreak,
        context: str = "",
        guide: list[int] | None = None,
        prior: tuple[list[int], list] | None = None,
        record: bool = False,
    ):
        self.d = data
        # `prior`: (winners, trail) of a run at a HIGHER budget (tally.engine.mes.chain): while this run has
        # funded the same projects in the same order, the lower bounds and unaffordable projects it recorded
        # for a round are certificates here. `record`: keep this run's trail (per round, after the round's
        # evaluations: the lower bounds and the funded-or-unaffordable flags) for the run below.
        self.prior = prior
        self.trail: list | None = [] if record else None
        self.guide = guide  # winners of a similar run (the previous Add1 step): only the order of work
        self.per_voter = per_voter
        self.tb = tie_break
        self.context = context
        m0 = float(per_voter)
        self.money = np.full(data.n, m0)
        self.m0 = m0  # nobody ever has more than the start
        self.k = data.consts()
        # error bounds: every voter starts with e0; each funded round t adds delta_t to each of its payers,
        # so sum_{i in S_c} d_i = |S_c| * e0 + sum_t delta_t * |S_c & S_(w_t)| = err_sum[c] (kept for all c)
        self.e0 = (4 if Fraction(m0) != per_voter else 2) * U * m0
        self.err_sum = self.k.nsup * self.e0
        self.approval = len(data.uvals) == 1 and data.uvals[0] == 1
        self.exact: _ExactState | None = None
        self.exact_upto = 0
        self.exact_rounds = 0
        self.winners: list[int] = []
        # supporters' money gathered by _eval since the last payment (money changes only in _fund): the
        # winner's is paid from without gathering it again
        self.gathered: dict[int, np.ndarray] = {}
        self.ov_up = data._overlap_up  # per project: overlap * (1 + 8u) (see _fund)

    # -- the first round: everybody has the same money, the price is closed-form -----------------------
    def _first_round(self) -> list[tuple[int, float]]:
        """(project, criterion rho correctly rounded) of every affordable project at the start: with equal
        money m = p/q, the groups of equal utility in descending order are the ascending order of m / u, and
        `_exact_price`'s walk runs on integers."""
        d = self.d
        p, q = self.per_voter.numerator, self.per_voter.denominator
        out = []
        costs = d.costs
        if self.approval and d.cost_utility:
            for c, K in enumerate(self.k.nsup_int):
                if K and p * K >= costs[c] * q:
                    out.append((c, 1 / K))  # rho' = cost / K, rho = rho' / cost
            return out
        for c in range(d.P):
            groups = d.ugroups(c)
            if not groups:
                continue
            cost = costs[c]
            K = self.k.nsup_int[c]
            if p * K < cost * q:
                continue
            left = cost * q  # what is left of the cost, times q
            weight = d.scores[c]  # sum of utilities of the groups not yet paying all they have
            for u, cnt in groups:
                if p * weight >= left * u:
                    break
                left -= p * cnt
                weight -= cnt * u
            out.append((c, left / (q * weight * cost) if d.cost_utility else left / (q * weight)))
        return out

    # -- float evaluation -----------------------------------------------------------------------------
    def _eval(self, c: int, threshold: float, hint: float) -> tuple[str, float, float]:
        """Classify c against the current best: ('no' | 'worse' | 'yes' | 'maybe', rho'_lo, rho'_hi).

        'no': certainly unaffordable; 'worse': certainly rho' > threshold; 'yes': verified interval;
        'maybe': undecided in floats. rho' is the price per unit of utility weight (approval: the max
        payment). With S = sum of the supporters' error bounds, F_H <= F + S and F_L >= F - S (min is
        1-Lipschitz), F computed on the float money. A point x is a certified lower bound when
        (F(x) + S) < cost with the rounding margins, a certified upper bound when F(x) - S >= cost.
        Newton's method from below (F is concave, piecewise linear) finds the root; `hint` (a lower bound
        from an earlier round) is used as the start when it is certified."""
        k = self.k
        # take(mode="clip"): the same as indexing for valid indices, without its checks (~2x faster here)
        m = self.gathered[c] = self.money.take(self.d.supporters[c], mode="clip")
        u = None if self.approval else self.d.ufloat(c)
        cost = k.costf[c]
        marg = k.marg[c]
        marg1 = 1 + marg
        S = float(self.err_sum[c]) * marg1
        minimum, add = _minimum, _add  # add.reduce: what ndarray.sum runs, without the wrapper
        # F(x) <= w_all * x: this start is certified unless the error bounds are huge
        x = max(cost * (1 - 3 * marg) - 2 * S, 0.0) / k.w_all[c] * _DN8
        certified = f_cert = -1.0
        x0 = x
        if hint > x:
            x = hint  # usually certified; if not (hint above the root), restart from x0
        w = k.w_all[c]
        f_at_x: float | None = None  # F at x when it is already known (approval: the tried upper bound)
        for _ in range(64):
            if f_at_x is not None:
                f, f_at_x = f_at_x, None
            elif u is None:
                f = float(add(minimum(m, x)))
            else:
                xu = x * u
                f = float(add(minimum(m, xu)))
            fh = (f + S) * marg1
            if fh >= cost:
                if certified < 0 and x > x0:
                    x = x0
                    continue
                break  # x is at the root (up to the error bounds)
            certified, f_cert = x, f
            if x > threshold:
                return "worse", x, _INF  # the price is certainly above the current best
            w = float(_count_nonzero(m > x)) if u is None else float(u[m > xu].sum())
            if w == 0:
                # everybody pays all they have at x, and F_H(x) < cost is certified: never affordable
                return "no", _INF, _INF
            step = (cost - fh) / w
            if step <= x * 1e-15:
                break
            if u is None:
                # Approval: w is the exact right slope of the concave F~ at x (a count), so its tangent
                # bounds it above: F(y) <= f * (1 + marg) + S + w * (y - x) for y >= x (three nonnegative
                # terms, at most 6u of rounding). A point y just short of the tangent's root is then a
                # certified lower bound without evaluating F there, which settles 'worse' in one evaluation;
                # and the upper bound is tried at once from the tangent's root (verified by evaluating F_L,
                # never assumed), which settles 'yes' in two when no breakpoint lies in between.
                y = x + (cost / _UP16 - f * marg1 - S) / w * _DN4
                if y > x and (f * marg1 + S + w * (y - x)) * _UP8 < cost:
                    if y > threshold:
                        return "worse", y, _INF
                    r_hi = (x + step) * _UP4 + (2 * S + 3 * marg * cost) / w
                    # No float money in (x, r_hi] (a count, cheaper than a sum): F~ is linear there,
                    # F~(r_hi) = F~(x) + w (r_hi - x) exactly, with F~(x) >= f (1 - marg). (1 - 128u) covers
                    # the rounding of this bound and the summation error of f against that of F~(r_hi)
                    # (numpy's pairwise sums: well under 64u here), so it holds only where evaluating F at
                    # r_hi would also certify r_hi: the same answer, one pass over the supporters fewer.
                    if (
                        _count_nonzero(m > r_hi) == w
                        and (f + w * (r_hi - x)) * (1 - marg) * _DN128 - S >= cost
                    ):
                        return "yes", y, r_hi
                    f_hi = float(add(minimum(m, r_hi)))
                    if f_hi * (1 - marg) - S >= cost:
                        return "yes", y, r_hi
                    # F_L(r_hi) < cost: the root is above r_hi; go on from there (F known)
                    x, f_at_x = r_hi, f_hi
                    continue
            x += step
        wb = max(w, 1.0)
        if certified < x:
            # the last iterate sits at the root: step back by the rounding and certify that point
            back = x * _DN4 - 3 * marg * cost / wb
            if back > certified:
                # approval: w is the exact right slope of F at `certified` (a count), so by concavity
                # F(back) <= F(certified) + w * (back - certified) <= f_cert * (1 + marg) + w * (...); the
                # three nonnegative terms carry at most 6u of rounding. Otherwise (or if that bound is not
                # enough) evaluate F at back.
                if (
                    u is None
                    and certified >= 0
                    and (f_cert * marg1 + S + w * (back - certified)) * _UP8 < cost
                ):
                    certified = back
                else:
                    f = float(add(minimum(m, back if u is None else back * u)))
                    if (f + S) * marg1 < cost:
                        certified = back
        if certified < 0:
            return "maybe", 0.0, _INF
        if certified > threshold:
            return "worse", certified, _INF
        r_hi = x * _UP4 + (2 * S + 3 * marg * cost) / wb
        f = float(add(minimum(m, r_hi if u is None else r_hi * u)))
        if f * (1 - marg) - S < cost:
            return "maybe", certified, _INF
        return "yes", certified, r_hi

    # -- exact state ----------------------------------------------------------------------------------
    def _exact_state(self) -> _ExactState:
        if self.exact is None:
            self.exact = _ExactState(self.d, self.per_voter)
        for w in self.winners[self.exact_upto :]:
            self.exact.apply(w)
        self.exact_upto = len(self.winners)
        return self.exact

    # -- the run --------------------------------------------------------------------------------------
    def run(self) -> MesRun:
        d = self.d
        P = d.P
        lo = [0.0] * P  # bounds of the criterion rho (cost utilities: rho'/cost; points: rho')
        hi = [_INF] * P
        status = [""] * P
        fresh = [False] * P
        scale = self.k.scale
        heap: list[tuple[float, int]] = []
        for c, f in self._first_round():  # exact values, as after an exact round
            lo[c], hi[c], status[c], fresh[c] = f * _DN4, f * _UP4, "yes", True
            heap.append((lo[c], c))
        heapq.heapify(heap)
        ties: list[TieBreakRecord] = []
        total = 0
        heappop, heappush = heapq.heappop, heapq.heappush
        gone = [True] * P  # funded, or certainly never affordable again (or never supported)
        for _, c in heap:
            gone[c] = False
        guide = self.guide
        prior_w, prior_trail = self.prior if self.prior is not None else ((), None)
        same = prior_trail is not None  # the same projects funded as the prior run, so far
        while heap:
            popped: list[int] = []
            deferred: list[int] = []  # certainly worse than this round's best: back to the heap after it
            best_hi = _INF
            t = len(self.winners)
            pt = prior_trail[t] if same and t < len(prior_trail) else None  # type: ignore[index]
            if guide is not None and t < len(guide) and not gone[g := guide[t]] and not fresh[g]:
                # the winner of this round in the previous Add1 step: likely the winner again, so evaluated
                # first, its upper bound makes the other evaluations cheap ('worse'). It stays in the heap.
                if pt is not None and pt[0][g] > lo[g]:
                    lo[g] = pt[0][g]
                st, rl, rh = self._eval(g, _INF, lo[g] / scale[g] * _DN4)
                if st == "no":
                    gone[g] = True
                else:
                    lo[g], hi[g], status[g], fresh[g] = (
                        rl * scale[g] * _DN4,
                        rh * scale[g] * _UP4,
                        st,
                        True,
                    )
                    if st == "yes":
                        best_hi = hi[g]
            while heap and heap[0][0] <= best_hi:
                _, c = heappop(heap)
                if gone[c]:
                    continue
                if not fresh[c]:
                    if pt is not None:  # the prior run's certificates for this round (tally.engine.mes.chain)
                        if pt[1][c]:
                            gone[c] = True
                            continue
                        if pt[0][c] > lo[c]:
                            lo[c] = pt[0][c]
                        if lo[c] > best_hi:
                            deferred.append(c)
                            continue
                    sc = scale[c]
                    thr = best_hi / sc * _UP4 if best_hi < _INF else _INF
                    st, rl, rh = self._eval(c, thr, lo[c] / sc * _DN4)
                    if st == "no":
                        gone[c] = True
                        continue  # money only falls: never affordable again
                    lo[c] = rl * sc * _DN4
                    if st == "worse":  # > best_hi: cannot win this round
                        deferred.append(c)
                        continue
                    hi[c] = rh * sc * _UP4
                    status[c] = st
                    fresh[c] = True
                popped.append(c)
                if status[c] == "yes" and hi[c] < best_hi:
                    best_hi = hi[c]
            for c in deferred:
                heappush(heap, (lo[c], c))
            if not popped:
                break
            contenders = [c for c in popped if lo[c] <= best_hi]
            winner: int | None = None
            exact_rho: Fraction | None = None
            if len(contenders) == 1 and status[contenders[0]] == "yes":
                winner = contenders[0]
            else:
                self.exact_rounds += 1
                ex = self._exact_state()
                exact: dict[int, Fraction] = {}
                for c in contenders:
                    r = ex.price(c)
                    if r is None:
                        popped.remove(c)  # exactly unaffordable: gone for good
                        fresh[c] = False
                        gone[c] = True
                        continue
                    exact[c] = r
                if not exact:
                    for c in popped:
                        heappush(heap, (lo[c], c))
                    continue  # nothing affordable among the contenders: look further down the heap
                crits = {c: (r / d.costs[c] if d.cost_utility else r) for c, r in exact.items()}
                best = min(crits.values())
                tied = [c for c in exact if crits[c] == best]
                winner = tied[0]
                if len(tied) > 1:
                    wid, rec = self.tb.pick(
                        [d.ids[c] for c in tied],
                        cost=lambda p: d.costs[d.index[p]],
                        score=lambda p: d.scores[d.index[p]],
                        context=f"{self.context}MES round {len(self.winners) + 1}",
                    )
                    if rec is not None:
                        ties.append(rec)
                    winner = d.index[wid]
                exact_rho = exact[winner]
                for c, r in crits.items():
                    f = float(r)
                    lo[c], hi[c], status[c] = f * _DN4, f * _UP4, "yes"
            popped.remove(winner)
            if self.trail is not None:
                self.trail.append((lo[:], gone[:]))
            if same:
                same = t < len(prior_w) and prior_w[t] == winner
            for c in popped:
                heappush(heap, (lo[c], c))
            self._fund(winner, exact_rho, lo[winner] / scale[winner], hi[winner] / scale[winner])
            self.winners.append(winner)
            gone[winner] = True
            total += d.costs[winner]
            # projects sharing a supporter with the winner are stale: nearly all of them on large
            # electorates, so a new list keeps the few that stay fresh
            was, fresh = fresh, [False] * P
            for c in d.unaffected_by(winner):
                fresh[c] = was[c]
        return MesRun(
            per_voter=self.per_voter,
            winners=list(self.winners),
            ties=ties,
            exact_rounds=self.exact_rounds,
            total_cost=total,
        )

    def _fund(self, w: int, exact_rho: Fraction | None, r_lo: float, r_hi: float) -> None:
        sup = self.d.supporters[w]
        m = self.gathered.pop(w, None)
        self.gathered.clear()
        if exact_rho is not None:
            # decided exactly: bring the exact state up to date and copy it into the floats
            ex = self._exact_state()
            ex.apply(w, exact_rho)
            self.exact_upto += 1
            self.money = ex.float_money()
            self.e0 = _U4 * self.m0
            self.err_sum = self.k.nsup * self.e0
            return
        rho = (r_lo + r_hi) / 2
        half = (r_hi - r_lo) / 2 * _UP8 + _U4 * r_hi
        if self.approval:
            pay = rho
            u_max = 1.0
        else:
            pay = rho * self.d.ufloat(w)
            u_max = float(self.d.uvals[-1])
        if m is None:
            m = self.money.take(sup, mode="clip")
        m -= pay
        self.money[sup] = np.maximum(m, 0.0, out=m)
        # |error| <= d + half * u + rounding of the subtraction, plus the 2u*m slack (module docstring, 5.)
        delta = (half * u_max + _U3 * (self.m0 + rho * u_max)) * _UP8
        # overlap * (1 + 8u) kept per project: one NumPy operation fewer a round; its rounding and that of
        # the product (2u) are within the (1 + 8u) the bound carries for them
        ov = self.ov_up.get(w)
        if ov is None:
            ov = self.ov_up[w] = self.d.overlap(w) * _UP8
        self.err_sum += delta * ov


def mes_run(
    data: MesData,
    per_voter: Fraction | int,
    tie_break: TieBreak,
    context: str = "",
    guide: list[int] | None = None,
) -> MesRun:
    """One fixed-budget MES run (fast path, exact decisions). `guide`: the winners of a similar run, whose
    round-t winner is evaluated first in round t (it changes the work, never the outcome)."""
    return _FastMes(data, Fraction(per_voter), tie_break, context, guide).run()
