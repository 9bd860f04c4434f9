"""A voter's page finds the identified voter and election in one query (identity.session_voter): it must
never show one election's voter under another election's address, nor fail on an identification that
names nothing. The identification is a signed cookie: forged, altered, too old or revoked by leaving, it is
nobody."""

import time

import pytest
from django.core import signing
from django.urls import reverse

from ballots.models import Participation
from ballots.roll import identity
from tests.ballots.cast_support import build_voting, identification_cookie, identified, identify

pytestmark = pytest.mark.django_db


def _refused(client, slug: str) -> bool:
    r = client.get(reverse("ballots:pots", args=[slug]))
    return r.status_code == 302 and r.url == reverse("ballots:identify", args=[slug])


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


def test_an_identification_naming_another_elections_roll_entry_finds_nobody(client):
    a, b = build_voting(), build_voting()
    # The election of b with the roll entry of a (validly signed): not a voter of either.
    identify(client, b.election, a.voter)
    assert _refused(client, a.election.slug) and _refused(client, b.election.slug)


@pytest.mark.parametrize(
    "data",
    [
        None,
        "x",
        [],
        {"election": "1", "voter": "x"},
        {"voter": None},
        {"method": "code"},
        {"election": 1, "voter": 1, "method": "code"},  # no version
        {"election": 1, "voter": 1, "version": "0", "method": "code"},
        {"election": 1, "voter": 1, "version": 0, "method": "admin"},
    ],
)
def test_garbage_in_a_signed_identification_is_nobody_not_an_error(client, data):
    v = build_voting()
    if isinstance(data, dict) and data.get("election") == 1:
        data = {**data, "election": v.election.pk, "voter": v.voter.pk}
    client.cookies[identity.COOKIE] = identification_cookie(data)
    assert _refused(client, v.election.slug)


def _altered(value):
    """The value with one character of its signature changed: a character in the middle, since the last one
    carries padding bits and replacing it could spell the same character (one value in sixteen did)."""
    i = len(value) - 10
    return value[:i] + ("B" if value[i] != "B" else "C") + value[i + 1 :]


def test_a_forged_or_altered_identification_is_nobody(client, settings):
    v = build_voting()
    data = {"election": v.election.pk, "voter": v.voter.pk, "version": 0, "method": "code"}
    forged = signing.dumps(data, key="not-the-site's-secret-key-" + "x" * 30, salt=identity.SALT)
    for value in (
        forged,
        signing.dumps(data, salt="another-salt"),  # signed by the site, for something else
        _altered(identification_cookie(data)),  # the signature altered
        "garbage",
        "",
    ):
        client.cookies[identity.COOKIE] = value
        assert _refused(client, v.election.slug), value
    client.cookies[identity.COOKIE] = identification_cookie(data)
    assert client.get(reverse("ballots:pots", args=[v.election.slug])).status_code == 200


def test_an_identification_older_than_its_age_is_nobody(client, settings):
    v = build_voting()
    identify(client, v.election, v.voter)
    assert client.get(reverse("ballots:pots", args=[v.election.slug])).status_code == 200
    settings.PB_VOTER_IDENTITY_AGE = 1
    time.sleep(2.1)
    assert _refused(client, v.election.slug)


def test_leaving_revokes_every_copy_of_the_identification(client):
    """A copy of the cookie taken before "leave this computer" is worth nothing afterwards: not on the
    voting pages and not for a cast (checked under the voter's lock)."""
    from django.test import Client

    v = build_voting()
    r = client.post(
        reverse("ballots:identify", args=[v.election.slug]), {"method": "code", "code-code": v.code}
    )
    assert r.status_code == 302
    copy = Client()
    copy.cookies[identity.COOKIE] = client.cookies[identity.COOKIE].value
    assert copy.get(reverse("ballots:pots", args=[v.election.slug])).status_code == 200
    ballot = copy.get(reverse("ballots:ballot", args=[v.election.slug, v.city.slug]))
    assert ballot.status_code == 200

    client.post(reverse("ballots:identify_forget", args=[v.election.slug]))
    assert not identified(client)
    assert _refused(copy, v.election.slug)
    cast = copy.post(reverse("ballots:ballot_cast", args=[v.election.slug, v.city.slug]), {"project": ["C1"]})
    assert cast.status_code == 302 and cast.url == reverse("ballots:identify", args=[v.election.slug])
    assert not Participation.objects.exists()
    # Identifying again works (a new identification carries the new version).
    r = client.post(
        reverse("ballots:identify", args=[v.election.slug]), {"method": "code", "code-code": v.code}
    )
    assert r.status_code == 302 and identified(client)["version"] == 1
    assert client.get(reverse("ballots:pots", args=[v.election.slug])).status_code == 200


def test_an_unknown_election_is_not_found(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    assert client.get(reverse("ballots:pots", args=["no-such-election"])).status_code == 404
