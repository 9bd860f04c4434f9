"""The statistics snapshot: computed when voting closes and again at publication (phase hooks registered by
tally.apps), stored as JSON with every small cell already removed, so the public page reads one row.

What is in it (`statistics_build`):
- "turnout": per pot, voters (exact, as on the results page) and eligible voters on the roll;
- "channels": the results page's own turnout cells (pot, channel, booth; ballots.casting.selectors.
  turnout_public), the very same cells, so the two pages cannot be subtracted from each other;
- "days", "ages": tables pot x day and pot x age band, suppressed by the same rule as the channels
  (ballots.casting.cells.table_hidden; a hidden cell is stored as None: the number never reaches the page
  or the cache);
- "rule": the version of that rule (ballots.casting.cells.RULE_VERSION): a snapshot stored under an older
  one is rebuilt before it is shown (tally.statistics.selectors);
- "activity": proposals, supports and comments per district and per category (public anyway);
- "figures": after publication, the proportionality figures of the certified count, as tally.engine.metrics
  computed them (no arithmetic here).

At 100,000 voters building it costs a few aggregate queries (bench/api.py prints the time); a page view
reads the stored JSON."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from ballots.ballotbox.pending import anonymity_k
from ballots.casting.cells import RULE_VERSION, table_hidden
from ballots.casting.selectors import turnout_public
from ballots.definition import frozen_definition
from ballots.models import Participation, VoterRollEntry
from pb.core.models import Category, Election, Phase, Pot
from proposals.comments.models import Comment
from proposals.models import Proposal, ProposalStatus
from proposals.supports.models import Support
from tally.models import Certification
from tally.statistics.models import StatisticsSnapshot

logger = logging.getLogger(__name__)

# Age bands of the roll's birth years (age reached in the year of the age reference date, or of the vote).
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("under-18", 0, 17),
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-64", 55, 64),
    ("65-74", 65, 74),
    ("75-plus", 75, None),
)
UNKNOWN_AGE = "unknown"
FIGURES = ("voters_with_funded", "avg_funded_per_voter", "avg_budget_share", "budget_used")

# Phases from which the turnout may be shown: after voting closes, never while it is open (a day's count
# per district during the vote, next to who was seen voting that day, narrows who cast which ballot).
TURNOUT_PHASES = (Phase.VOTING_CLOSED, Phase.TALLIED, Phase.CERTIFIED, Phase.PUBLISHED)


def age_band(birth_year: int | None, year: int) -> str:
    if birth_year is None:
        return UNKNOWN_AGE
    age = year - birth_year
    for key, low, high in AGE_BANDS:
        if age >= low and (high is None or age <= high):
            return key
    return UNKNOWN_AGE  # a birth year after the reference year: a bad roll line, not an age


def _reference_year(election: Election, days: list[dt.date]) -> int:
    if election.age_reference_date is not None:
        return election.age_reference_date.year
    return (max(days) if days else timezone.localdate()).year


def _suppressed(table: dict[str, dict[str, int]], k: int, total_rows: set[str]) -> dict[str, dict]:
    hidden = table_hidden(table, k, total_rows=total_rows)
    return {
        row: {col: (None if (row, col) in hidden else n) for col, n in cells.items()}
        for row, cells in table.items()
    }


def activity_build(election: Election) -> dict[str, Any]:
    """Proposals (all but drafts), supports and comments (not hidden) per district and per category."""
    proposals = Proposal.objects.filter(election=election).exclude(status=ProposalStatus.DRAFT)

    def counts(column: str) -> tuple[dict, dict]:
        """Per value of the proposal's `column`: (proposals, supports), and comments."""
        both = {
            key: (n, s)
            for key, n, s in proposals.values_list(column)
            .annotate(n=Count("id", distinct=True), s=Count("supports", distinct=True))
            .order_by()
        }
        comments = dict(
            Comment.objects.filter(proposal__in=proposals, hidden_at__isnull=True)
            .values_list(f"proposal__{column}")
            .annotate(n=Count("id"))
            .order_by()
        )
        return both, comments

    by_pot, comments_pot = counts("pot_id")
    by_cat, comments_cat = counts("category_id")
    cross = {
        (pot_id, cat_id): n
        for pot_id, cat_id, n in proposals.values_list("pot_id", "category_id")
        .annotate(n=Count("id"))
        .order_by()
    }
    pots = list(Pot.objects.filter(election=election).values_list("pk", "slug", "name"))
    cats = list(Category.objects.filter(election=election).values_list("pk", "slug", "name"))
    if any(cat_id is None for cat_id in by_cat):
        cats.append((None, "", ""))  # "no category"

    def row(key, slug, name, counts, comments):
        n, s = counts.get(key, (0, 0))
        return {"slug": slug, "name": name, "proposals": n, "supports": s, "comments": comments.get(key, 0)}

    return {
        "pots": [row(pk, slug, name, by_pot, comments_pot) for pk, slug, name in pots],
        "categories": [row(pk, slug, name, by_cat, comments_cat) for pk, slug, name in cats],
        "cross": {
            pot_slug: {cat_slug: cross.get((pot_pk, cat_pk), 0) for cat_pk, cat_slug, _n in cats}
            for pot_pk, pot_slug, _name in pots
        },
        "supports_total": Support.objects.filter(election=election).count(),
    }


def _turnout_build(election: Election, k: int) -> dict[str, Any]:
    pots = list(Pot.objects.filter(election=election))
    slug = {p.pk: p.slug for p in pots}
    citywide = {p.slug for p in pots if p.is_citywide}
    votes = Participation.objects.filter(election=election)
    voters = dict(votes.values_list("pot_id").annotate(n=Count("id")).order_by())
    roll = VoterRollEntry.objects.filter(election=election, age_eligible=True)
    roll_years = list(roll.values_list("district_id", "birth_year").annotate(n=Count("id")).order_by())
    per_district: dict[int, int] = {}
    for district, _year, n in roll_years:
        per_district[district] = per_district.get(district, 0) + n
    everyone = sum(per_district.values())

    day_rows = list(votes.values_list("pot_id", "day").annotate(n=Count("id")).order_by())
    days = sorted({d for _p, d, _n in day_rows})
    day_table = {p.slug: {d.isoformat(): 0 for d in days} for p in pots}
    for pot_id, day, n in day_rows:
        day_table[slug[pot_id]][day.isoformat()] = n

    year = _reference_year(election, days)
    bands = [key for key, _lo, _hi in AGE_BANDS] + [UNKNOWN_AGE]
    age_table = {p.slug: dict.fromkeys(bands, 0) for p in pots}
    for pot_id, birth_year, n in (
        votes.values_list("pot_id", "voter__birth_year").annotate(n=Count("id")).order_by()
    ):
        age_table[slug[pot_id]][age_band(birth_year, year)] += n
    # Eligible voters per band: a district's roll; the citywide pot's is everyone's.
    roll_bands: dict[str, dict[str, int]] = {p.slug: dict.fromkeys(bands, 0) for p in pots}
    for district, birth_year, n in roll_years:
        band = age_band(birth_year, year)
        for p in pots:
            if p.is_citywide or p.pk == district:
                roll_bands[p.slug][band] += n

    channel_rows = [
        {
            "pot": row["pot"].slug,
            "channel": row["channel"],
            "booth": row["booth"],
            "n": row["n"],
            "merged": row["merged"],
            "merged_channels": row.get("merged_channels", []),
        }
        for row in turnout_public(election, anonymity_k=k)
    ]
    return {
        "pots": [
            {
                "slug": p.slug,
                "name": p.name,
                "citywide": p.is_citywide,
                "voters": voters.get(p.pk, 0),
                "eligible": everyone if p.is_citywide else per_district.get(p.pk, 0),
            }
            for p in pots
        ],
        "channels": channel_rows,
        "days": {"columns": [d.isoformat() for d in days], "rows": _suppressed(day_table, k, citywide)},
        "ages": {
            "columns": bands,
            "rows": _suppressed(age_table, k, citywide),
            "eligible": roll_bands,
            "reference_year": year,
        },
    }


def _figures_build(election: Election) -> list[dict[str, Any]]:
    """The certified count's figures per pot, as tally.engine.metrics computed them at counting time."""
    cert = Certification.objects.select_related("run").filter(election=election).first()
    if cert is None:
        return []
    names = dict(Pot.objects.filter(election=election).values_list("slug", "name"))
    out = []
    for pot_slug, metrics in sorted(cert.run.metrics.items()):
        row = {"slug": pot_slug, "name": names.get(pot_slug, pot_slug)}
        for key in FIGURES:
            value = metrics.get(key)
            row[key] = float(value) if isinstance(value, int | float) else None
        out.append(row)
    return out


def statistics_build(election: Election, *, phase: str | None = None) -> dict[str, Any]:
    """Everything the statistics page shows after voting closed, small cells already removed. `phase`: the
    phase it is built for (the one being entered, from the phase hook), by default the election's."""
    phase = phase or election.phase
    definition, _sha = frozen_definition(election)
    k = anonymity_k(definition)
    data: dict[str, Any] = {"anonymity_k": k, "phase": phase, "rule": RULE_VERSION}
    data["turnout"] = _turnout_build(election, k)
    data["activity"] = activity_build(election)
    data["figures"] = _figures_build(election) if phase == Phase.PUBLISHED else []
    return data


def statistics_store(election: Election, *, phase: str | None = None) -> StatisticsSnapshot:
    """Compute and keep the snapshot (replacing an older one). Called inside the phase change's transaction
    (statistics_phase_hook), or once for an election closed before snapshots existed (selectors)."""
    data = statistics_build(election, phase=phase)
    now = timezone.now()
    try:
        with transaction.atomic():
            snap, _created = StatisticsSnapshot.objects.update_or_create(
                election=election, defaults={"data": data, "computed_at": now}
            )
    except IntegrityError:  # two first views at once: the other one stored the same figures
        snap = StatisticsSnapshot.objects.get(election=election)
    return snap


def statistics_phase_hook(*, election: Election, actor, to_phase: str) -> None:
    """Runs inside election_advance (pb.core.services.PHASE_HOOKS): the snapshot at closing (booths mark
    paper voters only while voting is open, so the turnout is final), again at each later step (anything
    entered since, and at publication the certified figures). The election row still has the old phase."""
    if to_phase not in TURNOUT_PHASES:
        return
    # Statistics never stand in the way of closing, certifying or publishing: if the snapshot cannot be made
    # now, the phase change goes on and the page makes it when it is first shown (selectors).
    try:
        with transaction.atomic():
            statistics_store(election, phase=to_phase)
    except Exception:
        logger.exception("statistics of %s not made at %s (made on first view)", election.slug, to_phase)


__all__ = [
    "AGE_BANDS",
    "TURNOUT_PHASES",
    "age_band",
    "statistics_build",
    "statistics_phase_hook",
    "statistics_store",
]
