"""Template fragments cached on the voter journey (an empty identify form, a blank ballot's project list) are
exactly what a fresh render gives, and never carry one visitor's input, token or marks to another."""

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.ballots.cast_support import build_voting, identify

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def _page(response) -> str:
    """The page without its per-request values (CSRF tokens, CSP nonces)."""
    html = TOKEN.sub("TOKEN", response.content.decode())
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "TOKEN", html)
    return re.sub(r'nonce="[^"]+"', "NONCE", html)


def test_identify_page_is_the_same_cached_or_not_and_never_shows_another_visitors_input():
    v = build_voting()
    url = reverse("ballots:identify", args=[v.election.slug])
    cache.clear()
    fresh = _page(Client().get(url))
    cached = _page(Client().get(url))  # the empty forms now come from the cache
    assert cached == fresh
    # Another visitor types a wrong code and a roll match: their page shows what they typed ...
    typed = Client().post(url, {"method": "code", "code-code": "WRONG-CODE-TYPED"})
    assert typed.status_code in (400, 403) and "WRONG-CODE-TYPED" in typed.content.decode()
    roll = Client().post(
        url, {"method": "roll", "roll-reference": "SECRET-REF-77", "roll-date_of_birth": "1980-02-03"}
    )
    assert "SECRET-REF-77" in roll.content.decode() and "1980-02-03" in roll.content.decode()
    # ... and nobody else's does; each visitor's form carries their own CSRF token.
    a, b = Client(), Client()
    page_a, page_b = a.get(url).content.decode(), b.get(url).content.decode()
    for page in (page_a, page_b):
        assert "WRONG-CODE-TYPED" not in page and "SECRET-REF-77" not in page and "1980-02-03" not in page
    assert TOKEN.findall(page_a) != TOKEN.findall(page_b)
    assert _page(a.get(url)) == fresh


def test_a_blank_ballot_is_cached_but_a_marked_one_is_not(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    url = reverse("ballots:ballot", args=[v.election.slug, v.city.slug])
    cache.clear()
    fresh = _page(client.get(url))
    assert _page(client.get(url)) == fresh and " checked" not in fresh
    # Back from the review page to edit: the voter's marks are shown, not the cached blank list.
    edit = client.post(url, {"project": ["C1"], "edit": "1"})
    assert edit.status_code == 200
    assert re.search(r'value="C1" id="project-C1" checked', edit.content.decode())
    # A ballot with problems (over the budget) comes back with its marks too.
    over = client.post(url, {"project": ["C1", "C2", "C3", "C4"]})
    if over.status_code == 400:
        assert re.search(r'id="project-C1" checked', over.content.decode())
    # And the next blank ballot is blank again.
    assert " checked" not in client.get(url).content.decode()


def test_each_pot_has_its_own_cached_list(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    city = client.get(reverse("ballots:ballot", args=[v.election.slug, v.city.slug])).content.decode()
    district = client.get(reverse("ballots:ballot", args=[v.election.slug, v.district.slug])).content.decode()
    assert 'id="project-C1"' in city and 'id="project-C1"' not in district
    assert 'id="project-M1"' in district and 'id="project-M1"' not in city
