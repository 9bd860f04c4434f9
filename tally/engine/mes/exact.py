"""MES in exact arithmetic, fast enough to run every round: integer numerators over one common denominator.

Voters who supported the same funded projects with the same points have equal money at every point of a
run; `_ExactState` keeps one class per such group, its money an integer numerator over one common
denominator L, so sums and comparisons are integer operations and a `fractions.Fraction` is built only for
a result. The price of a project (the least rho with sum_i min(m_i, rho * u_i) = cost: the rule of
`tally.engine.mes.definition`) is found by `_int_price`: a float guess of which groups pay all they have,
confirmed by exact comparisons wherever the floats could be wrong, and an exact sort and walk
(`_exact_walk`) when the guess fails.

Used by the fast path (`tally.engine.mes.fast`) for the rounds floats cannot decide, and by the
explanation (`tally.engine.mes.explain`), which replays the kept run exactly so every figure shown is exact.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from tally.engine.mes.data import MesData


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
