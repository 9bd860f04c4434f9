"""Reads of project tracking: the funded projects of published elections (filtered), one project's page,
the feed's latest changes. Only published elections: nothing else is reachable."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse

from pb.core.models import Election, Phase
from proposals import maps
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


def funded_map(qs: QuerySet[ProjectTracking], *, election: Election | None) -> dict[str, Any]:
    """The "what we built" map: every filtered funded project with a location, linked to its tracking page and
    labelled with its tracking status (the proposals' map code and script, proposals.maps); the district
    shapes when one election is chosen. Every project on the map is also in `mapped` (listed on the page)."""
    tracked = list(qs[: maps.MAX_MARKERS])
    by_proposal = {t.proposal_id: t for t in tracked}
    proposals = [t.proposal for t in tracked]
    markers = maps.map_markers(
        proposals,
        slug="",
        funded={p.code for p in proposals},
        link=lambda p: reverse("tracking:project", args=[by_proposal[p.pk].election.slug, p.code]),
        status=lambda p: f"{by_proposal[p.pk].get_status_display()}, {by_proposal[p.pk].progress}%",
    )
    if election is not None:
        settings_ = maps.map_settings(election)
    else:
        settings_ = {
            "tile_url": getattr(settings, "PB_MAP_TILE_URL", ""),
            "tile_attribution": getattr(settings, "PB_MAP_TILE_ATTRIBUTION", ""),
            "shapes_url": "",
        }
    mapped = [t for t in tracked if t.proposal.latitude is not None and t.proposal.longitude is not None]
    return {"markers": markers, "map": settings_, "mapped": mapped, "unmapped": len(tracked) - len(mapped)}
