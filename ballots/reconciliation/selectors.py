"""Ballots against participations, per pot, channel and booth.

Channels: "online" counts every ballot cast on the voting form (`Ballot.is_paper` false) against the online
and booth participations; "paper" counts paper ballots against the voters marked as voting on paper.
Ballots carry no booth (secrecy): per booth, paper ballots are the valid lines of the accepted batches of that
booth; paper ballots in the ballot table that no accepted batch accounts for are shown under booth "".
All counts come from the ballot table: closing seals every ballot into it before the guard runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ballots.ballotbox import pending
from ballots.models import (
    Ballot,
    Channel,
    PaperBatch,
    PaperBatchStatus,
    Participation,
    PendingBallot,
    ReconciliationChannel,
    ReconciliationResolution,
)
from pb.core.models import Election, Pot

ONLINE_CHANNELS = (Channel.ONLINE, Channel.BOOTH)


@dataclass
class ReconciliationRow:
    pot: Pot
    channel: str
    booth: str
    ballots: int
    participations: int
    resolution: ReconciliationResolution | None = None  # confirmed, for exactly these numbers
    proposal: ReconciliationResolution | None = None  # open, waiting for a second official
    stale: list[ReconciliationResolution] = field(default_factory=list)  # confirmed for other numbers
    rejected_lines: int = 0  # paper lines of accepted batches refused as invalid (spoiled ballots)
    open_batches: int = 0

    @property
    def difference(self) -> int:
        return self.ballots - self.participations

    @property
    def resolved(self) -> bool:
        return self.difference == 0 or self.resolution is not None

    @property
    def channel_label(self) -> str:
        return ReconciliationChannel(self.channel).label

    def describe(self) -> str:
        where = (
            _("%(pot)s, paper at %(booth)s") % {"pot": self.pot.name, "booth": self.booth}
            if self.channel == ReconciliationChannel.PAPER and self.booth
            else _("%(pot)s, paper outside any batch") % {"pot": self.pot.name}
            if self.channel == ReconciliationChannel.PAPER
            else _("%(pot)s, online") % {"pot": self.pot.name}
        )
        ballots = ngettext("%(n)s ballot", "%(n)s ballots", self.ballots) % {"n": self.ballots}
        voters = ngettext("%(n)s voter recorded", "%(n)s voters recorded", self.participations) % {
            "n": self.participations
        }
        return _("%(where)s: %(ballots)s for %(voters)s (%(d)s)") % {
            "where": where,
            "ballots": ballots,
            "voters": voters,
            "d": f"{self.difference:+d}",
        }


@dataclass
class ReconciliationStatus:
    rows: list[ReconciliationRow]
    # Differences no resolution may cover: the ballot table and the accepted batches disagree.
    integrity: list[str] = field(default_factory=list)

    @property
    def unresolved(self) -> list[ReconciliationRow]:
        return [r for r in self.rows if not r.resolved]

    @property
    def ok(self) -> bool:
        return not self.integrity and not self.unresolved


def ballot_counts(election: Election) -> dict[tuple[int, bool], int]:
    """Ballots per (pot id, is paper): sealed ones in `Ballot`, plus those cast but not sealed yet.

    Pending ballots (ballots.ballotbox.pending) hold `is_paper` only inside their ciphertext: they are opened
    here to be
    counted, never shown. Closing and the official count seal them all, so there are none or few."""
    counts: dict[tuple[int, bool], int] = {
        (pot_id, is_paper): n
        for pot_id, is_paper, n in Ballot.objects.filter(election=election)
        .values_list("pot_id", "is_paper")
        .annotate(n=Count("id"))
        .order_by()
    }
    for pot_id, content in PendingBallot.objects.filter(election=election).values_list("pot_id", "content"):
        opened = pending.decrypt(election_id=election.pk, pot_id=pot_id, content=content)
        key = (pot_id, opened.is_paper)
        counts[key] = counts.get(key, 0) + 1
    return counts


def paper_marked(election: Election) -> dict[tuple[int, str], int]:
    """{(pot id, booth): voters marked as voting on paper there}."""
    return {
        (pot_id, booth): n
        for pot_id, booth, n in Participation.objects.filter(election=election, channel=Channel.PAPER)
        .values_list("pot_id", "booth")
        .annotate(n=Count("id"))
        .order_by()
    }


def paper_entered(election: Election) -> dict[tuple[int, str], tuple[int, int, int]]:
    """{(pot id, booth): (lines of its accepted paper batches, the valid ones among them, batches still
    open)}: the paper ballots entered there, since ballots carry no booth."""
    return {
        (pot_id, booth): (total, valid, open_n)
        for pot_id, booth, total, valid, open_n in PaperBatch.objects.filter(election=election)
        .values_list("pot_id", "booth")
        .annotate(
            total=Sum("lines_total", filter=Q(status=PaperBatchStatus.ACCEPTED), default=0),
            valid=Sum("lines_valid", filter=Q(status=PaperBatchStatus.ACCEPTED), default=0),
            open_n=Count("id", filter=Q(status=PaperBatchStatus.OPEN)),
        )
        .order_by()
    }


def reconciliation_status(election: Election) -> ReconciliationStatus:
    """Per pot: the online row, and one paper row per booth with paper voters or batches."""
    pots = list(Pot.objects.filter(election=election).order_by("name"))
    part = Participation.objects.filter(election=election)
    online_part: dict[int, int] = dict(
        part.filter(channel__in=ONLINE_CHANNELS).values_list("pot_id").annotate(n=Count("id")).order_by()
    )
    paper_part = paper_marked(election)
    by_kind = ballot_counts(election)
    batches = paper_entered(election)
    resolutions = defaultdict(list)
    for res in ReconciliationResolution.objects.filter(
        election=election, withdrawn_at__isnull=True
    ).select_related("proposed_by", "confirmed_by"):
        resolutions[(res.pot_id, res.channel, res.booth)].append(res)

    rows: list[ReconciliationRow] = []
    integrity: list[str] = []
    for pot in pots:
        rows.append(
            ReconciliationRow(
                pot=pot,
                channel=ReconciliationChannel.ONLINE,
                booth="",
                ballots=by_kind.get((pot.pk, False), 0),
                participations=online_part.get(pot.pk, 0),
            )
        )
        booths = sorted(
            {b for (p, b) in paper_part if p == pot.pk} | {b for (p, b) in batches if p == pot.pk}
        )
        in_batches = sum(v[1] for (p, _b), v in batches.items() if p == pot.pk)
        outside = by_kind.get((pot.pk, True), 0) - in_batches
        if outside < 0:
            integrity.append(
                _("%(pot)s: %(n)s paper ballots of accepted batches are missing from the ballot table")
                % {"pot": pot.name, "n": -outside}
            )
        if outside > 0 and "" not in booths:
            booths.insert(0, "")
        for booth in booths:
            total, valid, open_n = batches.get((pot.pk, booth), (0, 0, 0))
            rows.append(
                ReconciliationRow(
                    pot=pot,
                    channel=ReconciliationChannel.PAPER,
                    booth=booth,
                    ballots=valid + (max(outside, 0) if booth == "" else 0),
                    participations=paper_part.get((pot.pk, booth), 0),
                    rejected_lines=total - valid,
                    open_batches=open_n,
                )
            )
    for row in rows:
        for res in resolutions.get((row.pot.pk, row.channel, row.booth), []):
            if res.confirmed_by_id is None:
                row.proposal = res
            elif (res.participations, res.ballots) == (row.participations, row.ballots):
                if row.resolution is None or res.confirmed_at > row.resolution.confirmed_at:
                    row.resolution = res
            else:
                row.stale.append(res)
    return ReconciliationStatus(rows=rows, integrity=integrity)


def reconciliation_row(election: Election, *, pot: Pot, channel: str, booth: str) -> ReconciliationRow | None:
    for row in reconciliation_status(election).rows:
        if (row.pot.pk, row.channel, row.booth) == (pot.pk, channel, booth):
            return row
    return None


def reconciliation_manifest(election: Election) -> dict:
    """The "reconciliation" entry of the signed result manifest (docs/verification.md): per pot slug, the
    pot's name, participations and ballots per channel, and the resolutions that cover its differences."""
    status = reconciliation_status(election)
    out: dict[str, dict] = {}
    for row in status.rows:
        pot = out.setdefault(
            row.pot.slug,
            {
                "name": row.pot.name,
                "participations": {c: 0 for c in ReconciliationChannel.values},
                "ballots": {c: 0 for c in ReconciliationChannel.values},
                "resolutions": [],
            },
        )
        pot["participations"][row.channel] += row.participations
        pot["ballots"][row.channel] += row.ballots
        if row.difference and row.resolution is not None:
            pot["resolutions"].append(
                {
                    "channel": row.channel,
                    "booth": row.booth,
                    "participations": row.participations,
                    "ballots": row.ballots,
                    "difference": row.difference,
                    "reason": row.resolution.reason,
                }
            )
    return out
