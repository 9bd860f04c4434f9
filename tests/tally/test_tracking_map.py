"""The "what we built" page's map of funded projects: every funded project with a location is a marker that
links to its tracking page, every marker is also listed in text, and nothing of an unpublished election."""

import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from proposals.models import Proposal
from tally.tracking.models import ProjectTracking


@pytest.fixture
def published(world):
    world.through_certify()
    world.publish()
    return world


def _markers(html):
    return json.loads(
        re.search(r'<script id="built-markers" type="application/json">(.*?)</script>', html, re.S)[1]
    )


def test_funded_projects_on_the_map_and_in_the_list(published, client):
    tracked = list(ProjectTracking.objects.select_related("proposal"))
    located = tracked[:-1]
    for i, t in enumerate(located):
        Proposal.objects.filter(pk=t.proposal_id).update(
            latitude=Decimal("52.1") + i, longitude=Decimal("21.0")
        )
    # A project that was not funded never appears, even with a location.
    unfunded = Proposal.objects.filter(election=published.election).exclude(
        pk__in=[t.proposal_id for t in tracked]
    )
    unfunded.update(latitude=Decimal("50"), longitude=Decimal("20"))
    html = client.get(reverse("tracking:projects")).content.decode()
    markers = _markers(html)
    assert {m["code"] for m in markers} == {t.proposal.code for t in located}
    for m in markers:
        url = reverse("tracking:project", args=[published.election.slug, m["code"]])
        assert m["url"] == url and m["funded"] is True and m["status"].startswith("Planned")
        assert f'href="{url}"' in html.split('id="built-map-list"')[1]  # listed in text too
    assert 'id="built-unmapped"' in html  # the one without a location is said to be missing
    assert 'data-shapes-url=""' in html  # several elections: no district shapes
    one = client.get(reverse("tracking:projects") + f"?election={published.election.slug}").content.decode()
    assert reverse("core:shapes", args=[published.election.slug]) in one


def test_filters_apply_to_the_map_and_garbage_is_harmless(published, client):
    t = ProjectTracking.objects.select_related("proposal").first()
    Proposal.objects.filter(pk=t.proposal_id).update(latitude=Decimal("52"), longitude=Decimal("21"))
    url = reverse("tracking:projects")
    assert _markers(client.get(url + "?status=done").content.decode()) == []
    for query in ("?election=%FF%FE", "?pot=" + "x" * 3000, "?election=nope"):  # match nothing
        response = client.get(url + query)
        assert response.status_code == 200 and _markers(response.content.decode()) == []
    for query in ("?status=<script>", "?page=-1", "?page=%00x"):  # ignored: the whole map
        response = client.get(url + query)
        assert response.status_code in (200, 400)
        if response.status_code == 200:
            assert [m["code"] for m in _markers(response.content.decode())] == [t.proposal.code]


def test_unpublished_election_not_on_the_map(world, client):
    world.through_certify()  # certified, not published
    Proposal.objects.filter(election=world.election).update(latitude=Decimal("52"), longitude=Decimal("21"))
    assert _markers(client.get(reverse("tracking:projects")).content.decode()) == []
