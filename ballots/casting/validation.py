"""One validator per ballot type, shared by the online, booth and paper paths.

A `BallotSpec` is a pot's rules and its projects (built by `ballots.casting.selectors.ballot_spec`); a
`RawBallot` is
what a voter marked, before any check: (project code, value) pairs, where the value is "" for a tick
(knapsack, approval), the rank (ranked) or the points (points). Parsing the online form or a paper line
produces a RawBallot; `ballot_validate` turns it into a `CleanBallot` or raises `BallotInvalid` carrying
every problem as a specific message; `ballot_status` does the same arithmetic for the live bar without
raising. The server is the authority: the page's live bar is only a preview of these same messages.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ballots.exceptions import BallotInvalid
from pb.core.models import BallotType


@dataclass(frozen=True)
class ProjectOption:
    code: str
    title: str
    cost: int


@dataclass(frozen=True)
class BallotSpec:
    pot_id: int
    pot_name: str
    ballot_type: str
    budget: int
    currency: str
    min_selections: int
    max_selections: int | None
    points_total: int | None
    points_max_per_project: int | None
    min_spend_percent: int
    projects: tuple[ProjectOption, ...]
    # Codes of feasible projects in OTHER pots of the same election -> that pot's name, so that a project
    # from another pot gets its own message instead of "unknown project".
    foreign: dict[str, str] = field(default_factory=dict)

    @cached_property
    def by_code(self) -> dict[str, ProjectOption]:
        return {p.code.upper(): p for p in self.projects}

    @property
    def min_spend(self) -> int:
        return math.ceil(self.budget * self.min_spend_percent / 100)

    @property
    def min_count(self) -> int:
        # A ballot with nothing on it is refused (it would be indistinguishable from a mistake); a pot can ask
        # for more.
        return max(1, self.min_selections)

    @property
    def max_count(self) -> int | None:
        if self.ballot_type == BallotType.RANKED:
            return min(self.max_selections or len(self.projects), len(self.projects))
        return self.max_selections

    @property
    def max_rank(self) -> int:
        return self.max_count or len(self.projects)


@dataclass(frozen=True)
class RawBallot:
    marks: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, marks) -> RawBallot:
        return cls(tuple((str(c), str(v)) for c, v in marks))


@dataclass(frozen=True)
class CleanBallot:
    """What is stored: project codes (ranked: best first; otherwise in ballot order) and points."""

    projects: tuple[str, ...]
    points: dict[str, int]
    cost: int


@dataclass
class BallotStatus:
    """The live bar: totals so far and the problems that would stop the ballot being cast."""

    spec: BallotSpec
    count: int = 0
    cost: int = 0
    points_used: int = 0
    problems: list[str] = field(default_factory=list)
    clean: CleanBallot | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def remaining(self) -> int:
        return self.spec.budget - self.cost

    @property
    def over_budget(self) -> int:
        return max(0, -self.remaining)

    @property
    def points_left(self) -> int:
        return (self.spec.points_total or 0) - self.points_used


def money(amount: int, currency: str) -> str:
    return f"{number_format(amount, force_grouping=True)} {currency}"


def _int(value: str) -> int | None:
    value = value.strip()
    if re.fullmatch(r"[+-]?\d{1,9}", value):
        return int(value)
    return None


def _check(spec: BallotSpec, raw: RawBallot) -> BallotStatus:
    st = BallotStatus(spec=spec)
    problems = st.problems
    seen: Counter[str] = Counter()
    chosen: dict[str, int | None] = {}  # known code -> value (None for a tick)
    btype = spec.ballot_type
    for code_in, value_in in raw.marks:
        code = code_in.strip().upper()
        value = value_in.strip()
        if btype == BallotType.POINTS and value in ("", "0"):
            continue  # an empty points box means 0 points: not a choice
        if btype == BallotType.RANKED and value == "":
            continue  # an unranked project
        if code not in spec.by_code:
            if code in spec.foreign:
                problems.append(
                    _("Project %(code)s belongs to “%(other)s”, not to this ballot (%(pot)s).")
                    % {"code": code, "other": spec.foreign[code], "pot": spec.pot_name}
                )
            else:
                problems.append(_("“%(code)s” is not a project on this ballot.") % {"code": code_in.strip()})
            continue
        seen[code] += 1
        if seen[code] == 2:
            problems.append(_("Project %(code)s is chosen more than once.") % {"code": code})
        if seen[code] > 1:
            continue
        if btype in (BallotType.KNAPSACK, BallotType.APPROVAL):
            chosen[code] = None
            continue
        number = _int(value)
        if btype == BallotType.RANKED:
            if number is None:
                problems.append(
                    _("The rank of %(code)s must be a whole number, not “%(value)s”.")
                    % {"code": code, "value": value}
                )
            elif not 1 <= number <= spec.max_rank:
                problems.append(
                    _("The rank of %(code)s is %(rank)s; ranks go from 1 to %(max)s.")
                    % {"code": code, "rank": number, "max": spec.max_rank}
                )
            else:
                chosen[code] = number
        else:  # points
            if number is None:
                problems.append(
                    _("The points for %(code)s must be a whole number, not “%(value)s”.")
                    % {"code": code, "value": value}
                )
            elif number < 0:
                problems.append(
                    _("Points cannot be negative (%(code)s: %(points)s).") % {"code": code, "points": number}
                )
            elif number > 0:
                chosen[code] = number
                cap = spec.points_max_per_project
                if cap is not None and number > cap:
                    problems.append(
                        ngettext(
                            "%(code)s has %(points)s points; at most %(max)s point per project.",
                            "%(code)s has %(points)s points; at most %(max)s points per project.",
                            cap,
                        )
                        % {"code": code, "points": number, "max": cap}
                    )

    st.count = len(chosen)
    st.cost = sum(spec.by_code[c].cost for c in chosen)

    if btype == BallotType.RANKED:
        by_rank: dict[int, list[str]] = {}
        for code, rank in chosen.items():
            by_rank.setdefault(rank, []).append(code)
        for rank in sorted(by_rank):
            if len(by_rank[rank]) > 1:
                problems.append(
                    _("Rank %(rank)s is given to more than one project (%(codes)s).")
                    % {"rank": rank, "codes": ", ".join(sorted(by_rank[rank]))}
                )
        if by_rank:
            missing = [r for r in range(1, max(by_rank) + 1) if r not in by_rank]
            if missing:
                problems.append(
                    _("Rank %(rank)s is missing: number your choices 1, 2, 3… without gaps.")
                    % {"rank": missing[0]}
                )

    if btype == BallotType.POINTS:
        st.points_used = sum(v for v in chosen.values() if v)
        total = spec.points_total or 0
        if st.points_used > total:
            problems.append(
                _("You gave %(used)s points; you have %(total)s to distribute.")
                % {"used": st.points_used, "total": total}
            )

    if btype == BallotType.KNAPSACK:
        if st.cost > spec.budget:
            problems.append(
                _("Your choices cost %(cost)s, over the budget of %(budget)s by %(over)s.")
                % {
                    "cost": money(st.cost, spec.currency),
                    "budget": money(spec.budget, spec.currency),
                    "over": money(st.cost - spec.budget, spec.currency),
                }
            )
        elif spec.min_spend and st.cost < spec.min_spend and st.count:
            problems.append(
                _(
                    "Your choices cost %(cost)s; choose projects worth at least %(min)s "
                    "(%(percent)s%% of the budget)."
                )
                % {
                    "cost": money(st.cost, spec.currency),
                    "min": money(spec.min_spend, spec.currency),
                    "percent": spec.min_spend_percent,
                }
            )

    if st.count < spec.min_count:
        if spec.min_count == 1:
            problems.append(_("Choose at least one project."))
        else:
            problems.append(
                ngettext(
                    "Choose at least %(min)s projects (you chose %(n)s).",
                    "Choose at least %(min)s projects (you chose %(n)s).",
                    st.count,
                )
                % {"min": spec.min_count, "n": st.count}
            )
    if spec.max_count is not None and st.count > spec.max_count:
        problems.append(
            ngettext(
                "Choose at most %(max)s project (you chose %(n)s).",
                "Choose at most %(max)s projects (you chose %(n)s).",
                spec.max_count,
            )
            % {"max": spec.max_count, "n": st.count}
        )

    if not problems:
        if btype == BallotType.RANKED:
            order = tuple(spec.by_code[c].code for c in sorted(chosen, key=lambda c: chosen[c]))
        else:
            order = tuple(p.code for p in spec.projects if p.code.upper() in chosen)
        points = (
            {spec.by_code[c].code: v for c, v in chosen.items() if v} if btype == BallotType.POINTS else {}
        )
        st.clean = CleanBallot(projects=order, points=points, cost=st.cost)
    return st


def ballot_status(spec: BallotSpec, raw: RawBallot) -> BallotStatus:
    """Totals and problems for the live bar; never raises."""
    return _check(spec, raw)


def ballot_validate(spec: BallotSpec, raw: RawBallot) -> CleanBallot:
    """The authority: a clean ballot, or BallotInvalid whose message lists every problem."""
    st = _check(spec, raw)
    if st.problems:
        exc = BallotInvalid(" ".join(st.problems))
        exc.problems = list(st.problems)
        raise exc
    assert st.clean is not None  # noqa: S101 - no problems means a clean ballot was built
    return st.clean


# --- Paper lines --------------------------------------------------------------------------------------------

_TOKEN_SPLIT = re.compile(r"[\s,;]+")


def paper_line_parse(spec: BallotSpec, line: str) -> RawBallot:
    """One paper ballot as typed by an official.

    knapsack / approval: project codes, e.g. ``P001 P004``;
    ranked: codes best first (``P004 P001``) or ``CODE:RANK`` pairs (``P001:2 P004:1``);
    points: ``CODE:POINTS`` pairs (``P001:3 P004:2``).
    A line that is just ``-`` is a blank ballot (and is rejected as such, never dropped).
    """
    tokens = [t for t in _TOKEN_SPLIT.split(line.strip()) if t and t != "-"]
    marks: list[tuple[str, str]] = []
    if spec.ballot_type in (BallotType.KNAPSACK, BallotType.APPROVAL):
        marks = [(t, "") for t in tokens]
    elif spec.ballot_type == BallotType.RANKED and not any(":" in t or "=" in t for t in tokens):
        marks = [(t, str(i)) for i, t in enumerate(tokens, start=1)]
    else:
        for t in tokens:
            code, sep, value = t.replace("=", ":").partition(":")
            # A code without a value gets an empty one: for points that reads as "no points" and is caught
            # below as a malformed entry rather than silently ignored.
            marks.append((code, value if sep else "?"))
    return RawBallot.of(marks)


def paper_line_is_empty(line: str) -> bool:
    """Nothing typed on the line (spaces or separators only). Not a ballot: a blank ballot is typed ``-``."""
    return not any(_TOKEN_SPLIT.split(line.strip()))


def paper_line_canonical(spec: BallotSpec, line: str) -> str:
    """A form of the line that two officials typing the same paper ballot produce identically.

    Order does not matter for knapsack / approval / points; it does for ranked (position = rank)."""
    raw = paper_line_parse(spec, line)
    marks = [(c.strip().upper(), v.strip()) for c, v in raw.marks]
    if spec.ballot_type == BallotType.RANKED:
        marks.sort(key=lambda m: (_int(m[1]) if _int(m[1]) is not None else 10**9, m[0]))
        return " ".join(f"{c}:{v}" for c, v in marks)
    if spec.ballot_type == BallotType.POINTS:
        return " ".join(f"{c}:{v}" for c, v in sorted(marks))
    return " ".join(sorted(c for c, _v in marks)) or "-"
