"""The throttle on PostgreSQL: real HTTP against a live server through the trusted proxy address
(127.0.0.1 with X-Forwarded-For, as nginx sends it), real time (short delays from the settings), and
concurrent attempts on separate connections, like separate app processes."""

from __future__ import annotations

import http.cookiejar
import itertools
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.db import connection

from ballots.exceptions import CodeInvalid, Throttled
from ballots.models import ThrottleBucket
from ballots.roll import entries as roll
from ballots.roll import throttle
from pb.core.models import AuditEvent, Phase
from tests.ballots.roll_support import make_code, make_voter
from tests.factories import ElectionFactory, PotFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A client of its own (cookies, CSRF token) behind the proxy: every request carries the
    X-Forwarded-For the proxy would append for `address`."""

    def __init__(self, base: str, address: str):
        self.base, self.address = base, address
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )
        self.token = ""

    def request(self, path: str, data: dict | None = None):
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        headers = {"X-Forwarded-For": self.address}
        req = urllib.request.Request(self.base + path, data=body, headers=headers)  # noqa: S310 (live server)
        try:
            resp = self.opener.open(req, timeout=30)
        except urllib.error.HTTPError as err:  # 3xx (not followed), 4xx, 5xx
            resp = err
        html = resp.read().decode()
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        if found:
            self.token = found.group(1)
        return resp.status, resp.headers, html

    def identify(self, slug: str, code: str):
        url = f"/vote/{slug}/identify/"
        if not self.token:
            self.request(url)
        return self.request(url, {"csrfmiddlewaretoken": self.token, "method": "code", "code-code": code})


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.VOTING_OPEN)
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    return e


@pytest.fixture
def voter_code(election):
    return make_code(make_voter(election, PotFactory(election=election, name="Wola", slug="wola")))


@pytest.fixture
def short_delays(settings):
    settings.PB_THROTTLE_DELAY = 0.5  # 1 s, 1 s, 1 s, 2 s (rounded up to whole seconds)
    settings.PB_THROTTLE_DELAY_MAX = 2


def _guess(i: int) -> str:
    return roll.code_from_int(10**9 + i)


def test_five_wrong_codes_from_one_client_do_not_block_another(live_server, election, voter_code):
    a = Browser(live_server.url, "198.51.100.1")
    for i in range(5):
        assert a.identify(election.slug, _guess(i))[0] == 400
    status, headers, _html = a.identify(election.slug, voter_code)
    assert status == 429 and int(headers["Retry-After"]) <= 2
    b = Browser(live_server.url, "198.51.100.2")  # another household behind the same proxy
    status, headers, _html = b.identify(election.slug, voter_code)
    assert status == 302 and headers["Location"] == f"/vote/{election.slug}/"


def test_valid_code_after_wrong_ones_works_after_the_documented_delay(
    live_server, election, voter_code, short_delays
):
    a = Browser(live_server.url, "198.51.100.3")
    for i in range(8):  # well past the free failures: the delay is at its cap
        time.sleep(2.05)
        assert a.identify(election.slug, _guess(i))[0] == 400, i
    status, headers, html = a.identify(election.slug, voter_code)
    assert status == 429
    wait = int(headers["Retry-After"])
    assert 1 <= wait <= 2  # never more than PB_THROTTLE_DELAY_MAX
    assert "Please wait" in html
    time.sleep(wait + 0.05)
    status, headers, _html = a.identify(election.slug, voter_code)
    assert status == 302


def test_300_wrong_codes_from_60_addresses_do_not_block_a_valid_voter(live_server, election, voter_code):
    started = time.monotonic()
    errors = []

    def guesser(a: int):
        b = Browser(live_server.url, f"203.0.113.{a + 1}")
        for j in range(5):
            status = b.identify(election.slug, _guess(a * 5 + j))[0]
            if status not in (400, 429):
                errors.append(status)

    threads = [threading.Thread(target=guesser, args=(a,)) for a in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    flood_seconds = time.monotonic() - started
    voter = Browser(live_server.url, "192.0.2.200")
    status, _headers, _html = voter.identify(election.slug, voter_code)
    assert status == 302, status
    alert = AuditEvent.objects.get(action=throttle.ALERT_ACTION, election=election)
    assert alert.data["method"] == "code" and alert.data["failures"] == 300
    assert alert.data["addresses"] == 60
    print(f"flood of 300 wrong codes from 60 addresses: {flood_seconds:.1f} s; valid voter let in")


def test_spoofed_forwarded_for_from_an_untrusted_address_is_ignored(
    live_server, election, voter_code, settings
):
    settings.PB_TRUSTED_PROXIES = ["10.255.255.1"]  # the live server's 127.0.0.1 is now a direct client
    for i in range(5):  # a new made-up address per request, from one real address
        b = Browser(live_server.url, f"10.0.{i}.1")
        assert b.identify(election.slug, _guess(i))[0] == 400
    status, _headers, _html = Browser(live_server.url, "10.0.99.1").identify(election.slug, voter_code)
    assert status == 429


def _race(n: int, target):
    results: list = []
    barrier = threading.Barrier(n)

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Throttled:
            results.append("throttled")
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_attempts_cannot_slip_past_the_delay(election):
    def attempt():
        return _wrong_guess(election, ip="198.51.100.9", target="X")

    results = _race(20, attempt)
    # Run and charged under the row lock: the 5 free attempts run, the 5th sets the delay.
    assert results.count("ran") == 5 and results.count("throttled") == 15
    bucket = ThrottleBucket.objects.get(key__startswith=f"ip:{election.pk}:")
    assert bucket.failures == 5


def test_concurrent_failures_are_all_counted_in_the_space(election, settings):
    settings.PB_THROTTLE_IP_FAILURES = 1000
    settings.PB_THROTTLE_TARGET_FAILURES = 1000

    def attempts():
        for i in range(5):
            _wrong_guess(election, ip="198.51.100.10", target=f"T{i}")
        return "ran"

    assert _race(8, attempts) == ["ran"] * 8
    space = ThrottleBucket.objects.get(key=f"space:{election.pk}:code")
    assert space.failures == 40
    assert ThrottleBucket.objects.get(key__startswith=f"ip:{election.pk}:").failures == 40


def _wrong_guess(election, *, ip: str, target: str) -> str:
    try:
        with throttle.attempt(election_id=election.pk, method="code", ip=ip, target=target):
            raise CodeInvalid("wrong")
    except CodeInvalid:
        return "ran"


def test_concurrent_successes_are_never_charged(election):
    def attempt():
        with throttle.attempt(election_id=election.pk, method="code", ip="198.51.100.11", target="OK"):
            return "ran"

    assert _race(12, attempt) == ["ran"] * 12
    assert not ThrottleBucket.objects.exists()  # nothing to remember: no row per voter and address


def test_attempts_on_one_address_run_one_after_the_other(election):
    """The attempt runs holding the address's row lock: two attempts from one address never overlap (so
    none can start before the failures of the one before it are counted); other addresses do not wait."""
    spans: dict[str, list[tuple[float, float]]] = {"198.51.100.12": [], "198.51.100.13": []}

    def attempt(ip: str):
        def run():
            with throttle.attempt(election_id=election.pk, method="code", ip=ip, target=f"T-{time.time()}"):
                start = time.monotonic()
                time.sleep(0.15)
                spans[ip].append((start, time.monotonic()))
            return "ran"

        return run

    results = []

    def thread(fn):
        return threading.Thread(target=lambda: results.append(_in_thread(fn)))

    threads = [thread(attempt(ip)) for ip in spans for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["ran"] * 6
    for ip, runs in spans.items():
        runs.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(runs)), (ip, runs)
    first, second = (sorted(r) for r in spans.values())
    assert first[0][0] < second[-1][1] and second[0][0] < first[-1][1]  # the two addresses overlapped


def _in_thread(fn):
    try:
        return fn()
    finally:
        connection.close()
