"""What the maps show: proposals with coordinates as markers; the district outlines come from pb.core."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.urls import reverse

from pb.core.models import Election
from proposals.models import Proposal

MAX_MARKERS = 2000  # a city's whole edition; the list next to the map is paginated as usual


def map_settings(election: Election) -> dict[str, str]:
    """The map's data attributes: base tiles only when the site sets PB_MAP_TILE_URL (no tiles offline)."""
    return {
        "tile_url": getattr(settings, "PB_MAP_TILE_URL", ""),
        "tile_attribution": getattr(settings, "PB_MAP_TILE_ATTRIBUTION", ""),
        "shapes_url": reverse("core:shapes", args=[election.slug]),
    }


def map_markers(
    proposals,
    *,
    slug: str,
    funded: set[str] | None = None,
    link: Callable[[Proposal], str] | None = None,
    status: Callable[[Proposal], str] | None = None,
) -> list[dict[str, Any]]:
    """One marker per proposal with coordinates, for json_script (never HTML: the script builds it).
    `link` and `status` replace the proposal page and the proposal's status (another page's own map, e.g.
    the funded projects' tracking in tally.tracking)."""
    markers = []
    for p in proposals[:MAX_MARKERS]:
        if p.latitude is None or p.longitude is None:
            continue
        markers.append(
            {
                "lat": float(p.latitude),
                "lon": float(p.longitude),
                "code": p.code,
                "title": p.title,
                "status": status(p) if status else p.get_status_display(),
                "funded": bool(funded and p.code in funded),
                "url": link(p) if link else reverse("proposals:detail", args=[slug, p.code]),
            }
        )
    return markers


def proposal_marker(proposal: Proposal) -> list[dict[str, Any]]:
    return map_markers([proposal], slug=proposal.election.slug)
