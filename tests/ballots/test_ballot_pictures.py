"""Ballot entries show the proposal's thumbnail with its description; a refused ballot without JavaScript
lists its problems once; the receipt's no-JS text stands on its own."""

import pytest
from django.urls import reverse

from proposals.models import Proposal
from tests.ballots.cast_support import build_voting, identify

pytestmark = pytest.mark.django_db


@pytest.fixture
def v(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    return v


def test_ballot_entries_show_thumbnails(client, v):
    Proposal.objects.filter(pot=v.city, code="C1").update(
        image_thumb="proposals/thumbs/abc-thumb.jpg", image_alt="A bench by the pond"
    )
    html = client.get(reverse("ballots:ballot", args=[v.election.slug, v.city.slug])).content.decode()
    assert html.count('class="ballot-thumb"') == 1
    assert '/media/proposals/thumbs/abc-thumb.jpg" alt="A bench by the pond"' in html


def test_a_refused_ballot_lists_each_problem_once(client, v):
    r = client.post(
        reverse("ballots:ballot", args=[v.election.slug, v.city.slug]), {"project": ["C1", "C2", "C3", "C4"]}
    )
    html = r.content.decode()
    assert r.status_code == 400 and 'id="ballot-problems"' in html
    problem = html.split('id="ballot-problems"')[1].split("<li>")[1].split("</li>")[0]
    assert html.count(problem) == 1
    assert 'id="bar-ready"' not in html  # the bar does not claim the ballot is complete either
