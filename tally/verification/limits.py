"""Bounded load from the public verify page: a per-client rate limit and a site-wide cap on verifications
queued or running at once, both kept in the database so they hold across processes.

- Rate: at most PB_VERIFY_RATE_COUNT verifications per PB_VERIFY_RATE_WINDOW seconds per client address
  (ballots.roll.throttle.client_ip, counted like the identification throttle: IPv6 per /64). A fixed window,
  counted under a row lock (a ballots.ThrottleBucket row) so concurrent requests each count.
- Concurrency: at most PB_VERIFY_CONCURRENCY verification jobs (tally.models.VerifyJob) queued or running
  on the "public" queue. A request reserves its job before reading the upload; the job holds its slot until
  its check is done, or until STALE has passed (a request or a worker killed mid-way).

Both answer VerifyBusy (HTTP 429 with Retry-After), checked before the upload is read.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.exceptions import Throttled
from ballots.roll.entries import keyed_hash
from ballots.roll.throttle import client_ip, client_key, locked_bucket
from tally.models import VerifyJob
from tally.verification.jobs import verify_jobs_purge

# Longer than a check of PB_VERIFY_MAX_BYTES takes after waiting behind PB_VERIFY_CONCURRENCY others (a dead
# worker's task is queued again within PB_WORKER_LOST_SECONDS): a job still unfinished by then was lost.
STALE = dt.timedelta(minutes=10)


class VerifyBusy(Throttled):
    """Too many verifications: from this client (rate) or on the site right now (concurrency)."""


def verify_rate_count(request) -> None:
    """Count one verification for the request's client; raise VerifyBusy if over the limit."""
    limit = int(settings.PB_VERIFY_RATE_COUNT)
    window = dt.timedelta(seconds=int(settings.PB_VERIFY_RATE_WINDOW))
    key = "verify:" + keyed_hash("ip", client_key(client_ip(request)))[:40]
    now = timezone.now()
    with transaction.atomic():
        bucket = locked_bucket(key, now)  # row lock: concurrent requests from one client each count
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


def verify_job_reserve() -> VerifyJob:
    """Reserve one of the site's verification slots: a new queued job, still without its upload (the caller
    deletes it if the upload is refused). VerifyBusy if PB_VERIFY_CONCURRENCY jobs are queued or running."""
    verify_jobs_purge()
    now = timezone.now()
    with transaction.atomic():
        locked_bucket("verify-jobs", now)  # row lock: concurrent requests count and reserve one after another
        active = VerifyJob.objects.filter(
            status__in=[VerifyJob.Status.QUEUED, VerifyJob.Status.RUNNING], created_at__gt=now - STALE
        )
        if active.count() >= max(1, int(settings.PB_VERIFY_CONCURRENCY)):
            raise VerifyBusy(
                _("Other verifications are running right now. Please try again in a minute."), retry_after=30
            )
        return VerifyJob.objects.create(created_at=now)
