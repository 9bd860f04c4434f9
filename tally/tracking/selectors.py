"""Reads of project tracking: the funded projects of published elections (filtered), one project's page,
the feed's latest changes. Only published elections: nothing else is reachable."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from pb.core.models import Phase
from tally.tracking.models import ProjectTracking, TrackingStatus, TrackingUpdate


def tracked_projects(
    *, election_slug: str = "", status: str = "", pot: str = ""
) -> QuerySet[ProjectTracking]:
    qs = ProjectTracking.objects.filter(election__phase=Phase.PUBLISHED).select_related(
        "election", "proposal", "proposal__pot", "proposal__category"
    )
    if election_slug:
        qs = qs.filter(election__slug=election_slug)
    if status in TrackingStatus.values:
        qs = qs.filter(status=status)
    if pot:
        qs = qs.filter(proposal__pot__slug=pot)
    return qs.order_by("-election__created_at", "proposal__code")


def tracked_project(slug: str, code: str) -> ProjectTracking:
    tracking = (
        ProjectTracking.objects.filter(
            election__slug=slug, election__phase=Phase.PUBLISHED, proposal__code=code
        )
        .select_related("election", "proposal", "proposal__pot", "proposal__category")
        .first()
    )
    if tracking is None:
        raise Http404
    return tracking


def latest_updates(limit: int = 50) -> QuerySet[TrackingUpdate]:
    return (
        TrackingUpdate.objects.filter(tracking__election__phase=Phase.PUBLISHED)
        .select_related("tracking__election", "tracking__proposal")
        .order_by("-created_at", "-pk")[:limit]
    )
