"""The Method of Equal Shares (Peters & Skowron), its Add1 completion and the comparison step.

Rules (registry ids):

- `equalshares`                  MES, no completion. Each voter starts with budget / n (exact rational).
- `equalshares/add1`             Add1 as certified in Wieliczka 2023 and Świecie 2023: start at
                                 floor(budget / n) per voter, raise by 1 per voter, run MES each time,
                                 stop when the NEXT step would overspend (total cost > budget) and keep
                                 the last outcome that fits. Option `add1_stop=exhaustive`: also stop at
                                 the first exhaustive outcome (no unselected project fits in what is
                                 left: equalshares.net "add1e", pabutools' `voter_budget_increment`).
                                 Computed by jumping over the budgets where the outcome provably stays
                                 the same (`add1`, `tally.engine.add1_jump`): the same result as one
                                 unit at a time, at a cost that does not grow with the currency unit.
                                 details["add1"]: the final per-voter budget, `steps` (budgets the
                                 stepping search examines), `evaluations` (MES runs made), the stop
                                 reason and a `trace` of [budget, total cost, number funded] at the
                                 first budget and wherever the outcome (projects in order) changes.
- `equalshares/add1u`            Add1, then utilitarian greedy completion (by score, fund what still fits).
- `equalshares/add1-comparison`  Add1, then the comparison step against `greedy` (below).

Utilities: approval / choose-1 ballots use cost utilities (u_i(c) = cost(c) for every supporter: the
equalshares.net and pabutools `Cost_Sat` convention); cumulative / scoring ballots use the points as utilities
(Aarau 2023; pabutools `Additive_Cardinal_Sat`). A project nobody supports is never funded.

One MES round: for every remaining project c with supporters S_c, find the least price rho per unit of utility
with sum_{i in S_c} min(m_i, rho * u_i(c)) = cost(c); c is affordable iff sum_{i in S_c} m_i >= cost(c).
The affordable project with the least rho wins (cost utilities: the highest effective vote count cost / max
payment); each supporter pays min(m_i, rho * u_i(c)). Projects whose rho is exactly equal are separated only
by the declared `TieBreak` chain (default: lower cost, higher score = votes or points, published order); every
tie broken is recorded (`Outcome.tie_breaks`, context "MES round r", for Add1 the ties of the kept run).

Exactness (the decisions are exactly those of exact rational arithmetic)
-----------------------------------------------------------------------
Money is integer (budget, costs, points; the per-voter budget is b or budget/n). The fast path runs in
binary64 floats, but every float carries a rigorous error bound, and a decision is taken in floats only when
the bounds prove it; otherwise that round is decided in exact rationals (`fractions.Fraction`). The argument
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
   affordability or a failed verification) the exact money of every class of voters (voters who supported
   the same funded projects with the same points have equal money) is rebuilt by replaying the run's winners
   exactly, the candidates are evaluated exactly, ties go to the TieBreak, and the float money is
   re-synchronised from the exact values (so errors never accumulate past an exact round). The exact state
   (`_ExactState`) holds each class's money as an integer numerator over one common denominator, so sums
   and comparisons are integer operations; an exact price is found from a float guess of which groups pay
   all they have, confirmed by exact comparisons wherever the floats could be wrong (`_int_price`), and by
   an exact sort and walk when the guess fails.
5. When a winner with true price rho in [rho_lo, rho_hi] is paid for, m'_i = max(m_i - rho * u_i, 0); the
   float update uses the midpoint rho~ and d'_i = (d_i + w * u_i + 3u * (m~_i + rho~ * u_i)) * (1 + 8u), w the
   half-width plus rounding: |max(a, 0) - max(b, 0)| <= |a - b|, so d' is again a bound with the slack of 1.
The Add1 stop test compares integer sums of integer costs with the integer budget. Every decision therefore
equals the exact-arithmetic decision. `mes_reference` (pure Fraction, every project re-evaluated every round)
is the slow reference the tests compare with on random instances, crafted ties included. The explanation
(rounds, payments, money left) comes from an exact replay of the kept run, so every figure shown is exact
("p/q" strings plus a rounded decimal string; no JSON floats: canonical JSON refuses them).

Speed: per-voter float money in NumPy, lazy heap, per-project "fresh" flags, Newton with early exit against
the current best, the first round in closed form. The supporter lists (built by one stable sort of the
flattened ballots) and per-project constants are shared by all Add1 steps.

Comparison step (equalshares.net `comparisonStep`, its "satisfaction" measure): a voter's satisfaction with
an outcome is the number of funded projects the voter approved; count the voters whose satisfaction is
strictly higher under MES and those strictly higher under greedy (by approvals, skip what does not fit);
switch to greedy only if strictly more voters prefer it. (The equalshares.net script skips voters with no
funded project in one of the outcomes, a JavaScript `undefined` comparison; we count them. Wieliczka 2023
gives the published 1,615 for MES and 873 for greedy.) Option `comparison=cost` compares the total cost of
each voter's approved funded projects instead (cost utilities).
"""

from __future__ import annotations

import heapq
import math
import operator
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain
from typing import Any

import numpy as np

from tally.engine import model, scoring
from tally.engine.registry import rule
from tally.engine.result import Outcome, TieBreakRecord
from tally.engine.ties import TieBreak

U = 2.0**-53  # unit roundoff of binary64
APPROVAL_TYPES = ("approval", "choose-1")
POINTS_TYPES = ("cumulative", "scoring")
MES_VOTE_TYPES = APPROVAL_TYPES + POINTS_TYPES


# ----------------------------------------------------------------------------------------------- the data


@dataclass
class _Consts:
    """Per-project constants of the float evaluation, shared by all runs on one MesData."""

    nsup: np.ndarray  # number of supporters (float)
    nsup_int: list[int]
    costf: list[float]
    marg: list[float]  # (K + 4) * 4u: the rounding margin of a float sum of K nonnegative terms
    w_all: list[float]  # sum of the supporters' utility weights
    scale: list[float]  # criterion per unit of rho': 1 / cost (cost utilities) or 1


@dataclass
class MesData:
    """An election as MES needs it: integer costs, per project the supporters and their utilities."""

    ids: list[str]
    costs: list[int]
    n: int
    budget: int
    cost_utility: bool  # approval: u_i(c) = cost(c); points: u_i(c) = points
    supporters: list[np.ndarray]  # voter indices (int64, ascending), per project
    ucodes: list[np.ndarray]  # per supporter: index into uvals (points ballots), zeros for approval
    uvals: list[int]  # distinct utility weights; approval: [1] (the payment is rho' * 1, rho = rho'/cost)
    scores: list[int]  # votes (approval) or total points: the "score" of the tie-break chain
    # per voter: project indices. `prepare` leaves it empty and fills `_csr` instead (`ballot_rows()`)
    ballots: list[tuple[int, ...]] = field(default_factory=list)
    _affects: dict[int, np.ndarray] = field(default_factory=dict)
    _affected: dict[int, list[int]] = field(default_factory=dict)
    _csr: tuple[np.ndarray, np.ndarray] | None = None  # (row pointers, project indices): the ballots
    _ufloat: dict[int, np.ndarray] = field(default_factory=dict)
    _ugroups: list[list[tuple[int, int]]] | None = None
    _consts: _Consts | None = None
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {p: k for k, p in enumerate(self.ids)}

    def ufloat(self, c: int) -> np.ndarray:
        got = self._ufloat.get(c)
        if got is None:
            got = np.asarray(self.uvals, dtype=float)[self.ucodes[c]]
            self._ufloat[c] = got
        return got

    def ugroups(self, c: int) -> list[tuple[int, int]]:
        """(utility, number of supporters with it) of project c, highest utility first."""
        if self._ugroups is None:
            V = len(self.uvals)
            self._ugroups = []
            for codes in self.ucodes:
                cnt = np.bincount(codes, minlength=V).tolist()
                self._ugroups.append([(self.uvals[k], cnt[k]) for k in range(V - 1, -1, -1) if cnt[k]])
        return self._ugroups[c]

    @property
    def P(self) -> int:
        return len(self.ids)

    def consts(self) -> _Consts:
        if self._consts is None:
            approval = len(self.uvals) == 1 and self.uvals[0] == 1
            nsup = [len(s) for s in self.supporters]
            self._consts = _Consts(
                nsup=np.asarray(nsup, dtype=float),
                nsup_int=nsup,
                costf=[float(c) for c in self.costs],
                marg=[(k + 4) * 4 * U for k in nsup],
                w_all=[float(k) if approval else float(self.ufloat(c).sum()) for c, k in enumerate(nsup)],
                scale=[1.0 / c if self.cost_utility else 1.0 for c in self.costs],
            )
        return self._consts

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """The ballots as (row pointers, project indices): voter i's projects are flat[ptr[i]:ptr[i + 1]]."""
        if self._csr is None:
            lens = np.asarray([len(b) for b in self.ballots], dtype=np.int64)
            flat = np.fromiter((c for b in self.ballots for c in b), dtype=np.int64, count=int(lens.sum()))
            self._csr = (np.concatenate(([0], np.cumsum(lens))), flat)
        return self._csr

    def ballot_rows(self) -> list[tuple[int, ...]]:
        """Per voter: the project indices of the ballot (file order)."""
        if not self.ballots and self.n:
            ptr, flat = self.csr()
            items = flat.tolist()
            bounds = ptr.tolist()
            self.ballots = [tuple(items[bounds[i] : bounds[i + 1]]) for i in range(self.n)]
        return self.ballots

    def overlap(self, w: int) -> np.ndarray:
        """Per project c: the number of voters supporting both c and w (float array, length P)."""
        got = self._affects.get(w)
        if got is None:
            ptr, flat = self.csr()
            voters = self.supporters[w]
            lens = ptr[voters + 1] - ptr[voters]
            starts = np.repeat(ptr[voters] - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
            pairs = starts + np.arange(int(lens.sum()), dtype=np.int64)
            got = np.bincount(flat[pairs], minlength=self.P).astype(float)
            self._affects[w] = got
        return got

    def affected_by(self, w: int) -> list[int]:
        """Projects sharing a supporter with project w (their price may change when w is funded)."""
        got = self._affected.get(w)
        if got is None:
            got = np.flatnonzero(self.overlap(w)).tolist()
            self._affected[w] = got
        return got


def _prepare_loop(election: model.Election) -> MesData:
    """`prepare`, one ballot at a time (the plain definition; the tests compare `prepare` with it)."""
    inst = election.instance
    vt = inst.vote_type
    if vt not in MES_VOTE_TYPES:
        raise ValueError(f"MES counts {', '.join(MES_VOTE_TYPES)} ballots, not {vt!r}")
    ids = list(inst.projects)
    index = {p: k for k, p in enumerate(ids)}
    cost_utility = vt in APPROVAL_TYPES
    sup: list[list[int]] = [[] for _ in ids]
    util: list[list[int]] = [[] for _ in ids]
    ballots: list[tuple[int, ...]] = []
    for i, b in enumerate(election.profile.ballots):
        row = []
        if cost_utility:
            for p in dict.fromkeys(b.projects):
                c = index[p]
                sup[c].append(i)
                util[c].append(1)
                row.append(c)
        else:
            for p, pts in zip(b.projects, b.points or (), strict=True):
                if pts > 0:
                    c = index[p]
                    sup[c].append(i)
                    util[c].append(int(pts))
                    row.append(c)
        ballots.append(tuple(row))
    uvals = sorted({u for us in util for u in us}) or [1]
    ucode = {u: k for k, u in enumerate(uvals)}
    return MesData(
        ids=ids,
        costs=[inst.projects[p].cost for p in ids],
        n=len(election.profile.ballots),
        budget=inst.budget,
        cost_utility=cost_utility,
        supporters=[np.asarray(s, dtype=np.int64) for s in sup],
        ucodes=[np.asarray([ucode[u] for u in us], dtype=np.int64) for us in util],
        uvals=uvals,
        scores=[sum(us) for us in util],
        ballots=ballots,
    )


def prepare(election: model.Election) -> MesData:
    """MesData of an election, vectorised: the ballots flattened once, supporters by a stable sort on the
    project (so each project's supporters ascend by voter, as `_prepare_loop` appends them)."""
    inst = election.instance
    vt = inst.vote_type
    if vt not in MES_VOTE_TYPES:
        raise ValueError(f"MES counts {', '.join(MES_VOTE_TYPES)} ballots, not {vt!r}")
    ids = list(inst.projects)
    P = len(ids)
    index = {p: k for k, p in enumerate(ids)}
    cost_utility = vt in APPROVAL_TYPES
    ballots = election.profile.ballots
    n = len(ballots)
    # pabulib's column form (model.BallotTable): the votes as a CSR in the file's project order, no Ballot
    # objects; None for a plain list (or points missing on some ballot: the Ballot path raises as usual).
    cols = scoring.vote_columns(election)
    if cols is not None:
        ptr0, flat, table_pts = cols
        lens = np.diff(ptr0)
    else:
        rows = [b.projects for b in ballots]
        lens = np.fromiter(map(len, rows), dtype=np.int64, count=n)
        total = int(lens.sum())
        try:
            flat = np.fromiter(map(index.__getitem__, chain.from_iterable(rows)), dtype=np.int64, count=total)
        except KeyError:
            return _prepare_loop(election)  # an unknown project: the loop raises the usual error
    voter = np.repeat(np.arange(n, dtype=np.int64), lens)
    pts = None
    if not cost_utility and cols is not None:
        pts = table_pts
        keep = pts > 0
        if not keep.all():
            flat, voter, pts = flat[keep], voter[keep], pts[keep]
    elif not cost_utility:
        prow = [b.points or () for b in ballots]
        plens = np.fromiter(map(len, prow), dtype=np.int64, count=n)
        if not np.array_equal(plens, lens):
            return _prepare_loop(election)  # points do not match the projects: the loop raises
        pts = np.fromiter(chain.from_iterable(prow), dtype=np.int64, count=total)
        keep = pts > 0
        if not keep.all():
            flat, voter, pts = flat[keep], voter[keep], pts[keep]
    key = flat.astype(np.uint16 if P < 2**16 else np.int64)
    order = np.argsort(key, kind="stable")
    fs = flat[order]
    vs = voter[order]
    if cost_utility and len(fs) > 1:
        dup = (fs[1:] == fs[:-1]) & (vs[1:] == vs[:-1])  # a project twice on one ballot: counted once
        if dup.any():
            drop = np.zeros(len(flat), dtype=bool)
            drop[order[1:][dup]] = True
            flat, voter = flat[~drop], voter[~drop]
            keep_sorted = np.concatenate(([True], ~dup))
            fs, vs, order = fs[keep_sorted], vs[keep_sorted], None
    counts = np.bincount(fs, minlength=P)
    bounds = np.concatenate(([0], np.cumsum(counts))).tolist()
    supporters = [vs[bounds[c] : bounds[c + 1]] for c in range(P)]
    if cost_utility:
        uvals = [1]
        zeros = np.zeros(len(fs), dtype=np.int64)
        ucodes = [zeros[bounds[c] : bounds[c + 1]] for c in range(P)]
        scores = counts.tolist()
    else:
        ps = pts[np.argsort(flat.astype(key.dtype), kind="stable")] if order is None else pts[order]
        uarr = np.unique(ps)
        uvals = uarr.tolist() or [1]
        codes = np.searchsorted(uarr, ps).astype(np.int64)
        ucodes = [codes[bounds[c] : bounds[c + 1]] for c in range(P)]
        csum = np.concatenate(([0], np.cumsum(ps)))
        scores = [int(csum[bounds[c + 1]] - csum[bounds[c]]) for c in range(P)]
    ptr = np.concatenate(([0], np.cumsum(np.bincount(voter, minlength=n)))).astype(np.int64)
    data = MesData(
        ids=ids,
        costs=[inst.projects[p].cost for p in ids],
        n=n,
        budget=inst.budget,
        cost_utility=cost_utility,
        supporters=supporters,
        ucodes=ucodes,
        uvals=uvals,
        scores=scores,
    )
    data._csr = (ptr, flat)
    return data


# ------------------------------------------------------------------------------------- exact helpers


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


@dataclass
class MesRun:
    """One fixed-budget MES run: winners in order and the ties broken."""

    per_voter: Fraction
    winners: list[int]
    ties: list[TieBreakRecord]
    exact_rounds: int = 0
    total_cost: int = 0


class _ExactState:
    """Exact money per class of voters who supported the same funded projects (same points).

    Every class's money is an integer numerator over one common denominator L (kept lazily: a class made when
    the denominator was D stores its numerator over D and is brought to the current L, a multiple of D, when
    read). So sums and comparisons are integer operations; a Fraction is built only for a result. Voters left
    with nothing share one class. `mf` holds each class's money as a correctly rounded float (None until
    first needed: an int true division costs more than the rest of making a class)."""

    def __init__(self, data: MesData, per_voter: Fraction):
        per_voter = Fraction(per_voter)
        self.d = data
        self.V = len(data.uvals)
        self.class_of = np.zeros(data.n, dtype=np.int64)
        self.L = per_voter.denominator
        self.dens = [self.L]  # the common denominator of each generation (each divides the next)
        self.scale = [1]  # current L // dens[g]
        self.num = [per_voter.numerator]  # numerator of class k over dens[gen[k]]
        self.gen = [0]
        self.mf: list[float | None] = [float(per_voter)]
        self.zero: int | None = None  # the class of voters with no money left

    @property
    def money(self) -> list[Fraction]:
        """Every class's money (Fractions; for tests and diagnostics)."""
        return [Fraction(x, self.L) for x in self._nums(list(range(len(self.num))))]

    def _nums(self, ks: list[int]) -> list[int]:
        """Numerators of classes ks over the current L (stored back)."""
        top = len(self.dens) - 1
        num, gen, scale = self.num, self.gen, self.scale
        out = []
        for k in ks:
            g = gen[k]
            if g != top:
                num[k] *= scale[g]
                gen[k] = top
            out.append(num[k])
        return out

    def _rescale(self, den: int) -> int:
        """Make den divide L (a new generation when it does not already); returns new L // old L."""
        f = den // math.gcd(self.L, den)
        if f != 1:
            self.L *= f
            self.dens.append(self.L)
            self.scale = [s * f for s in self.scale]
            self.scale.append(1)
        return f

    def _groups(self, c: int) -> tuple[list[int], list[int], list[int]]:
        """Classes, utility codes and counts of the supporters of c (parallel lists)."""
        cls = self.class_of[self.d.supporters[c]]
        if self.V == 1:
            cnt = np.bincount(cls, minlength=len(self.num))
            nz = np.flatnonzero(cnt)
            return nz.tolist(), [0] * len(nz), cnt[nz].tolist()
        V = self.V
        cnt = np.bincount(cls * V + self.d.ucodes[c], minlength=len(self.num) * V)
        nz = np.flatnonzero(cnt)
        return (nz // V).tolist(), (nz % V).tolist(), cnt[nz].tolist()

    def groups(self, c: int) -> list[tuple[int, int, int]]:
        """(class, utility code, count) of the supporters of c."""
        return list(zip(*self._groups(c), strict=True))

    def _live(self, ks: list[int], ucs: list[int], cnts: list[int]) -> tuple[list[int], list[int], list[int]]:
        """The groups with money left (voters with none pay nothing whatever the price)."""
        z = self.zero
        if z is None or z not in ks:
            return ks, ucs, cnts
        keep = [i for i, k in enumerate(ks) if k != z]
        return [ks[i] for i in keep], [ucs[i] for i in keep], [cnts[i] for i in keep]

    def _price(self, cost: int, ks: list[int], ucs: list[int], cnts: list[int], affordable: bool = False):
        ks, ucs, cnts = self._live(ks, ucs, cnts)
        uv = self.d.uvals
        nums = self._nums(ks)
        floats = self._floats(ks, nums)
        return _int_price(cost, self.L, nums, cnts, [uv[u] for u in ucs], floats, affordable=affordable)

    def price(self, c: int) -> Fraction | None:
        return self._price(self.d.costs[c], *self._groups(c))

    def apply(self, w: int, rho: Fraction | None = None) -> _Paid:
        """Fund w: every supporter pays min(money, rho * u). Returns the exact figures of the payment."""
        uv = self.d.uvals
        ks, ucs, cnts = self._groups(w)
        n_sup, u_max = sum(cnts), uv[max(ucs)]
        lk, lu, lc = self._live(ks, ucs, cnts)
        nums = self._nums(lk)
        if rho is None:
            us = [uv[u] for u in lu]
            rho = _int_price(self.d.costs[w], self.L, nums, lc, us, self._floats(lk, nums), affordable=True)
        have = Fraction(sum(map(operator.mul, nums, lc)), self.L)
        f = self._rescale(rho.denominator)
        L = self.L
        unit = rho.numerator * (L // rho.denominator)  # rho * L
        V = self.V
        key_new = np.full(len(self.num) * V, -1, dtype=np.int64)
        z = self.zero
        full = n_sup - sum(lc)  # those with nothing left pay all they have
        if z is not None:
            for u in range(V):
                key_new[z * V + u] = z
        num, gen, mf = self.num, self.gen, self.mf
        top = len(self.dens) - 1
        pays = [unit * x for x in uv]
        new_at: list[int] = []  # positions in key_new of the groups that keep money, their new classes next
        zero_at: list[int] = []
        first = len(num)
        for k, u, n, N in zip(lk, lu, lc, nums, strict=True):
            left = (N * f if f != 1 else N) - pays[u]
            if left > 0:
                new_at.append(k * V + u)
                num.append(left)
                mf.append(None)
            else:
                zero_at.append(k * V + u)
                if left < 0:
                    full += n
        gen.extend([top] * (len(num) - first))
        if new_at:
            key_new[new_at] = np.arange(first, len(num), dtype=np.int64)
        if zero_at:
            if z is None:
                z = self.zero = len(num)
                num.append(0)
                gen.append(0)
                mf.append(0.0)
            key_new[zero_at] = z
        sup = self.d.supporters[w]
        self.class_of[sup] = key_new[self.class_of[sup] * V + self.d.ucodes[w]]
        return _Paid(rho, have, full, n_sup, u_max)

    def supporters_money(self, c: int) -> Fraction:
        ks, _, cnts = self._live(*self._groups(c))
        return Fraction(sum(map(operator.mul, self._nums(ks), cnts)), self.L)

    def float_money(self) -> np.ndarray:
        """Per voter: the exact money, correctly rounded to a float."""
        ks = [k for k, x in enumerate(self.mf) if x is None]
        self._floats(ks, self._nums(ks))
        return np.asarray(self.mf)[self.class_of]

    def _floats(self, ks: list[int], nums: list[int]) -> list[float]:
        """Money of classes ks as correctly rounded floats; nums: their numerators over the current L."""
        mf, L = self.mf, self.L
        out = []
        for k, N in zip(ks, nums, strict=True):
            x = mf[k]
            if x is None:
                x = mf[k] = N / L  # int / int: correctly rounded
            out.append(x)
        return out


@dataclass
class _Paid:
    """One funded round, exactly: the price per unit of utility, the supporters' money before, how many paid
    all they had (their money was below rho * u), how many supporters, the highest utility among them."""

    rho: Fraction
    have: Fraction
    paid_all: int
    supporters: int
    u_max: int


_TOL = 1e-12  # relative: floats this far apart certainly order their exact values (errors are ~1e-16)


def _int_price(
    cost: int,
    L: int,
    nums: list[int],
    cnts: list[int],
    us: list[int],
    mf: list[float],
    *,
    affordable: bool = False,
) -> Fraction | None:
    """`_exact_price` for groups with money nums[j] / L (> 0), count cnts[j], utility us[j]; mf[j] is the
    money correctly rounded to a float.

    The floats guess the set B of groups that pay all they have (ratio money / u below the price); the price
    is then rho = (cost - money of B) / (utility weight of the rest), exactly. It is the least root of
    F(x) = sum cnt * min(m, x * u) = cost when every group of B has ratio <= rho and every other group ratio
    >= rho (then F(rho) = cost and F(x) < cost below rho), which is checked: in floats where the float ratio
    is further than _TOL from rho (their relative errors are a few units of 2^-53), exactly otherwise. If the
    guess fails, the groups are sorted exactly and walked."""
    if not nums:
        return None
    if len(nums) <= _SMALL:  # few groups: exact integers throughout are cheaper than NumPy's overhead
        if not affordable and sum(map(operator.mul, nums, cnts)) < cost * L:
            return None
        return _exact_walk(cost, L, nums, cnts, us)
    m = np.asarray(mf)
    c = np.asarray(cnts, dtype=float)
    if not affordable:
        s = float(np.dot(m, c))  # relative error below (k + 2) * 2^-53, k <= 2^20
        if s < cost * (1 - 1e-9):
            return None
        if s <= cost * (1 + 1e-9) and sum(map(operator.mul, nums, cnts)) < cost * L:
            return None
    approval = max(us) == 1
    if approval:
        r = m
        order = np.argsort(m, kind="stable")
    else:
        u = np.asarray(us, dtype=float)
        r = m / u
        order = np.argsort(r, kind="stable")
        u = u[order]
    rs = r[order]
    cs = c[order]
    cw = cs if approval else cs * u
    # float walk: weight of groups j.. and what is left of the cost after groups ..j-1 pay all
    weight = np.concatenate((np.cumsum(cw[::-1])[::-1], [0.0]))
    paid = np.concatenate(([0.0], np.cumsum(rs * cw)))  # rs * cw = money * count
    left = cost - paid[:-1]
    ok = rs * weight[:-1] >= left
    j = int(np.argmax(ok)) if ok.any() else len(rs)
    idx = order.tolist()
    if j < len(idx):
        below = idx[:j]
        A = cost * L - sum(map(operator.mul, [nums[g] for g in below], [cnts[g] for g in below]))
        W = sum(map(operator.mul, cnts, us)) - sum(cnts[g] * us[g] for g in below)
        rf = A / (L * W) if A > 0 and W > 0 else 0.0
        if rf > 1e-280:  # (a normal float: the relative error bounds hold)
            rho = Fraction(A, L * W)
            near_lo = rf * (1 - _TOL)
            near_hi = rf * (1 + _TOL)
            good = True
            # groups of B: ratio <= rho; in floats unless their ratio is within _TOL of rho
            for p in np.flatnonzero(rs[:j] > near_lo).tolist():
                g = idx[p]
                if nums[g] * W > A * us[g]:
                    good = False
                    break
            if good:
                for p in (np.flatnonzero(rs[j:] < near_hi) + j).tolist():
                    g = idx[p]
                    if nums[g] * W < A * us[g]:
                        good = False
                        break
            if good:
                return rho
    return _exact_walk(cost, L, nums, cnts, us)  # the float guess was off, or ratios straddle the price


_SMALL = 24


def _exact_walk(cost: int, L: int, nums: list[int], cnts: list[int], us: list[int]) -> Fraction:
    """`_exact_price`'s walk on integers, for groups whose money covers the cost: ascending money / u (the
    integer key nums * (lcm / u) orders them exactly), the first group that pays rho * u in full sets rho."""
    lcm = math.lcm(*set(us))
    order = sorted(range(len(nums)), key=lambda g: nums[g] * (lcm // us[g]))
    left = cost * L
    weight = sum(map(operator.mul, cnts, us))
    for g in order:
        if nums[g] * weight >= left * us[g]:
            return Fraction(left, L * weight)
        left -= nums[g] * cnts[g]
        weight -= cnts[g] * us[g]
    raise AssertionError("unreachable: covered cost has a price")  # pragma: no cover


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
    ):
        self.d = data
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
        m = self.money[self.d.supporters[c]]
        u = None if self.approval else self.d.ufloat(c)
        cost = k.costf[c]
        marg = k.marg[c]
        marg1 = 1 + marg
        S = float(self.err_sum[c]) * marg1
        minimum, add = np.minimum, np.add.reduce  # add.reduce: what ndarray.sum runs, without the wrapper
        # F(x) <= w_all * x: this start is certified unless the error bounds are huge
        x = max(cost * (1 - 3 * marg) - 2 * S, 0.0) / k.w_all[c] * (1 - 8 * U)
        certified = f_cert = -1.0
        x0 = x
        if hint > x:
            x = hint  # usually certified; if not (hint above the root), restart from x0
        w = k.w_all[c]
        for _ in range(64):
            if u is None:
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
                return "worse", x, math.inf  # the price is certainly above the current best
            w = float(np.count_nonzero(m > x)) if u is None else float(u[m > xu].sum())
            if w == 0:
                # everybody pays all they have at x, and F_H(x) < cost is certified: never affordable
                return "no", math.inf, math.inf
            step = (cost - fh) / w
            if step <= x * 1e-15:
                break
            x += step
        wb = max(w, 1.0)
        if certified < x:
            # the last iterate sits at the root: step back by the rounding and certify that point
            back = x * (1 - 4 * U) - 3 * marg * cost / wb
            if back > certified:
                # approval: w is the exact right slope of F at `certified` (a count), so by concavity
                # F(back) <= F(certified) + w * (back - certified) <= f_cert * (1 + marg) + w * (...); the
                # three nonnegative terms carry at most 6u of rounding. Otherwise (or if that bound is not
                # enough) evaluate F at back.
                if (
                    u is None
                    and certified >= 0
                    and (f_cert * marg1 + S + w * (back - certified)) * (1 + 8 * U) < cost
                ):
                    certified = back
                else:
                    f = float(add(minimum(m, back if u is None else back * u)))
                    if (f + S) * marg1 < cost:
                        certified = back
        if certified < 0:
            return "maybe", 0.0, math.inf
        if certified > threshold:
            return "worse", certified, math.inf
        r_hi = x * (1 + 4 * U) + (2 * S + 3 * marg * cost) / wb
        f = float(add(minimum(m, r_hi if u is None else r_hi * u)))
        if f * (1 - marg) - S < cost:
            return "maybe", certified, math.inf
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
        hi = [math.inf] * P
        status = [""] * P
        fresh = [False] * P
        scale = self.k.scale
        heap: list[tuple[float, int]] = []
        for c, f in self._first_round():  # exact values, as after an exact round
            lo[c], hi[c], status[c], fresh[c] = f * (1 - 4 * U), f * (1 + 4 * U), "yes", True
            heap.append((lo[c], c))
        heapq.heapify(heap)
        ties: list[TieBreakRecord] = []
        total = 0
        heappop, heappush = heapq.heappop, heapq.heappush
        gone = [True] * P  # funded, or certainly never affordable again (or never supported)
        for _, c in heap:
            gone[c] = False
        guide = self.guide
        while heap:
            popped: list[int] = []
            deferred: list[int] = []  # certainly worse than this round's best: back to the heap after it
            best_hi = math.inf
            t = len(self.winners)
            if guide is not None and t < len(guide) and not gone[g := guide[t]] and not fresh[g]:
                # the winner of this round in the previous Add1 step: likely the winner again, so evaluated
                # first, its upper bound makes the other evaluations cheap ('worse'). It stays in the heap.
                st, rl, rh = self._eval(g, math.inf, lo[g] / scale[g] * (1 - 4 * U))
                if st == "no":
                    gone[g] = True
                else:
                    lo[g], hi[g], status[g], fresh[g] = (
                        rl * scale[g] * (1 - 4 * U),
                        rh * scale[g] * (1 + 4 * U),
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
                    sc = scale[c]
                    thr = best_hi / sc * (1 + 4 * U) if best_hi < math.inf else math.inf
                    st, rl, rh = self._eval(c, thr, lo[c] / sc * (1 - 4 * U))
                    if st == "no":
                        gone[c] = True
                        continue  # money only falls: never affordable again
                    lo[c] = rl * sc * (1 - 4 * U)
                    if st == "worse":  # > best_hi: cannot win this round
                        deferred.append(c)
                        continue
                    hi[c] = rh * sc * (1 + 4 * U)
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
                    lo[c], hi[c], status[c] = f * (1 - 4 * U), f * (1 + 4 * U), "yes"
            popped.remove(winner)
            for c in popped:
                heappush(heap, (lo[c], c))
            self._fund(winner, exact_rho, lo[winner] / scale[winner], hi[winner] / scale[winner])
            self.winners.append(winner)
            gone[winner] = True
            total += d.costs[winner]
            for c in d.affected_by(winner):
                fresh[c] = False
        return MesRun(
            per_voter=self.per_voter,
            winners=list(self.winners),
            ties=ties,
            exact_rounds=self.exact_rounds,
            total_cost=total,
        )

    def _fund(self, w: int, exact_rho: Fraction | None, r_lo: float, r_hi: float) -> None:
        sup = self.d.supporters[w]
        if exact_rho is not None:
            # decided exactly: bring the exact state up to date and copy it into the floats
            ex = self._exact_state()
            ex.apply(w, exact_rho)
            self.exact_upto += 1
            self.money = ex.float_money()
            self.e0 = 4 * U * self.m0
            self.err_sum = self.k.nsup * self.e0
            return
        rho = (r_lo + r_hi) / 2
        half = (r_hi - r_lo) / 2 * (1 + 8 * U) + 4 * U * r_hi
        if self.approval:
            pay = rho
            u_max = 1.0
        else:
            pay = rho * self.d.ufloat(w)
            u_max = float(self.d.uvals[-1])
        m = self.money[sup]
        m -= pay
        self.money[sup] = np.maximum(m, 0.0, out=m)
        # |error| <= d + half * u + rounding of the subtraction, plus the 2u*m slack (module docstring, 5.)
        delta = (half * u_max + 3 * U * (self.m0 + rho * u_max)) * (1 + 8 * U)
        self.err_sum += delta * self.d.overlap(w) * (1 + 8 * U)


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


# ------------------------------------------------------------------------------------- the reference


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


# ------------------------------------------------------------------------------------------ explaining


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


# ---------------------------------------------------------------------------------------------- Add1


@dataclass
class Add1Result:
    run: MesRun
    per_voter: int
    steps: (
        int  # budgets the stepping search examines: floor(budget / n) .. per_voter, and the one overspending
    )
    stop_reason: str
    # [per-voter budget, total cost, number funded] at the first budget, at every budget where the outcome
    # (the projects funded, in order) changes, and at the budget whose outcome overspent (if that stopped it)
    trace: list[list[int]]
    evaluations: int = 0  # MES runs made (the stepping search: one per step)
    changes: list[tuple[int, list[int]]] = field(default_factory=list)  # (budget, winners) of the trace
    disagreements: int = 0  # budgets where the jump analysis contradicted the fast run (it then stepped)


def _exhaustive(data: MesData, winners: list[int], total: int) -> bool:
    left = data.budget - total
    chosen = set(winners)
    return all(data.costs[c] > left for c in range(data.P) if c not in chosen)


ADD1_METHODS = ("jump", "step")


def add1(data: MesData, tie_break: TieBreak, *, stop: str = "overspend", method: str = "jump") -> Add1Result:
    """Add1: b = floor(budget / n), b + 1, ... ; keep the last outcome before the first that overspends.

    `stop="exhaustive"` also stops at the first exhaustive outcome (equalshares.net add1e / pabutools).
    If no outcome can ever overspend (the supported projects cost at most the budget together), the search
    stops when every supported project is funded.

    `method="step"` runs MES at every budget (the definition; the tests compare with it). `method="jump"`
    (the default) runs it only where the outcome can change: `add1_jump.affine_run` proves that the outcome
    at b lasts up to some `until` > b, so the stepping search would examine b + 1, ..., until - 1 with the
    same outcome, the same stop tests (they depend on the outcome only) and no overspend, and the next
    budget to look at is `until`. The analysis checks the fast run's winners at b exactly; on a
    disagreement (which the tests rule out) the search steps by one unit there. The number of MES runs then
    depends on how often the outcome's decisions change, not on the size of the currency unit.
    """
    if stop not in ("overspend", "exhaustive"):
        raise ValueError(f"option add1_stop must be 'overspend' or 'exhaustive', not {stop!r}")
    if method not in ADD1_METHODS:
        raise ValueError(f"Add1 method must be one of {', '.join(ADD1_METHODS)}, not {method!r}")
    if data.n == 0:
        return Add1Result(MesRun(Fraction(0), [], []), 0, 0, "no ballots", [])
    from tally.engine.add1_jump import affine_run

    supported = [c for c in range(data.P) if len(data.supporters[c]) > 0]
    can_overspend = sum(data.costs[c] for c in supported) > data.budget
    evaluations = 0
    # The analysis costs more than a plain MES run (exact rationals, every project every round); on large
    # electorates some decision usually flips within a unit or two, and then it is wasted. After an
    # attempt that saved less than `plain_unit` runs, the search steps plainly for a while, twice as long
    # after each further such attempt (one success halves it back), in units of one run per 1,000 voters:
    # the overhead stays a few analyses there, and small electorates, where jumps are long, analyse
    # (nearly) every budget they visit. Which budgets are analysed
    # changes the work, never the outcome (each analysed jump is exact, each plain step is the definition).
    plain_unit = -(-data.n // 1000)
    plain_left = 0
    failures = 0
    disagreements = 0  # the exact analysis contradicting the fast run's winners (never, says the tests)

    def evaluate(b: int, guide: list[int] | None) -> tuple[MesRun, int | float]:
        nonlocal evaluations, plain_left, failures, disagreements
        evaluations += 1
        run = mes_run(data, b, tie_break, guide=guide)
        if method == "step":
            return run, b + 1
        if plain_left > 0:
            plain_left -= 1
            return run, b + 1
        aff = affine_run(data, b, run.winners, tie_break)
        if not aff.consistent:  # pragma: no cover - ruled out by the tests; step, never guess
            disagreements += 1
            return run, b + 1
        if not aff.complete or aff.until - b <= plain_unit:
            failures = min(failures + 1, 20)
            plain_left = plain_unit * (2**failures - 1)
        else:
            failures = max(failures - 1, 0)
        return run, aff.until

    b = data.budget // data.n
    current, until = evaluate(b, None)
    trace = [[b, current.total_cost, len(current.winners)]]
    changes = [(b, list(current.winners))]
    overspent = False
    while True:
        if stop == "exhaustive" and _exhaustive(data, current.winners, current.total_cost):
            reason = f"the outcome at {b} per voter is exhaustive (no unselected project fits)"
            break
        if not can_overspend and len(current.winners) == len(supported):
            reason = f"every supported project is funded at {b} per voter"
            break
        if until == math.inf:  # pragma: no cover - at a large enough budget MES funds every supported project
            raise AssertionError("Add1: an outcome that fits would last at every larger budget")
        nb = int(until)
        nxt, nuntil = evaluate(nb, current.winners)
        if nxt.winners != current.winners:
            trace.append([nb, nxt.total_cost, len(nxt.winners)])
            changes.append((nb, list(nxt.winners)))
        if nxt.total_cost > data.budget:
            if nb - 1 != b:  # the same winners as at b, but the run explained is the one at nb - 1
                evaluations += 1
                current = mes_run(data, nb - 1, tie_break, guide=current.winners)
                b = nb - 1
            overspent = True
            reason = (
                f"the next step ({b + 1} per voter) would fund projects costing {nxt.total_cost:,}, "
                f"over the budget {data.budget:,}"
            )
            break
        b, current, until = nb, nxt, nuntil
    steps = b - data.budget // data.n + 1 + overspent  # as many budgets as the stepping search examines
    return Add1Result(current, b, steps, reason, trace, evaluations, changes, disagreements)


# ---------------------------------------------------------------------------------- greedy & comparison


def _greedy_by_score(data: MesData, tie_break: TieBreak, start: list[int]) -> tuple[list[int], list[int]]:
    """Utilitarian completion from `start`: by score (then the tie-break chain), fund what still fits.
    Returns (all selected, the ones added). Projects with score 0 are never funded."""
    order = sorted(
        (c for c in range(data.P) if data.scores[c] > 0),
        key=lambda c: (
            -data.scores[c],
            *tie_break.key(data.ids[c], cost=data.costs[c], score=data.scores[c]),
        ),
    )
    chosen = list(start)
    have = set(start)
    left = data.budget - sum(data.costs[c] for c in start)
    added = []
    for c in order:
        if c not in have and data.costs[c] <= left:
            chosen.append(c)
            added.append(c)
            have.add(c)
            left -= data.costs[c]
    return chosen, added


def _greedy_outcome(election: model.Election, data: MesData, tie_break: TieBreak) -> tuple[list[str], str]:
    try:
        from tally.engine import greedy as greedy_mod
    except ImportError:  # pragma: no cover - greedy ships with the engine
        chosen, _ = _greedy_by_score(data, tie_break, [])
        return [data.ids[c] for c in chosen], "internal greedy"
    out = greedy_mod.greedy(election, tie_break=tie_break, options={})
    return list(out.selected), "greedy"


def comparison_counts(
    data: MesData, mes_sel: list[int], greedy_sel: list[int], how: str = "satisfaction"
) -> tuple[int, int]:
    """(voters strictly preferring MES, voters strictly preferring greedy)."""
    if how not in ("satisfaction", "cost"):
        raise ValueError(f"option comparison must be 'satisfaction' or 'cost', not {how!r}")
    w_mes = np.zeros(data.P, dtype=np.int64)
    w_gr = np.zeros(data.P, dtype=np.int64)
    for c in mes_sel:
        w_mes[c] = data.costs[c] if how == "cost" else 1
    for c in greedy_sel:
        w_gr[c] = data.costs[c] if how == "cost" else 1
    ptr, flat = data.csr()
    diff = np.concatenate(([0], np.cumsum((w_mes - w_gr)[flat])))  # int64: sums of costs fit easily
    per_voter = diff[ptr[1:]] - diff[ptr[:-1]]  # MES minus greedy, per voter
    return int(np.count_nonzero(per_voter > 0)), int(np.count_nonzero(per_voter < 0))


# ---------------------------------------------------------------------------------------------- rules


def _outcome(
    rule_id: str, data: MesData, run: MesRun, details: dict, extra_selected: list[int] | None = None
) -> Outcome:
    rounds, unfunded = explain(data, run)
    selected = [data.ids[c] for c in run.winners]
    for c in extra_selected or []:
        pid = data.ids[c]
        selected.append(pid)
        unfunded.pop(pid, None)
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
        unfunded=unfunded,
        details=details,
        scores={data.ids[c]: data.scores[c] for c in range(data.P)},
    )


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
        return _outcome("equalshares", data, MesRun(Fraction(0), [], []), {})
    run = mes_run(data, Fraction(data.budget, data.n), tie_break)
    return _outcome("equalshares", data, run, {})


@rule(
    "equalshares/add1",
    description="MES with Add1: raise the per-voter budget by 1 until the next step would overspend",
    vote_types=MES_VOTE_TYPES,
)
def equalshares_add1(election: model.Election, *, tie_break: TieBreak, options: dict) -> Outcome:
    data = prepare(election)
    res = add1(data, tie_break, stop=_stop_option(options))
    return _outcome("equalshares/add1", data, res.run, _add1_details(res))


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
    for r, c in enumerate(added, start=len(out.rounds) + 1):
        out.rounds.append(
            {
                "round": r,
                "project": data.ids[c],
                "decision": "funded_by_completion",
                "cost": data.costs[c],
                "score": data.scores[c],
                "reason": "utilitarian completion: highest score among projects that still fit",
            }
        )
    return out


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
        out.unfunded = {
            p: "not selected by greedy, whose outcome replaced MES in the comparison step"
            for p in data.ids
            if p not in set(greedy_ids)
        }
    return out
