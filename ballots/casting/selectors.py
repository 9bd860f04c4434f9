"""Reads for voting pages: the ballot of a pot, a voter's pots, turnout, paper reconciliation.

Nothing here counts votes per project: before publication no page, export or admin may show partial
results. Turnout counts come from `Participation` (who voted, per channel) only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ballots.casting.cells import table_hidden, turnout_hidden
from ballots.casting.validation import BallotSpec, ProjectOption
from ballots.models import Channel, PaperBatch, Participation, ReconciliationChannel, VoterRollEntry
from ballots.reconciliation.selectors import paper_entered, paper_marked
from pb.core.i18n import localized
from pb.core.models import Election, Pot
from proposals.models import Proposal, ProposalStatus


def ballot_spec(pot: Pot) -> BallotSpec:
    """The pot's rules and its projects (feasible proposals, by code), for every validation path."""
    return ballot_page(pot, texts=False)[0]


@dataclass(frozen=True)
class ProjectText:
    """What a voter reads about a project on the ballot, in their language (display only)."""

    title: str
    description: str
    thumb: str
    alt: str


# How long a process keeps a ballot page's projects in Django's cache (keyed by the election's content
# version, so a change shows at once; the limit only bounds memory).
BALLOT_CACHE_SECONDS = 3600


def ballot_page(pot: Pot, *, texts: bool = True) -> tuple[BallotSpec, dict[str, ProjectText], str]:
    """The ballot spec and, in the same query, each project's title and description in the voter's language
    and picture (for the ballot page), and the version of those texts (their last change and the pot's
    names: the cached blank project list is keyed by it, so a translated title shows at once).

    Kept in Django's cache per pot, language and the election's content version (pb.core.content: raised by
    every change to its pots and proposals), so the voting pages do not read the projects again for every
    voter."""
    election = pot.election
    key = f"pb:ballot-page:{pot.pk}:{election.content_version}:{election.currency}"
    key += f":{get_language()}" if texts else ":spec"
    page = cache.get(key)
    if page is None:
        page = _ballot_page(pot, texts=texts)
        cache.set(key, page, BALLOT_CACHE_SECONDS)
    return page


def _ballot_page(pot: Pot, *, texts: bool) -> tuple[BallotSpec, dict[str, ProjectText], str]:
    columns = ["code", "title", "cost", "adjusted_cost", "pot_id", "pot__name"]
    if texts:
        columns += ["title_i18n", "description", "description_i18n", "image_thumb", "image_alt", "updated_at"]
    feasible = Proposal.objects.filter(election_id=pot.election_id, status=ProposalStatus.FEASIBLE)
    projects: list[ProjectOption] = []
    foreign: dict[str, str] = {}
    shown: dict[str, ProjectText] = {}
    changed = 0.0
    for row in feasible.order_by("code").values_list(*columns):
        code, title, cost, adjusted, pot_id, pot_name = row[:6]
        if pot_id != pot.pk:
            foreign[code.upper()] = pot_name
            continue
        cost = adjusted if adjusted is not None else cost
        projects.append(ProjectOption(code=code, title=title, cost=cost))
        if texts:
            title_i18n, description, description_i18n, thumb, alt, updated_at = row[6:]
            shown[code] = ProjectText(
                localized(title, title_i18n), localized(description, description_i18n), thumb, alt
            )
            changed = max(changed, updated_at.timestamp())
    spec = BallotSpec(
        pot_id=pot.pk,
        pot_name=pot.name,
        ballot_type=pot.ballot_type,
        budget=pot.budget,
        currency=pot.election.currency,
        min_selections=pot.min_selections,
        max_selections=pot.max_selections,
        points_total=pot.points_total,
        points_max_per_project=pot.points_max_per_project,
        min_spend_percent=pot.min_spend_percent,
        projects=tuple(projects),
        foreign=foreign,
    )
    return spec, shown, f"{changed:.6f}:{pot.name_i18n}"


@dataclass
class VoterPot:
    pot: Pot
    done: bool
    channel: str = ""


def voter_pots(voter: VoterRollEntry) -> list[VoterPot]:
    """The pots this voter may vote in, with whether they already did (and how): one query, the voter's
    participations (the election's pots are kept: ballots.roll.eligibility.election_pots)."""
    from ballots.roll.eligibility import eligible_pots

    channels = dict(Participation.objects.filter(voter_id=voter.pk).values_list("pot_id", "channel"))
    return [
        VoterPot(pot=p, done=p.pk in channels, channel=channels.get(p.pk, "")) for p in eligible_pots(voter)
    ]


# --- Turnout ------------------------------------------------------------------------------------------------


def reconciled_channel(channel: str) -> str:
    """The reconciliation's channel of a turnout channel: the results page and the signed manifest publish
    each pot's voters per reconciliation channel exactly (ballots.reconciliation.selectors), so within a pot
    the turnout cells of one of them add up to a published total (ballots.casting.cells.table_hidden)."""
    return ReconciliationChannel.PAPER if channel == Channel.PAPER else ReconciliationChannel.ONLINE


@dataclass
class PotTurnout:
    pot: Pot
    eligible: int
    by_channel: dict[str, int] = field(default_factory=dict)
    anonymity_k: int = 1  # cells under K are hidden (ballots.casting.cells)
    hidden: frozenset[str] | None = None  # the channels hidden in the whole table (turnout); None: this row's

    @property
    def total(self) -> int:
        return sum(self.by_channel.values())

    @property
    def percent(self) -> str:
        if not self.eligible:
            return "—"
        return f"{100 * self.total / self.eligible:.1f}"

    @property
    def under_k(self) -> bool:
        return 0 < self.total < self.anonymity_k

    @property
    def channels(self) -> list[tuple[str, int | str]]:
        """(channel label, voters), a hidden cell as "fewer than K" (or "hidden" when hidden only so that the
        small ones cannot be worked out from a total)."""
        hidden = self.hidden if self.hidden is not None else turnout_hidden(self.by_channel, self.anonymity_k)
        out: list[tuple[str, int | str]] = []
        for value, label in Channel.choices:
            n = self.by_channel.get(value, 0)
            if value not in hidden:
                out.append((label, n))
            elif n < self.anonymity_k:
                out.append((label, _("fewer than %(k)s") % {"k": self.anonymity_k}))
            else:
                out.append((label, _("hidden")))
        return out


def _citywide(pots) -> set[int]:
    """The pots whose row may be the sum of the districts' (every district voter may vote there too)."""
    return {p.pk for p in pots if p.is_citywide}


def turnout(election: Election, *, anonymity_k: int = 1) -> list[PotTurnout]:
    """Participations per pot and channel, against the voters on the roll who may vote there; cells under
    `anonymity_k` are hidden when shown (PotTurnout.channels), with the others it takes over the whole
    pot x channel table (ballots.casting.cells.table_hidden); totals per pot stay exact.

    `eligible` counts age-eligible roll entries of the district (all districts for a citywide pot); custom
    eligibility rules are not applied to this count, so it is an upper bound when such rules exist."""
    pots = list(election.pots.all())
    counts: dict[tuple[int, str], int] = {
        (pot_id, channel): n
        for pot_id, channel, n in Participation.objects.filter(election=election)
        .values_list("pot_id", "channel")
        .annotate(n=Count("id"))
        .order_by()
    }
    roll = VoterRollEntry.objects.filter(election=election, age_eligible=True)
    per_district = dict(roll.values_list("district_id").annotate(n=Count("id")).order_by())
    everyone = sum(per_district.values())
    table = {pot.pk: {c: counts.get((pot.pk, c), 0) for c in Channel.values} for pot in pots}
    sparse = {pk: {c: n for c, n in cells.items() if n} for pk, cells in table.items()}  # zeros stay shown
    hidden = table_hidden(sparse, anonymity_k, total_rows=_citywide(pots), group=reconciled_channel)
    rows = []
    for pot in pots:
        eligible = everyone if pot.is_citywide else per_district.get(pot.pk, 0)
        rows.append(
            PotTurnout(
                pot=pot,
                eligible=eligible,
                by_channel=table[pot.pk],
                anonymity_k=anonymity_k,
                hidden=frozenset(c for c in Channel.values if (pot.pk, c) in hidden),
            )
        )
    return rows


def _public_group(column: tuple[str, str]) -> str:
    return reconciled_channel(column[0])


def turnout_public(election: Election, *, anonymity_k: int) -> list[dict]:
    """Published turnout: voters per pot, channel and booth, no cell of fewer than K, and none that can be
    worked out from the pot totals, the online and paper totals per pot (the reconciliation) or the citywide
    row: one suppression over the whole table (ballots.casting.cells.table_hidden). The results page, its
    PDF, the open data API and the statistics page all publish these rows, so they hide the same cells.
    Hidden cells are merged into one "other" row per pot; a pot with fewer than K voters in all is one row,
    flagged. Rows: {"pot", "pot__name", "channel", "booth", "n", "merged", "under_k"} (a merged row also
    "merged_channels"); totals per pot (the sum of its rows) are exact."""
    pots = {p.pk: p for p in election.pots.all()}
    cells: dict[int, dict[tuple[str, str], int]] = {pk: {} for pk in pots}
    for pot_id, channel, booth, n in (
        Participation.objects.filter(election=election)
        .values_list("pot_id", "channel", "booth")
        .annotate(n=Count("id"))
        .order_by()
    ):
        key = (channel, booth if channel != Channel.ONLINE else "")
        cells[pot_id][key] = cells[pot_id].get(key, 0) + n
    hidden_cells = table_hidden(cells, anonymity_k, total_rows=_citywide(pots.values()), group=_public_group)
    rows = []
    for pot in sorted(pots.values(), key=lambda p: (not p.is_citywide, p.name)):
        pot_cells = cells[pot.pk]
        hidden = {key for key in pot_cells if (pot.pk, key) in hidden_cells}
        total = sum(pot_cells.values())
        shown = sorted((n, key) for key, n in pot_cells.items() if key not in hidden)
        while hidden and sum(pot_cells[key] for key in hidden) < anonymity_k <= total:
            # Only a channel total under K is hidden (the reconciliation publishes it anyway): no merged row
            # under K all the same, so the smallest shown cells join it (hiding more never gives one back).
            hidden.add(shown.pop(0)[1])
        base = {"pot": pot, "pot__name": pot.name}
        for (channel, booth), n in sorted(pot_cells.items()):
            if (channel, booth) not in hidden:
                row = {"channel": channel, "booth": booth, "n": n, "merged": False, "under_k": False}
                rows.append(base | row)
        if hidden:
            other = sum(pot_cells[key] for key in hidden)
            under_k = total < anonymity_k
            row = {"channel": "", "booth": "", "n": other, "merged": True, "under_k": under_k}
            rows.append(base | row | {"merged_channels": sorted({channel for channel, _b in hidden})})
    return rows


# --- Paper ballots ------------------------------------------------------------------------------------------


@dataclass
class BoothReconciliation:
    booth: str
    pot: Pot
    marked: int  # paper voters marked on the roll at this booth
    entered: int  # paper ballots in accepted batches (valid + rejected lines)
    valid: int
    open_batches: int

    @property
    def rejected(self) -> int:
        return self.entered - self.valid

    @property
    def difference(self) -> int:
        return self.entered - self.marked


def paper_reconciliation(election: Election) -> list[BoothReconciliation]:
    """Per booth and pot: paper ballots entered against paper voters marked there; differences show."""
    pots = {p.pk: p for p in election.pots.all()}
    marked, entered = paper_marked(election), paper_entered(election)
    keys = sorted(set(marked) | set(entered), key=lambda k: (k[1], pots[k[0]].name))
    rows = []
    for pot_id, booth in keys:
        total, valid, open_n = entered.get((pot_id, booth), (0, 0, 0))
        rows.append(
            BoothReconciliation(
                booth=booth,
                pot=pots[pot_id],
                marked=marked.get((pot_id, booth), 0),
                entered=total,
                valid=valid,
                open_batches=open_n,
            )
        )
    return rows


def paper_batches(election: Election):
    return (
        PaperBatch.objects.filter(election=election)
        .select_related("pot", "created_by", "accepted_by")
        .annotate(n_entries=Count("entries"))
        .order_by("status", "booth", "label")
    )
