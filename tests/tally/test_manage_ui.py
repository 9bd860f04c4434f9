"""UI fixes found in QA on the officials' count page."""

import pytest
from django.urls import reverse

from tests.ballots.cast_support import build_voting
from tests.factories import official

pytestmark = pytest.mark.django_db


def test_count_card_says_what_is_needed_while_voting_is_open(client):
    v = build_voting()
    client.force_login(official())
    html = client.get(reverse("tally:manage", args=[v.election.slug])).content.decode()
    card = html.split('id="h-count"', 1)[1].split("</section>", 1)[0]
    assert 'id="count-pending"' in card and "once the vote is closed" in card
    assert "exports the anonymised ballots" in card
    assert 'id="count-start"' not in card
