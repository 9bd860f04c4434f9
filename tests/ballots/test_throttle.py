"""Throttling of identification: progressive delays per address and per code/reference, never a lock-out
of valid voters; an alert, not a refusal, when a whole code space is attacked. Real HTTP through the test
client; the clock is moved by moving the stored times back (the real-time runs are in
test_throttle_postgres.py)."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from ballots.models import ThrottleBucket
from ballots.roll import entries as roll
from ballots.roll import identity, throttle
from pb.core.models import AuditEvent, Phase
from tests.ballots.roll_support import make_code, make_voter
from tests.factories import ElectionFactory, PotFactory, official

pytestmark = pytest.mark.django_db

HOME = "198.51.100.7"


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.VOTING_OPEN)
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    return e


@pytest.fixture
def district(election):
    return PotFactory(election=election, name="Wola", slug="wola")


@pytest.fixture
def code(election, district):
    return make_code(make_voter(election, district, ref="REF-1"))


def _try(client, election, code, ip=HOME, **extra):
    return client.post(
        reverse("ballots:identify", args=[election.slug]),
        {"method": "code", "code-code": code},
        REMOTE_ADDR=ip,
        **extra,
    )


def _roll(client, election, ref, dob, ip=HOME):
    return client.post(
        reverse("ballots:identify", args=[election.slug]),
        {"method": "roll", "roll-reference": ref, "roll-date_of_birth": dob},
        REMOTE_ADDR=ip,
    )


def _guess(i: int) -> str:
    return roll.code_from_int(10**9 + i)


def _let_time_pass(seconds: float = 3600) -> None:
    """Move every stored time back, as if `seconds` had passed."""
    delta = dt.timedelta(seconds=seconds)
    for b in ThrottleBucket.objects.all():
        b.window_start -= delta
        if b.locked_until is not None:
            b.locked_until -= delta
        b.save()


def _end_delays() -> None:
    ThrottleBucket.objects.filter(locked_until__isnull=False).update(
        locked_until=timezone.now() - dt.timedelta(milliseconds=1)
    )


def test_five_wrong_codes_delay_that_address_only_and_briefly(client, election, code):
    for i in range(5):
        assert _try(client, election, _guess(i)).status_code == 400, i
    # Right after the 5th failure: a short delay, even for the right code (or the refusal would tell).
    r = _try(client, election, code)
    assert r.status_code == 429
    assert 1 <= int(r["Retry-After"]) <= 2
    html = r.content.decode()
    assert "Too many failed attempts from your connection" in html and "seconds" in html
    assert identity.COOKIE not in r.cookies and not client.cookies.get(identity.COOKIE)
    # Another address (another household) is not affected at all.
    other = client.__class__()
    assert _try(other, election, code, ip="203.0.113.9").status_code == 302
    # Once the delay has passed, the right code works from the first address too.
    _end_delays()
    assert _try(client, election, code).status_code == 302


def test_delays_double_and_are_capped_at_the_documented_bound(client, election, code, settings):
    assert [throttle.delay_for(n, 5) for n in range(4, 12)] == [0, 2, 4, 8, 16, 32, 60, 60]
    for i in range(12):
        _end_delays()  # each delay waited out: the attempt is never refused
        assert _try(client, election, _guess(i)).status_code == 400
    r = _try(client, election, _guess(99))
    assert r.status_code == 429 and int(r["Retry-After"]) == 60  # capped: 2 x 2^8 would be 512
    settings.PB_THROTTLE_DELAY_MAX = 10
    assert throttle.delay_for(40, 5) == 10


def test_refused_attempts_are_not_counted_and_do_not_lengthen_the_wait(client, election, code):
    for i in range(5):
        _try(client, election, _guess(i))
    bucket = ThrottleBucket.objects.get(key__startswith=f"ip:{election.pk}:")
    assert bucket.locked_until > timezone.now()
    # The 2-second delay lengthened to 5 minutes, so a slow machine's flood still falls inside it.
    until = timezone.now() + dt.timedelta(minutes=5)
    ThrottleBucket.objects.filter(pk=bucket.pk).update(locked_until=until)
    for i in range(30):  # a flood during the delay
        assert _try(client, election, _guess(100 + i)).status_code == 429
    bucket.refresh_from_db()
    assert (bucket.failures, bucket.locked_until) == (5, until)


def test_library_pc_many_voters_one_address_never_slowed(client, election, district):
    """Valid identifications are refunded: 30 voters at one library PC are never delayed."""
    codes = [make_code(make_voter(election, district, ref=f"LIB-{i}")) for i in range(30)]
    for c in codes:
        assert _try(client, election, c).status_code == 302
    # Nothing is kept about an address or a code that only ever got in.
    assert not ThrottleBucket.objects.filter(key__startswith="ip:").exists()
    assert not ThrottleBucket.objects.filter(key__startswith="t:").exists()
    # and the occasional typo among them does not add up to a delay
    for i in range(4):
        assert _try(client, election, _guess(i)).status_code == 400
        assert _try(client, election, codes[i]).status_code == 302


def test_a_valid_code_holder_is_not_delayed_by_failures_on_other_codes(client, election, code):
    # 90 addresses, each trying 3 wrong codes: no address and no other code gets a delay.
    for a in range(90):
        for j in range(3):
            assert _try(client, election, _guess(a * 3 + j), ip=f"10.1.0.{a + 1}").status_code == 400
    assert _try(client, election, code, ip="10.9.9.9").status_code == 302


def test_one_code_guessed_at_by_many_addresses_gets_its_own_delay(client, election, code):
    target = _guess(7)
    for a in range(5):  # five addresses, one failure each on the same code
        assert _try(client, election, target, ip=f"192.0.2.{a + 1}").status_code == 400
    r = _try(client, election, target, ip="192.0.2.99")  # a fresh address: the code itself waits
    assert r.status_code == 429
    assert "with this code or reference" in r.content.decode()
    # The same code typed another way is the same target.
    spaced = " ".join(target.lower())
    assert _try(client, election, spaced, ip="192.0.2.98").status_code == 429
    # Any other code, from any of those addresses, is not affected.
    assert _try(client, election, code, ip="192.0.2.1").status_code == 302


def test_roll_match_guessing_one_reference_is_delayed_per_reference(client, election, district, code):
    make_voter(election, district, ref="REF-9", dob=dt.date(1980, 1, 1))
    for day in range(1, 6):  # five wrong birth dates from five addresses
        assert _roll(client, election, "REF-1", f"1990-01-{day:02d}", ip=f"192.0.2.{day}").status_code == 400
    right = _roll(client, election, "ref-1", "1990-05-17", ip="192.0.2.50")
    assert right.status_code == 429  # the reference (normalised) is in its delay
    # Another resident's roll match, from one of those addresses, goes through.
    assert _roll(client, election, "REF-9", "1980-01-01", ip="192.0.2.1").status_code == 302
    _end_delays()
    assert _roll(client, election, "REF-1", "1990-05-17", ip="192.0.2.50").status_code == 302


def test_unknown_and_known_references_are_throttled_alike(client, election, code):
    """The per-reference delay must not tell which references are on the roll."""
    statuses = {}
    for ref in ("REF-1", "NOBODY-1"):
        for day in range(1, 6):
            _roll(client, election, ref, f"1990-02-{day:02d}", ip=f"198.18.{len(statuses)}.{day}")
        r = _roll(client, election, ref, "1990-02-20", ip="198.18.9.9")
        statuses[ref] = (r.status_code, r["Retry-After"])
        _end_delays()
    assert statuses["REF-1"] == statuses["NOBODY-1"] == (429, "2")


def test_distributed_flood_alerts_officials_and_blocks_no_valid_voter(client, election, code, settings):
    settings.PB_THROTTLE_SPACE_FAILURES = 60
    for a in range(20):  # 20 addresses x 3 failures: none reaches its own free budget
        for j in range(3):
            _try(client, election, _guess(a * 3 + j), ip=f"192.0.2.{a + 1}")
    # The space is under attack: a valid voter is still let in at once.
    assert _try(client, election, code, ip="203.0.113.77").status_code == 302
    alerts = AuditEvent.objects.filter(action=throttle.ALERT_ACTION, election=election)
    assert alerts.count() == 1  # one per window, not one per failure
    assert alerts.get().data == {"method": "code", "failures": 60, "window": 60, "addresses": 20}
    # More failures in the same window: no second alert.
    _try(client, election, _guess(500), ip="192.0.2.200")
    assert alerts.count() == 1
    # While attacked, a failing address is delayed from its first failure, not its fifth.
    assert _try(client, election, _guess(501), ip="198.51.100.200").status_code == 400
    assert _try(client, election, code, ip="198.51.100.200").status_code == 429
    # The officials see it on the election's manage page.
    client.force_login(official())
    html = client.get(reverse("core:manage", args=[election.slug])).content.decode()
    assert 'id="identify-alerts"' in html
    assert "60 failed voting codes in 60 seconds from 20 addresses" in html


def test_alert_is_audited_again_in_a_later_window(client, election, code, settings):
    settings.PB_THROTTLE_SPACE_FAILURES = 5
    for i in range(5):
        _try(client, election, _guess(i), ip=f"192.0.2.{i + 1}")
    _let_time_pass(120)
    for i in range(5):
        _try(client, election, _guess(10 + i), ip=f"192.0.2.{i + 1}")
    assert AuditEvent.objects.filter(action=throttle.ALERT_ACTION).count() == 2
    # Quiet again after the attack: the address budget is back to normal.
    _let_time_pass(3600)
    for i in range(4):
        assert _try(client, election, _guess(40 + i), ip="198.51.100.9").status_code == 400
    assert _try(client, election, code, ip="198.51.100.9").status_code == 302


def test_manage_page_has_no_banner_without_alerts(client, election):
    client.force_login(official())
    html = client.get(reverse("core:manage", args=[election.slug])).content.decode()
    assert "identify-alerts" not in html


def test_failures_forgotten_after_an_idle_window(client, election, code):
    for i in range(4):
        _try(client, election, _guess(i))
    _let_time_pass(901)
    for i in range(4):  # four more, counted from zero
        assert _try(client, election, _guess(10 + i)).status_code == 400
    assert _try(client, election, code).status_code == 302


def test_no_address_code_or_reference_in_clear(client, election, code):
    target = _guess(1)
    _try(client, election, target, ip="198.51.100.7")
    _roll(client, election, "SECRET-REF", "1990-01-01", ip="198.51.100.7")
    keys = " ".join(ThrottleBucket.objects.values_list("key", flat=True))
    assert keys
    for clear in ("198.51.100.7", target, roll.normalize_code(target), "SECRET-REF"):
        assert clear not in keys


def test_ipv6_counted_per_64(client, election, code):
    for i in range(5):  # five addresses of one /64
        assert _try(client, election, _guess(i), ip=f"2001:db8:1:2::{i + 1}").status_code == 400
    assert _try(client, election, code, ip="2001:db8:1:2::ffff").status_code == 429
    assert _try(client, election, code, ip="2001:db8:1:3::1").status_code == 302  # another /64


def test_behind_the_proxy_clients_are_told_apart(client, election, code):
    """Through the trusted proxy (127.0.0.1), X-Forwarded-For names the client: one client's failures do
    not delay another's (before, every voter shared the proxy's address)."""
    for i in range(5):
        r = _try(client, election, _guess(i), ip="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
        assert r.status_code == 400
    r = _try(client, election, code, ip="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert r.status_code == 429
    r = _try(client.__class__(), election, code, ip="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert r.status_code == 302


def test_spoofed_forwarded_for_from_a_direct_client_is_ignored(client, election, code):
    for i in range(5):  # a new made-up "client" on every request, but from one real address
        r = _try(client, election, _guess(i), ip="203.0.113.50", HTTP_X_FORWARDED_FOR=f"10.0.0.{i + 1}")
        assert r.status_code == 400
    r = _try(client, election, code, ip="203.0.113.50", HTTP_X_FORWARDED_FOR="10.0.0.99")
    assert r.status_code == 429


def test_spoofed_left_part_of_forwarded_for_is_ignored_behind_the_proxy(client, election, code):
    for i in range(5):  # the client writes its own X-Forwarded-For; nginx appends the real address
        r = _try(
            client, election, _guess(i), ip="127.0.0.1", HTTP_X_FORWARDED_FOR=f"10.0.0.{i + 1}, 198.51.100.5"
        )
        assert r.status_code == 400
    r = _try(client, election, code, ip="127.0.0.1", HTTP_X_FORWARDED_FOR="10.0.0.77, 198.51.100.5")
    assert r.status_code == 429


def test_garbage_code_input_is_a_clear_error_and_counted(client, election, code):
    for junk in ("", "x" * 5000, "💥" * 20, "\u0000abc"):
        r = _try(client, election, junk, ip="192.0.2.33")
        assert r.status_code in (400, 429), junk
        assert r.status_code != 500


def test_sweep_drops_what_is_forgotten_and_keeps_delays(client, election, code):
    for i in range(5):
        _try(client, election, _guess(i), ip="192.0.2.1")  # ends in a delay
    _try(client, election, _guess(50), ip="192.0.2.2")  # one failure, no delay
    ThrottleBucket.objects.create(key="verify:someone", window_start=timezone.now())  # another user's row
    assert throttle.throttle_sweep() == 0  # nothing idle yet
    _let_time_pass(901)
    delayed = ThrottleBucket.objects.filter(locked_until__isnull=False, key__startswith="ip:")
    delayed.update(locked_until=timezone.now() + dt.timedelta(seconds=30))
    assert throttle.throttle_sweep() > 0
    left = set(ThrottleBucket.objects.values_list("key", flat=True))
    assert "verify:someone" in left  # idle for less than a day: not ours to judge
    assert {k.split(":")[0] for k in left} == {"ip", "space", "verify"}
    assert ThrottleBucket.objects.filter(key__startswith="ip:").count() == 1  # the one in its delay


def test_a_failure_is_counted_even_if_its_forgotten_bucket_was_swept_meanwhile(election):
    """The sweep may delete a bucket whose failures are forgotten while an attempt on it is running (it does
    not take the attempt's lock): the failure is still written, as a new row."""
    key = throttle._ip_key(election.pk, HOME)
    ThrottleBucket.objects.create(key=key, failures=4, window_start=timezone.now() - dt.timedelta(hours=2))
    attempt = throttle.attempt(election_id=election.pk, method="code", ip=HOME, target="ABCD")
    with pytest.raises(throttle.CodeInvalid), attempt:
        assert throttle.throttle_sweep() == 1  # the forgotten bucket goes while the attempt runs
        raise throttle.CodeInvalid("wrong code")
    rows = {b.key: b.failures for b in ThrottleBucket.objects.filter(key__in=[key])}
    assert rows == {key: 1}  # forgotten failures start again at 1, and this one is not lost
    assert ThrottleBucket.objects.filter(key__startswith=f"t:{election.pk}:code:", failures=1).count() == 1


def test_a_success_writes_no_bucket_and_a_failure_after_it_is_counted(election):
    with throttle.attempt(election_id=election.pk, method="code", ip=HOME, target="ABCD"):
        pass
    assert not ThrottleBucket.objects.exists()
    for _ in range(2):
        attempt = throttle.attempt(election_id=election.pk, method="code", ip=HOME, target="ABCD")
        with pytest.raises(throttle.CodeInvalid), attempt:
            raise throttle.CodeInvalid("wrong code")
    mine = ThrottleBucket.objects.exclude(key__startswith="space:")  # the code space counts apart
    assert sorted(mine.values_list("failures", flat=True)) == [2, 2]
    with throttle.attempt(election_id=election.pk, method="code", ip=HOME, target="ABCD"):
        pass  # a success after failures leaves them counted (nothing is refunded)
    assert sorted(mine.values_list("failures", flat=True)) == [2, 2]
