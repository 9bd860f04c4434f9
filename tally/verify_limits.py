"""Bounded load from the public verify page: a per-client rate limit and a site-wide cap on verifications
running at once, both kept in the database (ballots.ThrottleBucket rows) so they hold across processes.

- Rate: at most PB_VERIFY_RATE_COUNT verifications per PB_VERIFY_RATE_WINDOW seconds per client address
  (ballots.throttle.client_ip, counted like the identification throttle: IPv6 per /64). A fixed window,
  counted under a row lock so concurrent requests each count.
- Concurrency: at most PB_VERIFY_CONCURRENCY verifications at once. A verification takes a slot (a row
  with a lease: locked_until = now + LEASE) and gives it back when done; a worker killed mid-verification
  leaves a lease that simply runs out.

Both answer VerifyBusy (HTTP 429 with Retry-After), checked before the upload is read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.exceptions import Throttled
from ballots.models import ThrottleBucket
from ballots.roll import keyed_hash
from ballots.throttle import client_ip, client_key

LEASE = dt.timedelta(seconds=120)  # longer than any verification of PB_VERIFY_MAX_BYTES takes


class VerifyBusy(Throttled):
    """Too many verifications: from this client (rate) or on the site right now (concurrency)."""


def _bucket(key: str, now) -> ThrottleBucket:
    bucket = ThrottleBucket.objects.select_for_update().filter(key=key).first()
    if bucket is not None:
        return bucket
    try:
        with transaction.atomic():
            return ThrottleBucket.objects.create(key=key, window_start=now)
    except IntegrityError:  # created by a concurrent request meanwhile
        return ThrottleBucket.objects.select_for_update().get(key=key)


def verify_rate_count(request) -> None:
    """Count one verification for the request's client; raise VerifyBusy if over the limit."""
    limit = int(settings.PB_VERIFY_RATE_COUNT)
    window = dt.timedelta(seconds=int(settings.PB_VERIFY_RATE_WINDOW))
    key = "verify:" + keyed_hash("ip", client_key(client_ip(request)))[:40]
    now = timezone.now()
    with transaction.atomic():
        bucket = _bucket(key, now)  # row lock: concurrent requests from one client each count
        if bucket.window_start + window <= now:
            bucket.failures, bucket.window_start = 0, now
        if bucket.failures >= limit:
            seconds = max(1, math.ceil((bucket.window_start + window - now).total_seconds()))
            raise VerifyBusy(
                _(
                    "You have verified %(n)s times in a short while. "
                    "Please wait %(m)s minute(s), then try again."
                )
                % {"n": limit, "m": max(1, math.ceil(seconds / 60))},
                retry_after=seconds,
            )
        bucket.failures += 1
        bucket.save(update_fields=["failures", "window_start"])


def _take_slot() -> str | None:
    now = timezone.now()
    for i in range(max(1, int(settings.PB_VERIFY_CONCURRENCY))):
        key = f"verify-slot:{i}"
        with transaction.atomic():
            slot = _bucket(key, now)
            if slot.locked_until is None or slot.locked_until <= now:
                slot.locked_until = now + LEASE
                slot.window_start = now
                slot.save(update_fields=["locked_until", "window_start"])
                return key
    return None


@contextlib.contextmanager
def verify_slot():
    """Hold one of the site's verification slots for the duration of the block (VerifyBusy if none)."""
    key = _take_slot()
    if key is None:
        raise VerifyBusy(
            _("Other verifications are running right now. Please try again in a minute."), retry_after=30
        )
    try:
        yield
    finally:
        ThrottleBucket.objects.filter(key=key).update(locked_until=None)
