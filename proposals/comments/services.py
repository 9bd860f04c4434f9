"""Comments on proposals: post, edit (the author, within the edit window), report (anyone), hide (officials,
with a public reason). Moderation (reports and hiding) is audited; posts and edits are the comments
themselves, kept in their table.

Rate limits are per account (per address for anonymous reports), counted in Django's cache in fixed windows.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from pb.core.audit import audit_record
from pb.core.exceptions import DomainError
from pb.core.notifications.models import NotificationKind
from pb.core.notifications.services import notifications_withdraw
from pb.core.permissions import require
from pb.core.ratelimit import RateLimited, rate_charge, rates  # noqa: F401 (callers catch services.RateLimited)
from proposals.comments.models import BODY_MAX, REASON_MAX, Comment, CommentReport
from proposals.follows.services import followers_notify
from proposals.models import Proposal, ProposalStatus

EDIT_WINDOW = dt.timedelta(minutes=15)
# (how many, per seconds): a burst limit and a daily one. Settings may override them (PB_COMMENT_RATES).
COMMENT_RATES = ((5, 300), (50, 86_400))
REPORT_RATES = ((20, 3_600),)
ANON_REPORT_RATES = ((10, 3_600),)

# Control characters other than tab and newline (NUL is refused by PostgreSQL, the rest confuse display).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class CommentInvalid(DomainError):
    status_code = 400


class CommentNotAllowed(DomainError):
    status_code = 403


def clean_text(text, *, limit: int, field: str) -> str:
    """Plain text: newlines normalised, control and direction-override characters removed, trimmed."""
    if not isinstance(text, str):
        raise CommentInvalid(_("Write some text."))
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(text) > limit:
        raise CommentInvalid(
            _("The %(field)s is too long: at most %(max)d characters (it has %(n)d).")
            % {"field": field, "max": limit, "n": len(text)}
        )
    return text


def _commentable(actor, proposal: Proposal) -> None:
    require(actor, "comment.post", proposal.election)
    if proposal.status == ProposalStatus.DRAFT:
        raise CommentNotAllowed(_("Drafts cannot be commented on."))


def comment_url(comment: Comment) -> str:
    p = comment.proposal
    return reverse("proposals:detail", args=[p.election.slug, p.code]) + f"#comment-{comment.pk}"


@transaction.atomic
def comment_post(*, actor, proposal: Proposal, body: str, parent: Comment | None = None) -> Comment:
    """A signed-in person's comment, or a reply to a top-level one (a reply to a reply joins its thread)."""
    proposal = Proposal.objects.select_related("election").get(pk=proposal.pk)
    _commentable(actor, proposal)
    text = clean_text(body, limit=BODY_MAX, field=_("comment"))
    if not text:
        raise CommentInvalid(_("Write a comment first."))
    if parent is not None:
        parent = Comment.objects.filter(pk=parent.pk, proposal=proposal).first()
        if parent is None:
            raise CommentInvalid(_("The comment you reply to is not on this proposal."))
        if parent.parent_id is not None:
            parent = parent.parent  # one level of threading
        if parent.is_hidden:
            raise CommentInvalid(_("This comment was hidden by the officials and cannot be replied to."))
    rate_charge(f"comment:{actor.pk}", rates("PB_COMMENT_RATES", COMMENT_RATES))
    comment = Comment.objects.create(proposal=proposal, author=actor, parent=parent, body=text)
    followers_notify(
        proposal=proposal,
        kind=NotificationKind.COMMENT,
        actor=actor,
        url=comment_url(comment),
        author=actor.get_username(),
    )
    return comment


def comment_editable(comment: Comment, user, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        getattr(user, "is_authenticated", False)
        and comment.author_id == user.pk
        and not comment.is_hidden
        and now - comment.created_at <= EDIT_WINDOW
    )


@transaction.atomic
def comment_edit(*, actor, comment: Comment, body: str) -> Comment:
    """The author corrects their comment within EDIT_WINDOW of posting it; it shows as edited."""
    # Row lock: an edit racing a hide must not bring back text an official has just hidden.
    comment = Comment.objects.select_for_update().select_related("proposal__election").get(pk=comment.pk)
    _commentable(actor, comment.proposal)
    if comment.author_id != actor.pk:
        raise CommentNotAllowed(_("Only its author can edit a comment."))
    if comment.is_hidden:
        raise CommentNotAllowed(_("This comment was hidden by the officials and can no longer be edited."))
    if timezone.now() - comment.created_at > EDIT_WINDOW:
        raise CommentNotAllowed(
            _("Comments can be edited for %(m)d minutes after posting.")
            % {"m": EDIT_WINDOW.total_seconds() // 60}
        )
    text = clean_text(body, limit=BODY_MAX, field=_("comment"))
    if not text:
        raise CommentInvalid(_("Write a comment first."))
    rate_charge(f"comment:{actor.pk}", rates("PB_COMMENT_RATES", COMMENT_RATES))
    comment.body, comment.edited_at = text, timezone.now()
    comment.save(update_fields=["body", "edited_at"])
    return comment


@transaction.atomic
def comment_report(*, actor, comment: Comment, reason: str = "", client_key: str = "") -> CommentReport:
    """Anyone reports a comment to the officials. A signed-in person's repeated report of the same comment
    returns the first one. Audited with the reporter kept private (the published log shows no name)."""
    comment = Comment.objects.select_related("proposal__election").get(pk=comment.pk)
    if comment.proposal.status == ProposalStatus.DRAFT:
        raise CommentNotAllowed(_("This comment cannot be reported."))
    text = clean_text(reason or "", limit=REASON_MAX, field=_("reason"))
    signed_in = getattr(actor, "is_authenticated", False)
    if signed_in:
        existing = CommentReport.objects.filter(comment=comment, reporter_id=actor.pk).first()
        if existing is not None:
            return existing
        rate_charge(f"report:{actor.pk}", rates("PB_REPORT_RATES", REPORT_RATES))
    else:
        rate_charge(f"report-anon:{client_key or '-'}", rates("PB_ANON_REPORT_RATES", ANON_REPORT_RATES))
    try:
        with transaction.atomic():
            report = CommentReport.objects.create(
                comment=comment, reporter_id=actor.pk if signed_in else None, reason=text
            )
    except IntegrityError:  # the same account's report, sent twice at once: the other one won
        return CommentReport.objects.get(comment=comment, reporter_id=actor.pk)
    audit_record(
        actor=actor if signed_in else None,
        action="comment.report",
        election=comment.proposal.election,
        obj=comment,
        data={"proposal": comment.proposal.code, "comment": comment.pk},
        private={"reason": text},
    )
    return report


@transaction.atomic
def comment_hide(*, actor, comment: Comment, reason: str) -> Comment:
    """An official hides a comment. Its text is no longer shown; that it was hidden, when, and the public
    reason are. Audited."""
    comment = Comment.objects.select_for_update().select_related("proposal__election").get(pk=comment.pk)
    require(actor, "comment.moderate", comment.proposal.election)
    text = clean_text(reason or "", limit=REASON_MAX, field=_("reason"))
    if not text:
        raise CommentInvalid(_("Give the public reason for hiding this comment."))
    if comment.is_hidden:
        raise CommentInvalid(_("This comment is already hidden."))
    comment.hidden_at, comment.hidden_by, comment.hidden_reason = timezone.now(), actor, text
    comment.save(update_fields=["hidden_at", "hidden_by", "hidden_reason"])
    # Followers are no longer told about it (nor sent it in their next digest).
    notifications_withdraw(kind=NotificationKind.COMMENT, url=comment_url(comment))
    audit_record(
        actor=actor,
        action="comment.hide",
        election=comment.proposal.election,
        obj=comment,
        data={
            "proposal": comment.proposal.code,
            "comment": comment.pk,
            "reason": text,
            "reports": comment.reports.count(),
        },
    )
    return comment
