"""Reads for voting pages: the ballot of a pot, a voter's pots, turnout, paper reconciliation.

Nothing here counts votes per project: before publication no page, export or admin may show partial
results. Turnout counts come from `Participation` (who voted, per channel) only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum

from ballots.models import Channel, PaperBatch, PaperBatchStatus, Participation, VoterRollEntry
from ballots.validation import BallotSpec, ProjectOption
from pb.core.models import Election, Pot
from proposals.models import Proposal, ProposalStatus


def ballot_spec(pot: Pot) -> BallotSpec:
    """The pot's rules and its projects (feasible proposals, by code), for every validation path."""
    feasible = Proposal.objects.filter(election_id=pot.election_id, status=ProposalStatus.FEASIBLE)
    projects: list[ProjectOption] = []
    foreign: dict[str, str] = {}
    for code, title, cost, adjusted, pot_id, pot_name in feasible.order_by("code").values_list(
        "code", "title", "cost", "adjusted_cost", "pot_id", "pot__name"
    ):
        if pot_id == pot.pk:
            projects.append(
                ProjectOption(code=code, title=title, cost=adjusted if adjusted is not None else cost)
            )
        else:
            foreign[code.upper()] = pot_name
    return BallotSpec(
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


@dataclass
class VoterPot:
    pot: Pot
    done: bool
    channel: str = ""


def voter_pots(voter: VoterRollEntry) -> list[VoterPot]:
    """The pots this voter may vote in, with whether they already did (and how)."""
    from ballots.identity import eligible_pots

    done = dict(Participation.objects.filter(voter=voter).values_list("pot_id", "channel"))
    return [VoterPot(pot=p, done=p.pk in done, channel=done.get(p.pk, "")) for p in eligible_pots(voter)]


# --- Turnout ------------------------------------------------------------------------------------------------


@dataclass
class PotTurnout:
    pot: Pot
    eligible: int
    by_channel: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_channel.values())

    @property
    def percent(self) -> str:
        if not self.eligible:
            return "—"
        return f"{100 * self.total / self.eligible:.1f}"

    @property
    def channels(self) -> list[tuple[str, int]]:
        return [(label, self.by_channel.get(value, 0)) for value, label in Channel.choices]


def turnout(election: Election) -> list[PotTurnout]:
    """Participations per pot and channel, against the voters on the roll who may vote there.

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
    rows = []
    for pot in pots:
        eligible = everyone if pot.is_citywide else per_district.get(pot.pk, 0)
        by_channel = {c: counts.get((pot.pk, c), 0) for c in Channel.values}
        rows.append(PotTurnout(pot=pot, eligible=eligible, by_channel=by_channel))
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
    marked = dict(
        ((booth, pot_id), n)
        for booth, pot_id, n in Participation.objects.filter(election=election, channel=Channel.PAPER)
        .values_list("booth", "pot_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    entered: dict[tuple[str, int], tuple[int, int, int]] = {}
    for booth, pot_id, total, valid, open_n in (
        PaperBatch.objects.filter(election=election)
        .values_list("booth", "pot_id")
        .annotate(
            total=Sum("lines_total", filter=Q(status=PaperBatchStatus.ACCEPTED), default=0),
            valid=Sum("lines_valid", filter=Q(status=PaperBatchStatus.ACCEPTED), default=0),
            open_n=Count("id", filter=Q(status=PaperBatchStatus.OPEN)),
        )
        .order_by()
    ):
        entered[(booth, pot_id)] = (total, valid, open_n)
    keys = sorted(set(marked) | set(entered), key=lambda k: (k[0], pots[k[1]].name))
    return [
        BoothReconciliation(
            booth=booth,
            pot=pots[pot_id],
            marked=marked.get((booth, pot_id), 0),
            entered=entered.get((booth, pot_id), (0, 0, 0))[0],
            valid=entered.get((booth, pot_id), (0, 0, 0))[1],
            open_batches=entered.get((booth, pot_id), (0, 0, 0))[2],
        )
        for booth, pot_id in keys
    ]


def paper_batches(election: Election):
    return (
        PaperBatch.objects.filter(election=election)
        .select_related("pot", "created_by", "accepted_by")
        .annotate(n_entries=Count("entries"))
        .order_by("status", "booth", "label")
    )
