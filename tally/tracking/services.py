"""Stage 8, after publication: following the money. Each funded project of a published election gets a
tracking record (created when the election is published, from the certified count: nothing else decides
what was funded); officials record its status, progress, department, actual spend, milestones and public
updates. Every change is audited, and the project's followers are notified (proposals.follows)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from pb.core.audit import audit_record
from pb.core.exceptions import DomainError
from pb.core.models import Election, Phase
from pb.core.notifications.models import NotificationKind
from pb.core.permissions import require
from proposals.follows.services import followers_notify
from proposals.images import image_for_storage
from proposals.models import Proposal
from tally.selectors import certified_funded_codes
from tally.tracking.models import Milestone, ProjectTracking, TrackingStatus, TrackingUpdate

MAX_MONEY = 10**15


class TrackingInvalid(DomainError):
    status_code = 400


def _announce(tracking: ProjectTracking, actor, text: str) -> None:
    """Tell the project's followers (in the change's transaction: nothing is sent if it rolls back)."""
    followers_notify(
        proposal=tracking.proposal,
        kind=NotificationKind.PROGRESS,
        actor=actor,
        url=reverse("tracking:project", args=[tracking.election.slug, tracking.proposal.code]),
        what=text,
    )


def tracking_create_for(*, election: Election) -> int:
    """One tracking record per funded project (idempotent: a second call creates nothing)."""
    made = 0
    proposals = Proposal.objects.filter(election=election, code__in=certified_funded_codes(election))
    for proposal in proposals:
        _obj, created = ProjectTracking.objects.get_or_create(
            proposal=proposal, defaults={"election": election, "voted_cost": proposal.final_cost}
        )
        made += created
    return made


def tracking_phase_hook(*, election: Election, actor, to_phase: str) -> None:
    """PHASE_HOOK (tally.apps): publishing a result starts tracking its funded projects."""
    if to_phase == Phase.PUBLISHED:
        tracking_create_for(election=election)


def _locked(tracking: ProjectTracking, actor) -> ProjectTracking:
    tracking = (
        ProjectTracking.objects.select_for_update().select_related("election", "proposal").get(pk=tracking.pk)
    )
    require(actor, "tracking.edit", tracking.election)
    return tracking


@transaction.atomic
def tracking_update(
    *,
    actor,
    tracking: ProjectTracking,
    status: str,
    progress: int,
    department: str = "",
    actual_spend: int | None = None,
    spend_note: str = "",
    cancel_reason: str = "",
) -> ProjectTracking:
    tracking = _locked(tracking, actor)
    errors: dict[str, str] = {}
    if status not in TrackingStatus.values:
        errors["status"] = _("Choose one of the statuses.")
    if not isinstance(progress, int) or not 0 <= progress <= 100:
        errors["progress"] = _("Progress is a percentage from 0 to 100.")
    if actual_spend is not None and not 0 <= actual_spend <= MAX_MONEY:
        errors["actual_spend"] = _("The amount spent is a whole amount of money, 0 or more.")
    cancel_reason, spend_note, department = cancel_reason.strip(), spend_note.strip(), department.strip()
    if status == TrackingStatus.CANCELLED and not cancel_reason:
        errors["cancel_reason"] = _("Say why the project was cancelled: residents voted for it.")
    if status == TrackingStatus.DONE and progress != 100:
        errors["progress"] = _("A finished project's progress is 100 percent.")
    if actual_spend is not None and actual_spend != tracking.voted_cost and not spend_note:
        errors["spend_note"] = _("Explain why the amount spent differs from the cost residents voted for.")
    if errors:
        raise TrackingInvalid(" ".join(errors.values()))
    before = {"status": tracking.status, "progress": tracking.progress}
    tracking.status, tracking.progress = status, progress
    tracking.department = department[:200]
    tracking.actual_spend, tracking.spend_note = actual_spend, spend_note[:5000]
    tracking.cancel_reason = cancel_reason[:5000] if status == TrackingStatus.CANCELLED else ""
    tracking.save()
    audit_record(
        actor=actor,
        action="tracking.update",
        election=tracking.election,
        obj=tracking.proposal,
        data={
            "code": tracking.proposal.code,
            "from": before,
            "status": status,
            "progress": progress,
            "actual_spend": actual_spend,
        },
    )
    _announce(tracking, actor, f"{TrackingStatus(status).label}, {progress}%")
    return tracking


@transaction.atomic
def milestone_add(
    *,
    actor,
    tracking: ProjectTracking,
    title: str,
    due: dt.date | None = None,
    done_on: dt.date | None = None,
) -> Milestone:
    tracking = _locked(tracking, actor)
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise TrackingInvalid(_("A milestone needs a title of at most 200 characters."))
    milestone = Milestone.objects.create(tracking=tracking, title=title, due=due, done_on=done_on)
    audit_record(
        actor=actor,
        action="tracking.milestone",
        election=tracking.election,
        obj=tracking.proposal,
        data={
            "code": tracking.proposal.code,
            "title": title,
            "due": due.isoformat() if due else None,
            "done_on": done_on.isoformat() if done_on else None,
        },
    )
    _announce(tracking, actor, title)
    return milestone


@transaction.atomic
def update_post(
    *, actor, tracking: ProjectTracking, text: str, photo=None, photo_alt: str = ""
) -> TrackingUpdate:
    tracking = _locked(tracking, actor)
    text, photo_alt = (text or "").strip(), (photo_alt or "").strip()
    if not text or len(text) > 5000:
        raise TrackingInvalid(_("Write the update (at most 5,000 characters)."))
    if photo and not photo_alt:
        raise TrackingInvalid(_("Describe the photo for people who cannot see it."))
    update = TrackingUpdate(
        tracking=tracking, text=text, author=actor, photo_alt=photo_alt[:300] if photo else ""
    )
    if photo:
        try:
            stored = image_for_storage(photo)
        except ValidationError as exc:
            raise TrackingInvalid(" ".join(exc.messages)) from None
        update.photo.save(stored.name, stored, save=False)
    update.save()
    audit_record(
        actor=actor,
        action="tracking.post",
        election=tracking.election,
        obj=tracking.proposal,
        data={"code": tracking.proposal.code, "update": update.pk, "photo": bool(photo)},
    )
    _announce(tracking, actor, text[:200])
    return update
