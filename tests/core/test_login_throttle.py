"""Sign-in throttling (django-axes): a username is locked from one address after 10 failures, for 15
minutes, not from other addresses and not for other accounts; the page says so and for how long."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory, council

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-only"


def _login(client, username, password, ip="127.0.0.1", forwarded=None):
    extra = {"REMOTE_ADDR": ip}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


@pytest.fixture
def member():
    return council(username="council")


def test_twenty_wrong_passwords_lock_that_login_from_that_address_only(member):
    attacker = Client()
    statuses = [
        _login(attacker, "council", f"guess-{i}", forwarded="198.51.100.66").status_code for i in range(20)
    ]
    assert statuses[:9] == [200] * 9  # the form again, with the usual error
    assert set(statuses[9:]) == {429}  # the 10th failure locks
    # The right password from the attacker's address is refused too, with a clear message.
    r = _login(attacker, "council", PASSWORD, forwarded="198.51.100.66")
    assert r.status_code == 429
    html = r.content.decode()
    assert 'id="login-locked"' in html and "15 minutes" in html
    assert int(r["Retry-After"]) == 15 * 60
    assert "_auth_user_id" not in attacker.session
    # The council member, from their own address, signs in.
    own = Client()
    r = _login(own, "council", PASSWORD, forwarded="203.0.113.10")
    assert r.status_code == 302 and own.session["_auth_user_id"] == str(member.pk)
    # Another account from the attacker's address is not locked.
    other = UserFactory(username="clerk")
    r = _login(Client(), "clerk", PASSWORD, forwarded="198.51.100.66")
    assert r.status_code == 302 and other.pk


def test_lock_ends_after_the_cool_off(member):
    c = Client()
    for i in range(10):
        _login(c, "council", f"guess-{i}", forwarded="198.51.100.67")
    assert _login(c, "council", PASSWORD, forwarded="198.51.100.67").status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    assert _login(c, "council", PASSWORD, forwarded="198.51.100.67").status_code == 302


def test_spoofed_forwarded_for_from_a_direct_client_is_ignored(member):
    c = Client()
    for i in range(10):  # a fresh made-up address each time, from one untrusted address
        _login(c, "council", f"guess-{i}", ip="203.0.113.99", forwarded=f"10.0.{i}.1")
    assert _login(c, "council", PASSWORD, ip="203.0.113.99", forwarded="10.9.9.9").status_code == 429
    # Recorded under the real address.
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.99"}


def test_success_resets_the_count(member):
    c = Client()
    for i in range(9):
        _login(c, "council", f"guess-{i}", forwarded="198.51.100.68")
    assert _login(c, "council", PASSWORD, forwarded="198.51.100.68").status_code == 302
    c.post(reverse("logout"))
    for i in range(9):  # nine more: not locked (the success started over)
        assert _login(c, "council", f"again-{i}", forwarded="198.51.100.68").status_code == 200
    assert _login(c, "council", PASSWORD, forwarded="198.51.100.68").status_code == 302


def test_garbage_sign_in_is_a_form_error_not_a_500(member):
    c = Client()
    for username, password in [("", ""), ("x" * 5000, "y"), ("council\x00", "z"), ("💥", "💥")]:
        r = _login(c, username, password, forwarded="198.51.100.69")
        assert r.status_code in (200, 400, 429), username[:10]


def test_test_client_login_still_works(member):
    """authenticate() without a request (Client.login, a shell) is passed on to the password check."""
    c = Client()
    assert c.login(username="council", password=PASSWORD)
    assert not c.login(username="council", password="wrong")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_over_real_http_behind_the_proxy(live_server):
    """20 wrong passwords over HTTP through the proxy address lock that login from that client only."""
    from tests.ballots.test_throttle_postgres import Browser

    council(username="council")

    def sign_in(client, password):
        if not client.token:
            client.request("/accounts/login/")
        data = {"csrfmiddlewaretoken": client.token, "username": "council", "password": password}
        return client.request("/accounts/login/", data)

    attacker = Browser(live_server.url, "198.51.100.70")
    statuses = [sign_in(attacker, f"guess-{i}")[0] for i in range(20)]
    assert statuses[:9] == [200] * 9 and set(statuses[9:]) == {429}
    status, headers, html = sign_in(attacker, PASSWORD)
    assert status == 429 and headers["Retry-After"] == "900" and "15 minutes" in html
    status, headers, _html = sign_in(Browser(live_server.url, "203.0.113.70"), PASSWORD)
    assert status == 302
