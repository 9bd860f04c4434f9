"""Stage 3, closing the vote: one official asks, a different one confirms (pb.core.permissions); the
phase change itself (and the final seal) runs in tally.phases when the confirmation moves the election to
"voting closed"."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pb.core.audit import audit_record
from pb.core.exceptions import DomainError
from pb.core.models import Election, Phase
from pb.core.permissions import require
from pb.core.services import election_advance
from tally.models import (
    CloseRequest,
)


@transaction.atomic
def close_request(*, actor, election: Election) -> CloseRequest:
    require(actor, "tally.close", election)
    # Row lock: two officials asking at the same moment must not create two open requests.
    election = Election.objects.select_for_update().get(pk=election.pk)
    open_req = CloseRequest.objects.filter(election=election, confirmed_by=None, cancelled=False).first()
    if open_req is not None:
        if open_req.requested_by_id == actor.pk:
            raise DomainError(_("You already asked to close the vote; another official must confirm."))
        raise DomainError(_("Closing was already requested: confirm it instead."))
    req = CloseRequest.objects.create(election=election, requested_by=actor, requested_at=timezone.now())
    audit_record(actor=actor, action="tally.close_requested", election=election, obj=req)
    return req


@transaction.atomic
def close_confirm(*, actor, election: Election) -> Election:
    require(actor, "tally.close", election)
    election = Election.objects.select_for_update().get(pk=election.pk)
    req = CloseRequest.objects.filter(election=election, confirmed_by=None, cancelled=False).first()
    if req is None:
        raise DomainError(_("Nobody has asked to close the vote yet."))
    if req.requested_by_id == actor.pk:
        raise DomainError(_("A second, different official must confirm closing the vote."))
    req.confirmed_by, req.confirmed_at = actor, timezone.now()
    req.save(update_fields=["confirmed_by", "confirmed_at"])
    audit_record(actor=actor, action="tally.close_confirmed", election=election, obj=req)
    return election_advance(actor=actor, election=election, to_phase=Phase.VOTING_CLOSED)


@transaction.atomic
def close_cancel(*, actor, election: Election) -> None:
    require(actor, "tally.close", election)
    n = CloseRequest.objects.filter(election=election, confirmed_by=None, cancelled=False).update(
        cancelled=True
    )
    if n:
        audit_record(actor=actor, action="tally.close_cancelled", election=election)
