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

from tally.engine.model import Election


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
        k = max((len(b.projects) for b in election.profile.ballots), default=0)
        label = "longest ballot"
    pts = [k - i for i in range(k)]
    return pts, f"k - i + 1 with k = {k} ({label}): {','.join(map(str, pts))}"


def project_scores(
    election: Election, options: Mapping[str, object] | None = None
) -> tuple[dict[str, int], str]:
    """(score of every project in file order, a description of the score)."""
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


def supporters(election: Election) -> dict[str, int]:
    """Number of ballots that list each project (with positive points, for points ballots)."""
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
