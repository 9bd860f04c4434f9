"""Booth mode hands the device over: after an official identifies a resident at a booth, that browser holds
a voter-only session. Every official URL of the URLconf is refused from it until the official signs in
again; the resident's booth cast is still recorded as the official's act."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core import signing
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from ballots.models import Channel, Participation
from ballots.roll import identity
from pb.core.models import AuditEvent, Role
from tests.ballots.cast_support import build_voting, identified, identify
from tests.factories import UserFactory, official

pytestmark = pytest.mark.django_db

# Not official pages, and actions that would end the booth session itself (tested on their own below).
SKIP_POST = {"logout", "ballots:identify_forget", "set_language"}


def _named_urls(patterns=None, ns=""):
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            inner = f"{ns}:{p.namespace}".lstrip(":") if p.namespace else ns
            yield from _named_urls(p.url_patterns, inner)
        elif isinstance(p, URLPattern) and p.name:
            yield (f"{ns}:{p.name}" if ns else p.name), list(p.pattern.converters) + _plain_args(p)


def _plain_args(p) -> list[str]:
    # Regex patterns (the admin's) name their groups instead of converters.
    return [g for g in p.pattern.regex.groupindex if g not in p.pattern.converters]


def _fill(name: str, args: list[str], v) -> str | None:
    values = {
        "slug": v.election.slug,
        "pot_slug": v.city.slug,
        "code": "C1",
        "fmt": "csv",
        "job_id": uuid.uuid4(),
        "batch_id": 1,
        "action": "run",
        "name": "result.pdf",
        "app_label": "auth",
        "model_name": "user",
        "object_id": "1",
        "content_type_id": "1",
        "url": "x",
        "uidb64": "x",
        "token": "x",
        "id": "1",
        "pk": "1",
    }
    try:
        return reverse(name, kwargs={a: values[a] for a in args})
    except Exception:  # an admin pattern with an argument we do not fill: not an official page of ours
        return None


def _refused(response) -> bool:
    if response.status_code == 302:
        return response["Location"].startswith(("/accounts/login/", "/admin/login/"))
    return response.status_code in (403, 405)


@pytest.fixture
def v():
    return build_voting()


@pytest.fixture
def clerk():
    # Staff too: the admin must not be reachable from the booth device either.
    return UserFactory(roles=[Role.OFFICIAL], is_staff=True, is_superuser=True)


def _hand_over(client, v, clerk):
    client.force_login(clerk)
    r = client.post(
        reverse("ballots:booth", args=[v.election.slug]),
        {"booth-reference": "AB-123", "booth-date_of_birth": "1990-05-17", "booth-booth": "Town hall"},
    )
    assert r.status_code == 302 and r["Location"] == reverse("ballots:pots", args=[v.election.slug])
    return client


def test_booth_identification_signs_the_official_out_of_that_browser(client, v, clerk):
    _hand_over(client, v, clerk)
    assert "_auth_user_id" not in client.session
    assert identified(client)["method"] == "booth" and identified(client)["booth"] == "Town hall"
    assert identified(client)["official"] == clerk.pk
    page = client.get(reverse("ballots:pots", args=[v.election.slug]))
    assert page.status_code == 200
    assert f"Sign out ({clerk.username})" not in page.content.decode()
    event = AuditEvent.objects.get(action="voter.identify")
    assert event.actor_id == clerk.pk


def test_every_official_url_is_refused_from_the_booth_session(v, clerk):
    urls = [(name, _fill(name, args, v)) for name, args in _named_urls()]
    urls = [(name, url) for name, url in urls if url]
    assert len(urls) > 40

    official = Client()
    official.force_login(clerk)
    anonymous = Client()
    booth = _hand_over(Client(), v, clerk)

    official_pages = []
    for name, url in urls:
        before = official.get(url)
        anon = anonymous.get(url)
        if before.status_code == 200 and _refused(anon):
            official_pages.append((name, url))
    # The test bites: the official really had these pages before handing the device over.
    names = {n for n, _u in official_pages}
    assert {"core:manage", "ballots:codes", "ballots:roll", "ballots:booth", "tally:manage"} <= names
    assert "admin:index" in names

    problems = []
    for name, url in urls:
        r = booth.get(url)
        if r.status_code >= 500 or ((name, url) in official_pages and not _refused(r)):
            problems.append(("GET", name, r.status_code))
    for name, url in urls:
        if name in SKIP_POST:
            continue
        anon = anonymous.post(url, {})
        r = booth.post(url, {})
        if r.status_code >= 500 or (_refused(anon) and not _refused(r)):
            problems.append(("POST", name, r.status_code, anon.status_code))
    assert problems == []
    # Still the resident's session, and still nobody signed in on it.
    assert identified(booth)["voter"] == v.voter.pk
    assert "_auth_user_id" not in booth.session


def test_booth_cast_is_recorded_as_the_officials_act(client, v, clerk):
    _hand_over(client, v, clerk)
    r = client.post(reverse("ballots:ballot_cast", args=[v.election.slug, v.city.slug]), {"project": ["C1"]})
    assert r.status_code == 200
    p = Participation.objects.get()
    assert (p.channel, p.booth) == (Channel.BOOTH, "Town hall")
    assert AuditEvent.objects.filter(action="ballot.booth_cast", actor_id=clerk.pk).count() == 1


def test_booth_cast_refused_once_the_officials_role_is_gone(client, v, clerk):
    _hand_over(client, v, clerk)
    clerk.groups.clear()
    r = client.post(reverse("ballots:ballot_cast", args=[v.election.slug, v.city.slug]), {"project": ["C1"]})
    assert r.status_code == 403
    assert Participation.objects.count() == 0


def test_a_forged_identification_cannot_name_another_official(client, v, clerk):
    """The delegation is signed with the identification it was made for: naming another official (or
    claiming the booth method) in an altered cookie makes it nobody's, and an honest online voter's
    identification is no booth."""
    _hand_over(client, v, clerk)
    other = official()
    value = client.cookies[identity.COOKIE].value
    _payload, rest = value.split(":", 1)
    data = identified(client)
    forged_payload = signing.b64_encode(
        json.dumps({**data, "official": other.pk}, separators=(",", ":")).encode()
    ).decode()
    client.cookies[identity.COOKIE] = f"{forged_payload}:{rest}"  # the old signature on new contents
    r = client.post(reverse("ballots:ballot_cast", args=[v.election.slug, v.city.slug]), {"project": ["C1"]})
    assert r.status_code == 302 and r["Location"] == reverse("ballots:identify", args=[v.election.slug])
    assert Participation.objects.count() == 0
    # An online identification of the same voter casts online, never on the booth channel.
    identify(client, v.election, v.voter, method="code", official=clerk.pk, booth="Town hall")
    r = client.post(reverse("ballots:ballot_cast", args=[v.election.slug, v.city.slug]), {"project": ["C1"]})
    assert r.status_code == 200
    p = Participation.objects.get()
    assert (p.channel, p.booth) == (Channel.ONLINE, "")
    assert not AuditEvent.objects.filter(action="ballot.booth_cast").exists()


def test_ending_the_residents_session_asks_the_official_to_sign_in_again(client, v, clerk):
    _hand_over(client, v, clerk)
    r = client.post(reverse("ballots:identify_forget", args=[v.election.slug]))
    assert r.status_code == 302 and r["Location"] == reverse("ballots:booth", args=[v.election.slug])
    r = client.get(r["Location"])
    assert r.status_code == 302 and r["Location"].startswith(reverse("login"))
    assert not identified(client)
    # Signing in again gives the rights back, and the booth name is remembered for the next resident.
    client.force_login(clerk)
    page = client.get(reverse("ballots:booth", args=[v.election.slug]))
    assert page.status_code == 200
    assert client.get(reverse("core:manage", args=[v.election.slug])).status_code == 200


def test_booth_hand_over_with_a_real_sign_in(client, v, clerk):
    """Through the sign-in page (password, axes in the way) rather than force_login."""
    r = client.post(
        reverse("login"),
        {"username": clerk.username, "password": "pw-for-tests-only"},
        REMOTE_ADDR="192.0.2.1",
    )
    assert r.status_code == 302
    r = client.post(
        reverse("ballots:booth", args=[v.election.slug]),
        {"booth-reference": "AB-123", "booth-date_of_birth": "1990-05-17", "booth-booth": "Town hall"},
    )
    assert r.status_code == 302
    assert client.get(reverse("ballots:codes", args=[v.election.slug])).status_code == 302
    assert client.get(reverse("ballots:pots", args=[v.election.slug])).status_code == 200
