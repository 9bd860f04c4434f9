"""Reads of comments for the proposal page and the officials' moderation list."""

from django.db.models import Count, Prefetch, Q, QuerySet

from pb.core.models import Election
from proposals.comments.models import Comment
from proposals.models import Proposal


def comments_for_proposal(*, proposal: Proposal) -> list[Comment]:
    """Top-level comments in order, each with its replies (`replies_list`) and its number of reports."""
    replies = Comment.objects.select_related("author").annotate(report_count=Count("reports"))
    return list(
        Comment.objects.filter(proposal=proposal, parent__isnull=True)
        .select_related("author")
        .annotate(report_count=Count("reports"))
        .prefetch_related(
            Prefetch("replies", queryset=replies.order_by("created_at", "pk"), to_attr="replies_list")
        )
        .order_by("created_at", "pk")
    )


def comments_reported(*, election: Election) -> QuerySet[Comment]:
    """Comments with at least one report: those still shown first (awaiting a decision), then hidden ones."""
    return (
        Comment.objects.filter(proposal__election=election)
        .annotate(report_count=Count("reports"))
        .filter(Q(report_count__gt=0) | Q(hidden_at__isnull=False))
        .select_related("author", "proposal", "hidden_by")
        .prefetch_related("reports")
        .order_by("hidden_at", "-report_count", "created_at")
    )


def moderation_todo(user, election: Election) -> list[dict]:
    """pb.core.navigation hook: reported comments still shown await an official's decision."""
    from django.urls import reverse
    from django.utils.translation import ngettext

    from pb.core.permissions import allowed

    if not allowed(user, "comment.moderate", election):
        return []
    waiting = (
        Comment.objects.filter(proposal__election=election, hidden_at__isnull=True, reports__isnull=False)
        .distinct()
        .count()
    )
    if not waiting:
        return []
    text = ngettext(
        "%(n)d reported comment awaits a decision", "%(n)d reported comments await a decision", waiting
    ) % {"n": waiting}
    return [
        {
            "id": "comments-reported",
            "text": text,
            "url": reverse("proposals:comments_moderation", args=[election.slug]),
        }
    ]
