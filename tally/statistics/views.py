"""The public statistics page of an election (tally.statistics.selectors says what each phase shows)."""

from __future__ import annotations

from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from tally.statistics import selectors


@require_safe
def election_statistics(request, slug):
    election = selectors.statistics_election(slug)
    data = selectors.statistics_data(election)
    pot = request.GET.get("pot", "")
    slugs = {p["slug"] for p in data.get("turnout", {}).get("pots", [])}
    error, status = "", 200
    if pot and pot not in slugs:  # a district of another election, garbage, or before the turnout is shown
        error, status, pot = (
            _("There is no district “%(pot)s” in these statistics.") % {"pot": pot[:80]},
            400,
            "",
        )
    ctx = {
        "election": election,
        # Built only when the template's cached body misses (the snapshot's time keys it). bench/api.py,
        # 100,000 voters, 20 clients, 2 shared cores (load 7-10), PostgreSQL: rendering every time p50 107 ms
        # p95 448 ms, 108 req/s; cached body p50 37 ms p95 137 ms, 361 req/s (SQLite: p95 256 -> 93 ms).
        "page": SimpleLazyObject(lambda: selectors.statistics_page(election, data, pot=pot)),
        "stamp": data.get("computed_at", ""),
        "focus": pot,
        "error": error,
    }
    return render(request, "tally/statistics.html", ctx, status=status)
