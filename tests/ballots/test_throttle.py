"""Brute-force throttling of identification: per IP and per code space, kept in the database."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from ballots import identity, roll
from ballots.models import ThrottleBucket
from pb.core.models import Phase
from tests.ballots.roll_support import make_code, make_voter
from tests.factories import ElectionFactory, PotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.VOTING_OPEN)
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    return e


@pytest.fixture
def code(election):
    district = PotFactory(election=election, name="Wola", slug="wola")
    return make_code(make_voter(election, district, ref="REF-1"))


def _try(client, election, code, ip="198.51.100.7"):
    return client.post(
        reverse("ballots:identify", args=[election.slug]),
        {"method": "code", "code-code": code},
        REMOTE_ADDR=ip,
    )


def _guess(i: int) -> str:
    return roll.code_from_int(10**9 + i)


def test_guessing_from_one_ip_is_stopped_and_right_code_refused_during_cooldown(client, election, code):
    for i in range(5):
        r = _try(client, election, _guess(i))
        assert r.status_code == 400, i
    # The 6th try — with the right code — is refused with the cool-down message, and nobody is identified.
    r = _try(client, election, code)
    assert r.status_code == 429
    assert int(r["Retry-After"]) > 800
    assert "Too many failed attempts from your connection" in r.content.decode()
    assert identity.SESSION_KEY not in client.session
    # Another IP is not affected.
    other = client.__class__()
    assert _try(other, election, code, ip="203.0.113.9").status_code == 302


def test_cooldown_ends(client, election, code):
    for i in range(5):
        _try(client, election, _guess(i))
    assert _try(client, election, code).status_code == 429
    ThrottleBucket.objects.update(locked_until=timezone.now() - dt.timedelta(seconds=1))
    assert _try(client, election, code).status_code == 302


def test_failures_counted_within_window_only(client, election, code):
    for i in range(4):
        _try(client, election, _guess(i))
    ThrottleBucket.objects.update(window_start=timezone.now() - dt.timedelta(hours=1))
    assert _try(client, election, _guess(99)).status_code == 400  # window restarted: 1 failure
    assert _try(client, election, code).status_code == 302


def test_global_code_space_cap_stops_distributed_guessing(client, election, code, settings):
    settings.PB_THROTTLE_SPACE_FAILURES = 10
    for i in range(10):  # ten IPs, one guess each: no IP reaches its own limit
        assert _try(client, election, _guess(i), ip=f"192.0.2.{i + 1}").status_code == 400
    r = _try(client, election, code, ip="192.0.2.200")
    assert r.status_code == 429
    assert "Too many failed attempts on this site" in r.content.decode()
    # The cap is per election and method: roll match of the same election still works.
    assert ThrottleBucket.objects.get(key=f"space:{election.pk}:code").locked_until is not None


def test_roll_match_guessing_throttled(client, election, code):
    url = reverse("ballots:identify", args=[election.slug])
    for day in range(1, 6):
        r = client.post(
            url, {"method": "roll", "roll-reference": "REF-1", "roll-date_of_birth": f"1990-01-{day:02d}"}
        )
        assert r.status_code == 400
    right = client.post(
        url, {"method": "roll", "roll-reference": "REF-1", "roll-date_of_birth": "1990-05-17"}
    )
    assert right.status_code == 429


def test_no_ip_in_clear(client, election, code):
    _try(client, election, _guess(1), ip="198.51.100.7")
    keys = list(ThrottleBucket.objects.values_list("key", flat=True))
    assert keys and all("198.51.100.7" not in k for k in keys)


def test_ipv6_counted_per_64(client, election, code):
    for i in range(5):  # five addresses of one /64
        assert _try(client, election, _guess(i), ip=f"2001:db8:1:2::{i + 1}").status_code == 400
    assert _try(client, election, code, ip="2001:db8:1:2::ffff").status_code == 429
    assert _try(client, election, code, ip="2001:db8:1:3::1").status_code == 302  # another /64
