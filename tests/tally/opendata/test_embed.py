"""The embeddable result of one pot: frameable by any site, and only it; what the results page shows; a
link back."""

from __future__ import annotations

import json

from django.urls import reverse


def frame_ancestors(response) -> str:
    csp = response["Content-Security-Policy"]
    return next(d for d in csp.split(";") if d.strip().startswith("frame-ancestors")).strip()


def test_embed_shows_the_pots_funded_projects_and_links_back(published, client):
    slug = published.election.slug
    r = client.get(reverse("tally:embed", args=[slug, "north"]))
    assert r.status_code == 200
    body = r.content.decode()
    data = json.loads(client.get(f"/api/v1/elections/{slug}/results").content)
    north = next(p for p in data["pots"] if p["slug"] == "north")
    assert north["funded"]
    for p in north["funded"]:
        assert f"{p['id']} {p['name']}" in body
    for p in north["unfunded"]:
        assert f"{p['id']} {p['name']}" not in body
    assert f'href="http://testserver/results/{slug}/#h-north"' in body
    assert 'target="_blank" rel="noopener"' in body
    assert "<script" not in body


def test_only_the_embed_is_frameable(published, client):
    slug = published.election.slug
    embed = client.get(reverse("tally:embed", args=[slug, "south"]))
    assert "X-Frame-Options" not in embed
    assert frame_ancestors(embed) == "frame-ancestors *"
    assert "form-action 'none'" in embed["Content-Security-Policy"]
    for url in (
        reverse("tally:results", args=[slug]),
        f"/api/v1/elections/{slug}/results",
        "/api/v1/openapi.json",
        reverse("tally:log", args=[slug]),
        reverse("proposals:list", args=[slug]),
        "/",
    ):
        r = client.get(url)
        assert r["X-Frame-Options"] == "DENY", url
        assert frame_ancestors(r) == "frame-ancestors 'none'", url
    # A 404 of the embed address is an ordinary page: not frameable either.
    missing = client.get(reverse("tally:embed", args=[slug, "nowhere"]))
    assert missing.status_code == 404 and missing["X-Frame-Options"] == "DENY"


def test_embed_404s_and_reads_only(published, client):
    slug = published.election.slug
    assert client.get(reverse("tally:embed", args=[slug, "nowhere"])).status_code == 404
    assert client.get(reverse("tally:embed", args=["no-such", "north"])).status_code == 404
    assert client.post(reverse("tally:embed", args=[slug, "north"])).status_code == 405
