"""Project scores as the greedy rules rank them, for every vote type.

- approval, choose-1: the number of ballots that approve the project.
- cumulative, scoring: the total points given to the project.
- ordinal: points per rank. From the option `points` ("3,2,1"), else from META `scoring_fn`, else the
  default k - i + 1 for the i-th of at most k ranked projects (k = META `max_length`, or the longest
  ballot). Kraków ranks 3 projects: 3/2/1 points. `scoring_fn` may be "Borda" (the same default) or a comma
  list of points per rank ("3,2,1"); anything else is refused with a message rather than guessed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from itertools import chain
from typing import Any

import numpy as np

from tally.engine.model import BallotTable, Election

POINTS_TYPES = ("cumulative", "scoring")


def vote_columns(election: Election) -> tuple[Any, Any, Any] | None:
    """(ptr, flat, points) when the ballots are pabulib's column form (`BallotTable`), so no Ballot object is
    built: voter i's projects are flat[ptr[i]:ptr[i + 1]] as indices into the file's project order, and
    `points` (aligned with `flat`) is given for cumulative / scoring ballots, else None.

    None (read the Ballot objects) for a plain list of ballots, a table whose project order is not the
    instance's, or cumulative / scoring ballots without points on every ballot (the Ballot loops raise
    their usual error there)."""
    table = election.profile.ballots
    if not isinstance(table, BallotTable) or list(table.project_ids) != list(election.instance.projects):
        return None
    ptr, flat = table.csr()
    if election.instance.vote_type not in POINTS_TYPES:
        return ptr, flat, None
    if table.has_points is not None or (table.points is None and len(flat)):
        return None
    points = table.points if table.points is not None else np.zeros(0, dtype=np.int64)
    return ptr, flat, points.astype(np.int64, copy=False)


class ScoringError(ValueError):
    pass


def rank_points(election: Election, options: Mapping[str, object] | None = None) -> tuple[list[int], str]:
    """Points for rank 1, 2, ... of an ordinal ballot, and where they came from."""
    options = options or {}
    spec = options.get("points")
    source = "option points"
    if spec is None:
        spec = election.instance.meta.get("scoring_fn")
        source = "META scoring_fn"
    if spec is not None and str(spec).strip() and str(spec).strip().lower() != "borda":
        try:
            pts = [int(x) for x in str(spec).split(",")]
        except ValueError:
            raise ScoringError(
                f"unsupported {source} {spec!r}: give points per rank, e.g. --option points=3,2,1"
            ) from None
        if any(p < 0 for p in pts):
            raise ScoringError(f"{source} {spec!r} has negative points")
        return pts, f"{source} {','.join(map(str, pts))}"
    k = election.instance.meta_int("max_length")
    label = "max_length"
    if k is None:
        cols = vote_columns(election)
        if cols is not None:
            k = int(np.diff(cols[0]).max(initial=0))
        else:
            k = max((len(b.projects) for b in election.profile.ballots), default=0)
        label = "longest ballot"
    pts = [k - i for i in range(k)]
    return pts, f"k - i + 1 with k = {k} ({label}): {','.join(map(str, pts))}"


def project_scores(
    election: Election, options: Mapping[str, object] | None = None
) -> tuple[dict[str, int], str]:
    """(score of every project in file order, a description of the score)."""
    cols = vote_columns(election)
    if cols is not None:
        return _column_scores(election, cols, options)
    return _ballot_scores(election, options)


def _ballot_scores(
    election: Election, options: Mapping[str, object] | None = None
) -> tuple[dict[str, int], str]:
    """`project_scores` one Ballot at a time (a plain list of ballots; the tests compare the two)."""
    vt = election.instance.vote_type
    ballots = election.profile.ballots
    counts: Counter[str] = Counter()
    if vt in ("approval", "choose-1"):
        counts = Counter(chain.from_iterable(b.projects for b in ballots))
        how = "number of approvals"
    elif vt in ("cumulative", "scoring"):
        for b in ballots:
            for p, v in zip(b.projects, b.points or (), strict=True):
                counts[p] += v
        how = "total points"
    elif vt == "ordinal":
        pts, how = rank_points(election, options)
        n = len(pts)
        for b in ballots:
            for i, p in enumerate(b.projects):
                if i < n:
                    counts[p] += pts[i]
        how = f"points per rank, {how}"
    else:  # pragma: no cover - the parser refuses other vote types
        raise ScoringError(f"unknown vote type {vt!r}")
    return {pid: counts.get(pid, 0) for pid in election.instance.projects}, how


def _column_scores(
    election: Election, cols: tuple[Any, Any, Any], options: Mapping[str, object] | None
) -> tuple[dict[str, int], str]:
    """`project_scores` from the column form: the same sums, by np.bincount / np.add.at."""
    vt = election.instance.vote_type
    ids = list(election.instance.projects)
    P = len(ids)
    ptr, flat, points = cols
    if vt in ("approval", "choose-1"):
        scores = np.bincount(flat, minlength=P).tolist()
        how = "number of approvals"
    elif vt in POINTS_TYPES:
        acc = np.zeros(P, dtype=np.int64)
        np.add.at(acc, flat, points)
        scores = acc.tolist()
        how = "total points"
    elif vt == "ordinal":
        pts, how = rank_points(election, options)
        if any(p >= 2**31 for p in pts) or len(flat) >= 2**31:
            return _ballot_scores(election, options)  # too large for int64 sums: Python ints
        lens = np.diff(ptr)
        rank = np.arange(len(flat), dtype=np.int64) - np.repeat(ptr[:-1], lens)
        keep = rank < len(pts)
        acc = np.zeros(P, dtype=np.int64)
        np.add.at(acc, flat[keep], np.asarray(pts, dtype=np.int64)[rank[keep]])
        scores = acc.tolist()
        how = f"points per rank, {how}"
    else:  # pragma: no cover - the parser refuses other vote types
        raise ScoringError(f"unknown vote type {vt!r}")
    return dict(zip(ids, scores, strict=True)), how


def supporters(election: Election) -> dict[str, int]:
    """Number of ballots that list each project (with positive points, for points ballots)."""
    cols = vote_columns(election)
    if cols is not None:
        _ptr, flat, points = cols
        ids = list(election.instance.projects)
        if points is not None:
            flat = flat[points > 0]
        return dict(zip(ids, np.bincount(flat, minlength=len(ids)).tolist(), strict=True))
    ballots = election.profile.ballots
    if election.instance.vote_type in ("cumulative", "scoring"):
        counts = Counter(
            p
            for b in ballots
            for p, v in zip(b.projects, b.points or (0,) * len(b.projects), strict=True)
            if v > 0
        )
    else:
        counts = Counter(chain.from_iterable(b.projects for b in ballots))
    return {pid: counts.get(pid, 0) for pid in election.instance.projects}
