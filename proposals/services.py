"""Proposal state changes. Each is atomic, checks permission first through pb.core.permissions.require,
validates everything before writing, and records an audit event in the same transaction."""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from pb.core.audit import audit_record
from pb.core.i18n import clean_translations
from pb.core.models import Category, Election, Pot
from pb.core.notifications.models import NotificationKind
from pb.core.permissions import require
from proposals.exceptions import NotAuthor, NotEditable, ProposalInvalid
from proposals.follows.models import Follow
from proposals.follows.services import followers_move, followers_notify
from proposals.images import image_for_storage, thumbnail_for_storage
from proposals.models import Proposal, ProposalStatus
from proposals.search import search_text_for

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = (
    "title",
    "description",
    "pot",
    "category",
    "cost",
    "location",
    "latitude",
    "longitude",
    "image",
    "image_alt",
)
MAX_COST = 10**12
_CODE_RE = re.compile(r"^P(\d+)$")


def next_code(election: Election) -> str:
    """The next free public id ("P001", "P002", ...). Call with the election row locked."""
    numbers = [
        int(m.group(1))
        for code in Proposal.objects.filter(election=election).values_list("code", flat=True)
        if (m := _CODE_RE.match(code))
    ]
    return f"P{max(numbers, default=0) + 1:03d}"


def lock_election(election: Election) -> Election:
    # Serialises code allocation: two residents submitting at once must not get the same "P017".
    return Election.objects.select_for_update().get(pk=election.pk)


def _invalid(errors: dict[str, list[str]]) -> ProposalInvalid:
    first = next(iter(errors.values()))[0] if errors else _("The proposal is not valid.")
    return ProposalInvalid(first, errors)


def _check_fields(proposal: Proposal, election: Election, *, has_image: bool = False) -> None:
    """Domain checks the model cannot express, then the model's own validation (lengths, cost range)."""
    errors: dict[str, list[str]] = {}
    proposal.image_alt = " ".join((proposal.image_alt or "").split())
    if (has_image or proposal.image) and not proposal.image_alt:
        # Screen-reader users hear this instead of seeing the picture: only the author knows what it shows.
        errors["image_alt"] = [_("Describe the picture in a few words for people who cannot see it.")]
    limit = Proposal._meta.get_field("description").max_length
    if len(proposal.description or "") > limit:
        # TextField.max_length is not a model validator, so the service enforces it.
        errors["description"] = [
            _("The description is too long: at most %(max)d characters (it has %(n)d).")
            % {"max": limit, "n": len(proposal.description)}
        ]
    if proposal.pot_id is not None and proposal.pot.election_id != election.pk:
        errors["pot"] = [_("This district does not belong to this election.")]
    if proposal.category_id is not None and proposal.category.election_id != election.pk:
        errors["category"] = [_("This category does not belong to this election.")]
    if not isinstance(proposal.cost, int) or isinstance(proposal.cost, bool) or proposal.cost < 1:
        errors["cost"] = [_("The estimated cost must be a positive whole number.")]
    elif proposal.cost > MAX_COST:
        errors["cost"] = [_("The estimated cost is unrealistically large.")]
    lat, lon = proposal.latitude, proposal.longitude
    if (lat is None) != (lon is None):
        errors["latitude"] = [_("Give both latitude and longitude, or neither.")]
    if lat is not None and not Decimal(-90) <= Decimal(lat) <= Decimal(90):
        errors["latitude"] = [_("Latitude must be between -90 and 90.")]
    if lon is not None and not Decimal(-180) <= Decimal(lon) <= Decimal(180):
        errors["longitude"] = [_("Longitude must be between -180 and 180.")]
    if errors:
        raise _invalid(errors)
    try:
        proposal.full_clean(exclude=["image", *errors])
    except ValidationError as exc:
        raise _invalid(exc.message_dict) from exc


def _store_image(proposal: Proposal, upload) -> None:
    """The re-encoded picture (no EXIF) and its thumbnail, both under random names."""
    try:
        stored = image_for_storage(upload)
        thumb = thumbnail_for_storage(stored)
    except ValidationError as exc:
        raise _invalid({"image": exc.messages}) from exc
    except Exception as exc:  # a picture that re-encoded but will not shrink: refuse it, never a 500
        raise _invalid(
            {"image": [_("This file is not an image we can read. Use a JPEG, PNG or WebP picture.")]}
        ) from exc
    stored.seek(0)
    proposal.image.save(stored.name, stored, save=False)
    proposal.image_thumb.save(thumb.name, thumb, save=False)


def _ensure_author(actor, proposal: Proposal) -> None:
    if proposal.author_id is None or proposal.author_id != getattr(actor, "pk", None):
        raise NotAuthor(_("Only the author of proposal %(code)s can change it.") % {"code": proposal.code})


def _ensure_draft(proposal: Proposal) -> None:
    if proposal.status != ProposalStatus.DRAFT:
        raise NotEditable(
            _("Proposal %(code)s has been submitted and can no longer be changed.") % {"code": proposal.code}
        )


@transaction.atomic
def proposal_create(
    *,
    actor,
    election: Election,
    title: str,
    description: str,
    pot: Pot,
    cost: int,
    category: Category | None = None,
    location: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    image: Any = None,
    image_alt: str = "",
    language: str | None = None,
    submit: bool = False,
) -> Proposal:
    """A resident's new proposal (a draft, or submitted at once with submit=True)."""
    election = lock_election(election)
    require(actor, "proposal.submit", election)
    proposal = Proposal(
        election=election,
        author=actor,
        code=next_code(election),
        title=title,
        description=description,
        pot=pot,
        category=category,
        cost=cost,
        location=location or "",
        latitude=latitude,
        longitude=longitude,
        image_alt=image_alt or "",
        language=(language or translation.get_language() or "en")[:10],
        status=ProposalStatus.SUBMITTED if submit else ProposalStatus.DRAFT,
    )
    _check_fields(proposal, election, has_image=bool(image))
    if image:
        _store_image(proposal, image)
    proposal.search_text = search_text_for(proposal)
    proposal.save()
    Follow.objects.create(user=actor, proposal=proposal)  # authors follow their own proposals
    audit_record(
        actor=actor,
        action="proposal.create",
        election=election,
        obj=proposal,
        data={"code": proposal.code, "status": proposal.status, "cost": proposal.cost},
    )
    return proposal


@transaction.atomic
def proposal_update(*, actor, proposal: Proposal, **changes: Any) -> Proposal:
    """The author edits their draft. Accepts only EDITABLE_FIELDS."""
    proposal = Proposal.objects.select_for_update().select_related("election").get(pk=proposal.pk)
    election = proposal.election
    require(actor, "proposal.submit", election)
    _ensure_author(actor, proposal)
    _ensure_draft(proposal)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ProposalInvalid(_("These fields cannot be changed: %(f)s") % {"f": ", ".join(sorted(unknown))})
    for name, value in changes.items():
        if name == "image":
            continue  # handled after validation
        if value is None and name in ("title", "description", "location", "image_alt"):
            value = ""
        setattr(proposal, name, value)
    _check_fields(proposal, election, has_image=bool(changes.get("image")))
    if changes.get("image"):
        _store_image(proposal, changes["image"])
    proposal.search_text = search_text_for(proposal)
    proposal.save()
    audit_record(
        actor=actor,
        action="proposal.update",
        election=election,
        obj=proposal,
        data={"code": proposal.code, "fields": sorted(changes)},
    )
    followers_notify(proposal=proposal, kind=NotificationKind.CHANGED, actor=actor)
    return proposal


@transaction.atomic
def proposal_submit(*, actor, proposal: Proposal) -> Proposal:
    """The author hands the draft in for review; it can no longer be edited."""
    proposal = Proposal.objects.select_for_update().select_related("election").get(pk=proposal.pk)
    require(actor, "proposal.submit", proposal.election)
    _ensure_author(actor, proposal)
    _ensure_draft(proposal)
    proposal.status = ProposalStatus.SUBMITTED
    proposal.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action="proposal.submit",
        election=proposal.election,
        obj=proposal,
        data={"code": proposal.code},
    )
    return proposal


@transaction.atomic
def proposal_review(
    *,
    actor,
    proposal: Proposal,
    feasible: bool,
    reason: str = "",
    adjusted_cost: int | None = None,
    cost_note: str = "",
) -> Proposal:
    """An official's decision. Feasible proposals are the projects on the ballot."""
    proposal = Proposal.objects.select_for_update().select_related("election").get(pk=proposal.pk)
    require(actor, "proposal.review", proposal.election)
    reviewable = {ProposalStatus.SUBMITTED, ProposalStatus.FEASIBLE, ProposalStatus.NOT_FEASIBLE}
    if proposal.status not in reviewable:
        raise NotEditable(
            _("Proposal %(code)s is “%(status)s” and cannot be reviewed.")
            % {"code": proposal.code, "status": proposal.get_status_display()}
        )
    reason, cost_note = (reason or "").strip(), (cost_note or "").strip()
    errors: dict[str, list[str]] = {}
    if not feasible and not reason:
        errors["reason"] = [_("Give the public reason why this proposal is not feasible.")]
    if adjusted_cost is not None:
        if not isinstance(adjusted_cost, int) or isinstance(adjusted_cost, bool) or adjusted_cost < 1:
            errors["adjusted_cost"] = [_("The adjusted cost must be a positive whole number.")]
        elif adjusted_cost > MAX_COST:
            errors["adjusted_cost"] = [_("The adjusted cost is unrealistically large.")]
        elif not cost_note:
            errors["cost_note"] = [_("Explain the adjusted cost in a note.")]
    if len(reason) > 2000:
        errors["reason"] = [_("The reason is too long (at most 2000 characters).")]
    if len(cost_note) > 500:
        errors["cost_note"] = [_("The cost note is too long (at most 500 characters).")]
    if errors:
        raise _invalid(errors)
    proposal.status = ProposalStatus.FEASIBLE if feasible else ProposalStatus.NOT_FEASIBLE
    proposal.review_reason = reason
    proposal.adjusted_cost = adjusted_cost
    proposal.cost_note = cost_note if adjusted_cost is not None else ""
    proposal.save(update_fields=["status", "review_reason", "adjusted_cost", "cost_note", "updated_at"])
    audit_record(
        actor=actor,
        action="proposal.review",
        election=proposal.election,
        obj=proposal,
        data={
            "code": proposal.code,
            "status": proposal.status,
            "reason": reason,
            "adjusted_cost": adjusted_cost,
            "cost_note": proposal.cost_note,
        },
    )
    followers_notify(
        proposal=proposal, kind=NotificationKind.REVIEWED, actor=actor, feasible=feasible, reason=reason
    )
    return proposal


@transaction.atomic
def proposal_merge(*, actor, duplicate: Proposal, keep: Proposal, reason: str = "") -> Proposal:
    """Mark `duplicate` as merged into `keep`; proposals merged earlier into the duplicate follow it."""
    duplicate = (
        Proposal.objects.select_for_update(of=("self",))
        .select_related("election", "pot")
        .get(pk=duplicate.pk)
    )
    keep = Proposal.objects.select_for_update(of=("self",)).select_related("pot").get(pk=keep.pk)
    require(actor, "proposal.merge", duplicate.election)
    if keep.pk == duplicate.pk:
        raise ProposalInvalid(
            _("A proposal cannot be merged into itself."), {"keep": [_("Choose another one.")]}
        )
    if keep.election_id != duplicate.election_id:
        raise ProposalInvalid(_("Both proposals must belong to the same election."))
    if keep.pot_id != duplicate.pot_id:
        # A merge moves the duplicate's supporters to `keep`: across districts they could not vote for it.
        raise ProposalInvalid(
            _("Proposal %(code)s is in %(pot)s, not in %(dup_pot)s: merge only within the same district.")
            % {"code": keep.code, "pot": keep.pot.name, "dup_pot": duplicate.pot.name},
            {"keep": [_("Choose a proposal of the same district.")]},
        )
    if keep.status not in (ProposalStatus.SUBMITTED, ProposalStatus.FEASIBLE):
        # Merging into a rejected or merged proposal would silently drop the duplicate from the ballot.
        raise ProposalInvalid(
            _(
                "Proposal %(code)s is “%(status)s”: merge only into a proposal that is feasible or still "
                "under review."
            )
            % {"code": keep.code, "status": keep.get_status_display()},
            {"keep": [_("Choose a feasible proposal or one still under review.")]},
        )
    if duplicate.status in (ProposalStatus.MERGED, ProposalStatus.DRAFT):
        raise NotEditable(
            _("Proposal %(code)s is “%(status)s” and cannot be merged.")
            % {"code": duplicate.code, "status": duplicate.get_status_display()}
        )
    followers = list(Proposal.objects.filter(merged_into=duplicate).values_list("code", flat=True))
    Proposal.objects.filter(merged_into=duplicate).update(merged_into=keep)
    duplicate.status = ProposalStatus.MERGED
    duplicate.merged_into = keep
    duplicate.review_reason = (reason or "").strip()[:2000]
    duplicate.save(update_fields=["status", "merged_into", "review_reason", "updated_at"])
    audit_record(
        actor=actor,
        action="proposal.merge",
        election=duplicate.election,
        obj=duplicate,
        data={"code": duplicate.code, "into": keep.code, "followers": followers},
    )
    followers_notify(proposal=duplicate, kind=NotificationKind.MERGED, actor=actor, into=keep.code)
    followers_move(duplicate=duplicate, keep=keep)
    return duplicate


@transaction.atomic
def proposal_translate(
    *, actor, proposal: Proposal, titles: dict[str, str], descriptions: dict[str, str]
) -> Proposal:
    """Set an official translation of the proposal's title and description ({language: text}; empty removes
    it). Display only: the ballot's frozen definition keeps the original title, so any phase is fine."""
    require(actor, "content.translate", proposal.election)
    # Lock the row: two officials saving at once must not lose one another's languages.
    proposal = Proposal.objects.select_for_update().select_related("election").get(pk=proposal.pk)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, dict[str, str]] = {}
    for field, values, limit in (("title_i18n", titles, 140), ("description_i18n", descriptions, 5000)):
        try:
            cleaned[field] = clean_translations(values, max_length=limit)
        except ValueError as exc:
            errors[field] = [_("Not a valid translation: %(problem)s.") % {"problem": exc}]
    if errors:
        raise _invalid(errors)
    before = {f: getattr(proposal, f) for f in cleaned}
    if before == cleaned:
        return proposal
    for field, value in cleaned.items():
        setattr(proposal, field, value)
    proposal.save(update_fields=[*cleaned, "updated_at"])
    audit_record(
        actor=actor,
        action="proposal.translate",
        election=proposal.election,
        obj=proposal,
        data={"code": proposal.code, "before": before, "after": cleaned},
    )
    return proposal
