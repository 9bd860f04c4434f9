"""Resolutions of reconciliation differences (two officials, a public reason) and the guard that closing,
the official count and certification call.

A resolution changes no ballot and no participation: it records the numbers it explains. It covers a
difference only while the numbers are still those; if a batch is accepted afterwards, the row is open again.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ballots.exceptions import ReconciliationError
from ballots.models import (
    Channel,
    PaperBatch,
    PaperBatchStatus,
    Participation,
    ReconciliationChannel,
    ReconciliationResolution,
)
from ballots.reconciliation.selectors import ReconciliationRow, reconciliation_row, reconciliation_status
from pb.core.audit import audit_record
from pb.core.exceptions import PhaseError
from pb.core.models import Election, Pot
from pb.core.permissions import require

REASON_MAX = 2000


def pot_lock(pot: Pot | int) -> None:
    """Row lock on the pot: paper accepts and resolutions of one pot queue here, so two accepts cannot both
    count the same "voters marked, ballots already accepted" and both pass, and a resolution is proposed
    against numbers no accept is changing. FOR NO KEY UPDATE: casts (whose ballot and participation rows
    take a key-share lock on the pot through their foreign keys) are not blocked."""
    Pot.objects.select_for_update(no_key=True).filter(pk=pot if isinstance(pot, int) else pot.pk).first()


def _row(election: Election, pot: Pot, channel: str, booth: str) -> ReconciliationRow:
    if channel not in ReconciliationChannel.values:
        raise ReconciliationError(_("Unknown channel “%(c)s”.") % {"c": channel})
    if pot.election_id != election.pk:
        raise ReconciliationError(_("This pot is not part of this election."))
    row = reconciliation_row(election, pot=pot, channel=channel, booth=booth)
    if row is None:
        raise ReconciliationError(
            _("Nothing to reconcile for %(pot)s at booth “%(booth)s”.") % {"pot": pot.name, "booth": booth}
        )
    return row


@transaction.atomic
def reconciliation_resolve_propose(
    *, actor, election: Election, pot: Pot, channel: str, booth: str = "", reason: str
) -> ReconciliationResolution:
    """First of two officials: explain a difference, in words the public will read."""
    require(actor, "reconciliation.resolve", election)
    reason = (reason or "").strip()
    if not reason:
        raise ReconciliationError(_("Give the reason, as the public will read it on the results."))
    if len(reason) > REASON_MAX:
        raise ReconciliationError(_("Keep the reason under %(n)s characters.") % {"n": REASON_MAX})
    pot_lock(pot)
    row = _row(election, pot, channel, booth.strip())
    if row.difference == 0:
        raise ReconciliationError(_("There is no difference to resolve: %(row)s.") % {"row": row.describe()})
    if row.resolution is not None:
        raise ReconciliationError(
            _("This difference is already resolved: %(row)s.") % {"row": row.describe()}
        )
    now = timezone.now()
    if row.proposal is not None:
        current = (row.proposal.participations, row.proposal.ballots) == (row.participations, row.ballots)
        if current:
            raise ReconciliationError(
                _(
                    "%(who)s has already proposed a resolution of this difference: another official must "
                    "confirm it, or withdraw it first."
                )
                % {"who": row.proposal.proposed_by.get_username()}
            )
        # The numbers moved on: the old proposal explains a difference that no longer exists.
        ReconciliationResolution.objects.filter(pk=row.proposal.pk).update(withdrawn_at=now)
    try:
        with transaction.atomic():
            res = ReconciliationResolution.objects.create(
                election=election,
                pot=pot,
                channel=channel,
                booth=row.booth,
                participations=row.participations,
                ballots=row.ballots,
                reason=reason,
                proposed_by=actor,
                proposed_at=now,
            )
    except IntegrityError as exc:  # another official's proposal committed in between
        raise ReconciliationError(
            _("Another official has just proposed a resolution: reload the page.")
        ) from exc
    audit_record(
        actor=actor,
        action="reconciliation.propose",
        election=election,
        obj=res,
        data=_audit_data(res),
    )
    return res


def _audit_data(res: ReconciliationResolution) -> dict:
    return {
        "pot": res.pot.slug,
        "channel": res.channel,
        "booth": res.booth,
        "participations": res.participations,
        "ballots": res.ballots,
        "reason": res.reason,
    }


def _locked(election: Election, resolution: ReconciliationResolution | int) -> ReconciliationResolution:
    pk = resolution if isinstance(resolution, int) else resolution.pk
    # Row lock: two officials confirming (or one confirming while another withdraws) queue here.
    res = (
        ReconciliationResolution.objects.select_for_update(of=("self",))
        .select_related("pot")
        .filter(pk=pk, election=election)
        .first()
    )
    if res is None:
        raise ReconciliationError(_("No such resolution in this election."))
    if res.withdrawn_at is not None:
        raise ReconciliationError(_("This proposal was withdrawn."))
    if res.confirmed_by_id is not None:
        raise ReconciliationError(_("This resolution is already confirmed."))
    return res


@transaction.atomic
def reconciliation_resolve_confirm(
    *, actor, election: Election, resolution: ReconciliationResolution | int
) -> ReconciliationResolution:
    """Second official: confirm a proposal made by someone else, for the numbers as they still are."""
    require(actor, "reconciliation.resolve", election)
    res = _locked(election, resolution)
    if res.proposed_by_id == actor.pk:
        raise ReconciliationError(_("A second, different official must confirm this resolution."))
    pot_lock(res.pot)
    row = _row(election, res.pot, res.channel, res.booth)
    if (row.participations, row.ballots) != (res.participations, res.ballots):
        raise ReconciliationError(
            _(
                "The numbers changed since this was proposed (%(then_b)s ballots for %(then_p)s voters "
                "recorded; now %(row)s): propose the resolution again."
            )
            % {"then_b": res.ballots, "then_p": res.participations, "row": row.describe()}
        )
    res.confirmed_by, res.confirmed_at = actor, timezone.now()
    res.save(update_fields=["confirmed_by", "confirmed_at"])
    audit_record(
        actor=actor,
        action="reconciliation.confirm",
        election=election,
        obj=res,
        data=_audit_data(res),
    )
    return res


@transaction.atomic
def reconciliation_resolve_withdraw(
    *, actor, election: Election, resolution: ReconciliationResolution | int
) -> ReconciliationResolution:
    """Withdraw an open proposal (a wrong reason, or the paper turned up after all)."""
    require(actor, "reconciliation.resolve", election)
    res = _locked(election, resolution)
    res.withdrawn_at = timezone.now()
    res.save(update_fields=["withdrawn_at"])
    audit_record(
        actor=actor,
        action="reconciliation.withdraw",
        election=election,
        obj=res,
        data=_audit_data(res),
    )
    return res


def reconciliation_require_resolved(election: Election, *, closing: bool = False) -> None:
    """The one guard of closing, the official count and certification: raise a PhaseError that lists every
    difference between ballots and participations no confirmed resolution covers.

    `closing`: paper ballots are still entered after the vote closes, so a paper booth with fewer ballots
    than paper voters does not stop the close (it does stop the count); more ballots than voters does."""
    status = reconciliation_status(election)
    rows = [
        r
        for r in status.unresolved
        if not (closing and r.channel == ReconciliationChannel.PAPER and r.difference < 0)
    ]
    problems = status.integrity + [r.describe() for r in rows]
    if problems:
        raise PhaseError(
            _(
                "Ballots and voters recorded do not reconcile: %(list)s. Two officials must record the "
                "reason of each difference on the reconciliation page first."
            )
            % {"list": "; ".join(problems)}
        )


def paper_batch_excess(*, batch: PaperBatch, lines: int) -> str:
    """Why accepting `lines` more paper ballots at the batch's booth would give it more paper ballots than
    voters marked there as voting on paper ("" if it would not). Called by paper_batch_accept in its
    transaction: takes the pot's row lock first, so two batches of one booth accepted at the same moment are
    counted one after the other, and the second sees the first's lines."""
    pot_lock(batch.pot_id)
    marked = Participation.objects.filter(
        election_id=batch.election_id, pot_id=batch.pot_id, channel=Channel.PAPER, booth=batch.booth
    ).count()
    accepted = (
        PaperBatch.objects.filter(
            election_id=batch.election_id,
            pot_id=batch.pot_id,
            booth=batch.booth,
            status=PaperBatchStatus.ACCEPTED,
        )
        .exclude(pk=batch.pk)
        .aggregate(n=Sum("lines_total", default=0))["n"]
    )
    if accepted + lines <= marked:
        return ""
    return ngettext(
        "This batch has %(n)s paper ballots for %(pot)s at booth %(booth)s; %(marked)s voter was marked as "
        "voting on paper there and %(accepted)s paper ballots are already accepted. Mark the paper voters "
        "at the booth, or check the stack and the entries.",
        "This batch has %(n)s paper ballots for %(pot)s at booth %(booth)s; %(marked)s voters were marked "
        "as voting on paper there and %(accepted)s paper ballots are already accepted. Mark the paper "
        "voters at the booth, or check the stack and the entries.",
        marked,
    ) % {"n": lines, "pot": batch.pot.name, "booth": batch.booth, "marked": marked, "accepted": accepted}
