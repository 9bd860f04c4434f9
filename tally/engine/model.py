"""The data an election is counted from: projects with integer costs, and the voters' ballots.

Mirrors the Pabulib format (pabulib.org/format): META, PROJECTS and VOTES sections, all columns kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class Profile:
    """VOTES: one ballot per voter, in file order (the engine's outcome must not depend on it)."""

    vote_type: str
    ballots: list[Ballot]
    voter_columns: list[str] = field(default_factory=list)  # VOTES header, file order


@dataclass
class Election:
    """A whole .pb file: what `tally.engine.pabulib.read/write` exchange."""

    instance: Instance
    profile: Profile
    comments: list[str] = field(default_factory=list)
