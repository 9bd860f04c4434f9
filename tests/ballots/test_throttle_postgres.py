"""Throttle counting under concurrency (PostgreSQL, one connection per thread like separate processes)."""

import threading

import pytest
from django.db import connection

from ballots import throttle
from ballots.exceptions import Throttled
from ballots.models import ThrottleBucket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _hammer(limits, n, errors):
    try:
        for _ in range(n):
            throttle.throttle_fail(limits)
    except Exception as exc:  # surfaced by the assertion below
        errors.append(exc)
    finally:
        connection.close()


def test_concurrent_failures_are_all_counted(settings):
    settings.PB_THROTTLE_IP_FAILURES = 1000
    settings.PB_THROTTLE_SPACE_FAILURES = 1000
    limits = throttle.limits_for(election_id=1, method="code", ip="198.51.100.1")
    errors: list = []
    threads = [threading.Thread(target=_hammer, args=(limits, 5, errors)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {b.key: b.failures for b in ThrottleBucket.objects.all()} == {lim.key: 40 for lim in limits}


def test_concurrent_failures_reach_the_lock(settings):
    settings.PB_THROTTLE_IP_FAILURES = 5
    limits = throttle.limits_for(election_id=1, method="code", ip="198.51.100.2")
    errors: list = []
    threads = [threading.Thread(target=_hammer, args=(limits, 1, errors)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with pytest.raises(Throttled):
        throttle.throttle_check(limits)
