"""The embeddable result: one pot's funded projects on a small page meant for an iframe on a city's own
website, with a link back to the full results (docs/api.md, "Embedding a result").

This view alone may be framed by any site (X-Frame-Options left out, CSP frame-ancestors *); every other page
keeps X-Frame-Options DENY and frame-ancestors 'none' from settings. It shows only what the public results
page shows, and only once the results are published (404 before, like the API)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET

from tally.opendata import selectors

EMBED_CSP = {**settings.SECURE_CSP, "frame-ancestors": ["*"], "form-action": ["'none'"]}


@require_GET
@xframe_options_exempt
@csp_override(EMBED_CSP)
def result_embed(request, slug, pot):
    from tally.certification.pdf import score_labels, score_text

    election = selectors.published_election(slug)
    data = selectors.results_public(election)
    result = next((p for p in data["pots"] if p["slug"] == pot), None)
    if result is None:
        raise Http404("No result for this pot.")
    for project in result["funded"]:
        project["score_text"] = score_text(result["ballot_type"], project["score"])
    ctx = {
        "election": election,
        "pot": result,
        "labels": score_labels(result["ballot_type"]),
        "results_url": request.build_absolute_uri(reverse("tally:results", args=[slug])) + f"#h-{pot}",
    }
    return render(request, "tally/result_embed.html", ctx)
