"""An election as the Method of Equal Shares needs it: integer costs, and per project its supporters with
their utilities.

Utilities (Peters, Pierczyński & Skowron 2021, "Proportional participatory budgeting with additive
utilities", NeurIPS, Section 2): approval / choose-1 ballots use cost utilities, u_i(c) = cost(c) for every
supporter (the equalshares.net and pabutools `Cost_Sat` convention); cumulative / scoring ballots use the
points as utilities (Aarau 2023; pabutools `Additive_Cardinal_Sat`). A voter who gives a project 0 points
does not support it.

`prepare` builds the data once per count (vectorised; `_prepare_loop` is the plain one-ballot-at-a-time
definition the tests compare it with); every Add1 step, the comparison step and the explanation share it.
`MesRun` is what one fixed-budget run returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain

import numpy as np

from tally.engine import model, scoring
from tally.engine.result import TieBreakRecord

U = 2.0**-53  # unit roundoff of binary64
APPROVAL_TYPES = ("approval", "choose-1")
POINTS_TYPES = ("cumulative", "scoring")
MES_VOTE_TYPES = APPROVAL_TYPES + POINTS_TYPES


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
    _overlap_up: dict[int, np.ndarray] = field(default_factory=dict)  # tally.engine.mes.fast._fund
    _unaffected: dict[int, list[int]] = field(default_factory=dict)
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

    def unaffected_by(self, w: int) -> list[int]:
        """Projects sharing no supporter with project w (the rest of `affected_by`'s)."""
        got = self._unaffected.get(w)
        if got is None:
            got = np.flatnonzero(self.overlap(w) == 0).tolist()
            self._unaffected[w] = got
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


@dataclass
class MesRun:
    """One fixed-budget MES run: winners in order and the ties broken."""

    per_voter: Fraction
    winners: list[int]
    ties: list[TieBreakRecord]
    exact_rounds: int = 0
    total_cost: int = 0
