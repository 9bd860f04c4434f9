"""A voter's page finds the session's voter and election in one query (identity.session_voter): it must never
show one election's voter under another election's address, nor fail on a session that names nothing."""

import pytest
from django.urls import reverse

from ballots.roll import identity
from tests.ballots.cast_support import build_voting, identify

pytestmark = pytest.mark.django_db


def test_the_voter_of_one_election_is_not_a_voter_of_another(client):
    a, b = build_voting(), build_voting()
    identify(client, a.election, a.voter)
    assert client.get(reverse("ballots:pots", args=[a.election.slug])).status_code == 200
    for url in (
        reverse("ballots:pots", args=[b.election.slug]),
        reverse("ballots:ballot", args=[b.election.slug, b.city.slug]),
    ):
        r = client.get(url)
        assert r.status_code == 302 and r.url == reverse("ballots:identify", args=[b.election.slug])


def test_a_session_naming_another_elections_roll_entry_finds_nobody(client):
    a, b = build_voting(), build_voting()
    session = client.session
    # The election of b with the roll entry of a: not a voter of either.
    session[identity.SESSION_KEY] = {"election": b.election.pk, "voter": a.voter.pk, "method": "code"}
    session.save()
    for slug in (a.election.slug, b.election.slug):
        r = client.get(reverse("ballots:pots", args=[slug]))
        assert r.status_code == 302 and r.url == reverse("ballots:identify", args=[slug])


@pytest.mark.parametrize("data", [None, "x", [], {"election": "1", "voter": "x"}, {"voter": None}])
def test_garbage_in_the_session_is_nobody_not_an_error(client, data):
    v = build_voting()
    session = client.session
    session[identity.SESSION_KEY] = data
    session.save()
    r = client.get(reverse("ballots:pots", args=[v.election.slug]))
    assert r.status_code == 302 and r.url == reverse("ballots:identify", args=[v.election.slug])


def test_an_unknown_election_is_not_found(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    assert client.get(reverse("ballots:pots", args=["no-such-election"])).status_code == 404
