"""The data an election is counted from: projects with integer costs, and the voters' ballots.

Mirrors the Pabulib format (pabulib.org/format): META, PROJECTS and VOTES sections, all columns kept.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np

VOTE_TYPES = ("approval", "choose-1", "cumulative", "scoring", "ordinal")


@dataclass(frozen=True)
class Project:
    id: str
    cost: int  # whole currency units, > 0
    name: str = ""
    # Every other column of the PROJECTS section, as read (kept to write the file back).
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Ballot:
    voter_id: str
    # approval / choose-1: the approved projects (file order; a set in meaning).
    # ordinal: the projects ranked, best first.  cumulative / scoring: the projects given points.
    projects: tuple[str, ...]
    # cumulative / scoring: points for each entry of `projects` (same length). ordinal: the file's optional
    # `points` column (Kraków writes 3,2,1), kept to write the file back; rules score ranks by position
    # (tally.engine.scoring). None when the file has no points.
    points: tuple[int, ...] | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Instance:
    """META + PROJECTS. `meta` keeps every key in file order; typed accessors below."""

    meta: dict[str, str]
    projects: dict[str, Project]  # in file order
    project_columns: list[str] = field(default_factory=list)  # PROJECTS header, file order

    @property
    def budget(self) -> int:
        return int(self.meta["budget"])

    @property
    def vote_type(self) -> str:
        return self.meta.get("vote_type", "approval")

    def meta_int(self, key: str) -> int | None:
        value = self.meta.get(key)
        if value is None or str(value).strip() == "":
            return None
        return int(float(value))

    def cost(self, project_id: str) -> int:
        return self.projects[project_id].cost


class BallotTable(Sequence[Ballot]):
    """The ballots of a VOTES section stored by column (what `pabulib.read` gives).

    - `ptr`, `flat`: the votes in CSR form (NumPy): voter i's projects, as indices into `project_ids` (the
      PROJECTS file order), are flat[ptr[i]:ptr[i + 1]], in ballot order.
    - `points`: None, or the points aligned with `flat` (int64); `has_points`: None when every ballot has
      points, else a bool array (an ordinal ballot may leave the optional points column empty).
    - voter ids: `voter_ints` (int64, when every id is a canonical decimal integer), else `voter_text` (the
      ids joined by newlines, UTF-8).
    - `extra`: per other column, (name, the voters' values joined by newlines, UTF-8).

    A few bytes per vote instead of a Ballot object with a tuple and a dict per voter: Warsaw 2026 (3.2 MB,
    61,668 voters) keeps 3.1 MB instead of 48 MB (tracemalloc). It is a read-only sequence of `Ballot`: the
    first access builds the whole list once and keeps it; code that needs only the votes should use `csr()`.
    """

    def __init__(
        self,
        *,
        project_ids: list[str],
        ptr: Any,
        flat: Any,
        points: Any = None,
        has_points: Any = None,
        voter_ints: Any = None,
        voter_text: bytes = b"",
        extra: list[tuple[str, bytes]] | None = None,
    ):
        self.project_ids = project_ids
        self.ptr = ptr
        self.flat = flat
        self.points = points
        self.has_points = has_points
        self.voter_ints = voter_ints
        self.voter_text = voter_text
        self.extra = extra or []
        self._list: list[Ballot] | None = None
        self._csr: tuple[Any, Any] | None = None

    def csr(self) -> tuple[Any, Any]:
        """(row pointers, project indices), int64 NumPy arrays: voter i chose flat[ptr[i]:ptr[i + 1]].
        Made once (a count asks three times: the rule, its supporter counts, the metrics), read-only."""
        if self._csr is None:
            ptr, flat = self.ptr.astype(np.int64), self.flat.astype(np.int64)
            ptr.flags.writeable = flat.flags.writeable = False
            self._csr = (ptr, flat)
        return self._csr

    def __len__(self) -> int:
        return len(self.ptr) - 1

    def _rows(self, values: list[Any]) -> list[tuple[Any, ...]]:
        """values (aligned with `flat`) cut into one tuple per ballot. Ballots are grouped by length so that
        C loops make the tuples (zip over one iterator k times) and put them back in file order."""
        lens = np.diff(self.ptr)
        if len(lens) == 0:
            return []
        if int(lens.min()) == int(lens.max()):
            k = int(lens[0])
            return list(zip(*[iter(values)] * k, strict=True)) if k else [()] * len(lens)
        grouped: list[tuple[Any, ...]] = []
        order = []
        token_len = np.repeat(lens, lens)
        for k in np.flatnonzero(np.bincount(lens)).tolist():  # the lengths present (np.unique imports np.ma)
            rows = np.flatnonzero(lens == k)
            order.append(rows)
            if k == 0:
                grouped.extend([()] * len(rows))
            else:
                picked = itemgetter(*np.flatnonzero(token_len == k).tolist())(values)
                grouped.extend(
                    zip(*[iter(picked if isinstance(picked, tuple) else (picked,))] * k, strict=True)
                )
        where = np.empty(len(lens), dtype=np.int64)
        where[np.concatenate(order)] = np.arange(len(lens))
        got = itemgetter(*where.tolist())(grouped)
        return list(got) if isinstance(got, tuple) and len(lens) > 1 else [got]

    def _build(self) -> list[Ballot]:
        n = len(self)
        if n == 0:
            return []
        projects = self._rows(list(map(self.project_ids.__getitem__, self.flat.tolist())))
        if self.points is None:
            points: list[Any] = [None] * n
        else:
            points = self._rows(self.points.tolist())
            if self.has_points is not None:
                points = [p if h else None for p, h in zip(points, self.has_points.tolist(), strict=True)]
        if self.voter_ints is not None:
            voters = list(map(str, self.voter_ints.tolist()))
        else:
            voters = self.voter_text.decode().split("\n")
        names = [name for name, _ in self.extra]
        cols = [text.decode().split("\n") for _, text in self.extra]
        if cols:
            extras = list(map(dict, map(zip, repeat(names), zip(*cols, strict=True))))
        else:
            extras = [{} for _ in range(n)]
        # Empty instances, then each one's __dict__ set at once (object.__setattr__ passes by the frozen
        # dataclass's __setattr__; the fields are exactly what __init__ sets): half the cost of __init__.
        ballots = list(map(object.__new__, repeat(Ballot, n)))
        fields = [
            {"voter_id": v, "projects": p, "points": q, "extra": x}
            for v, p, q, x in zip(voters, projects, points, extras, strict=True)
        ]
        deque(map(object.__setattr__, ballots, repeat("__dict__"), fields), maxlen=0)
        return ballots

    def _all(self) -> list[Ballot]:
        if self._list is None:
            # The cyclic GC would scan the growing lists of new objects again and again (a fifth of the
            # time); none of them is part of a reference cycle.
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                self._list = self._build()
            finally:
                if gc_was_enabled:
                    gc.enable()
        return self._list

    def __getitem__(self, index):  # type: ignore[override]
        return self._all()[index]

    def __iter__(self) -> Iterator[Ballot]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BallotTable | list | tuple):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<BallotTable of {len(self)} ballots, {len(self.flat)} votes>"


@dataclass
class Profile:
    """VOTES: one ballot per voter, in file order (the engine's outcome must not depend on it).

    `ballots` is a list of Ballot, or a BallotTable (the compact form `pabulib.read` gives)."""

    vote_type: str
    ballots: Sequence[Ballot]
    voter_columns: list[str] = field(default_factory=list)  # VOTES header, file order


@dataclass
class Election:
    """A whole .pb file: what `tally.engine.pabulib.read/write` exchange."""

    instance: Instance
    profile: Profile
    comments: list[str] = field(default_factory=list)
