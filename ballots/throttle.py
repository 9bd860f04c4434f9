"""Brute-force throttling of voter identification, kept in the database so it holds across processes.

Two kinds of bucket count failed attempts:
- per client IP (HMAC of the address, not the address): `PB_THROTTLE_IP_FAILURES` failures (default 5)
  within `PB_THROTTLE_IP_WINDOW` seconds (900) lock that IP out for `PB_THROTTLE_IP_COOLDOWN` seconds (900);
- per code space (an election's voting codes, or its roll match), global over all IPs:
  `PB_THROTTLE_SPACE_FAILURES` failures (default 300) within `PB_THROTTLE_SPACE_WINDOW` seconds (60) lock
  the space for `PB_THROTTLE_SPACE_COOLDOWN` seconds (60). This bounds a distributed guesser spread over many
  IPs: with 60-bit codes and 300 guesses a minute, finding one of a million codes takes ~7 million years.

While a bucket is locked every attempt is refused, a correct one too (HTTP 429): otherwise the lock-out
would leak which guesses were right.

Race note: the check and the attempt are not under one lock, so N requests from one IP in flight at the
same moment can make at most N-1 attempts beyond the limit; failures are counted under a row lock, so
none is lost.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import ngettext

from ballots.exceptions import Throttled
from ballots.models import ThrottleBucket
from ballots.roll import keyed_hash


@dataclass(frozen=True)
class Limit:
    key: str
    failures: int
    window: int  # seconds
    cooldown: int  # seconds
    per_ip: bool


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def client_key(ip: str) -> str:
    """The address a client is counted under: IPv4 as is; IPv6 by its /64 (one home or phone gets a whole
    /64 and can pick any address in it)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip or "-"
    if addr.version == 6:
        if addr.ipv4_mapped:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


def limits_for(*, election_id: int, method: str, ip: str) -> list[Limit]:
    return [
        Limit(
            key=f"ip:{keyed_hash('ip', client_key(ip))[:40]}",
            failures=_setting("PB_THROTTLE_IP_FAILURES", 5),
            window=_setting("PB_THROTTLE_IP_WINDOW", 900),
            cooldown=_setting("PB_THROTTLE_IP_COOLDOWN", 900),
            per_ip=True,
        ),
        Limit(
            key=f"space:{election_id}:{method}",
            failures=_setting("PB_THROTTLE_SPACE_FAILURES", 300),
            window=_setting("PB_THROTTLE_SPACE_WINDOW", 60),
            cooldown=_setting("PB_THROTTLE_SPACE_COOLDOWN", 60),
            per_ip=False,
        ),
    ]


def _message(limit: Limit, seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    if limit.per_ip:
        return ngettext(
            "Too many failed attempts from your connection. Please wait %(n)s minute and try again.",
            "Too many failed attempts from your connection. Please wait %(n)s minutes and try again.",
            minutes,
        ) % {"n": minutes}
    return ngettext(
        "Too many failed attempts on this site right now. Please wait %(n)s minute and try again.",
        "Too many failed attempts on this site right now. Please wait %(n)s minutes and try again.",
        minutes,
    ) % {"n": minutes}


def throttle_check(limits: list[Limit]) -> None:
    """Raise Throttled if any bucket is in its cool-down."""
    now = timezone.now()
    locked = ThrottleBucket.objects.filter(key__in=[lim.key for lim in limits], locked_until__gt=now)
    until = {b.key: b.locked_until for b in locked}
    for lim in limits:
        if lim.key in until:
            seconds = max(1, math.ceil((until[lim.key] - now).total_seconds()))
            raise Throttled(_message(lim, seconds), retry_after=seconds)


def throttle_fail(limits: list[Limit]) -> None:
    """Count one failed attempt in every bucket (own transaction: it must stay even if the caller fails)."""
    now = timezone.now()
    for lim in limits:
        with transaction.atomic():
            bucket = _locked_bucket(lim.key, now)
            if bucket.window_start + dt.timedelta(seconds=lim.window) <= now:
                bucket.failures, bucket.window_start = 0, now
            bucket.failures += 1
            if bucket.failures >= lim.failures:
                bucket.locked_until = now + dt.timedelta(seconds=lim.cooldown)
                bucket.failures, bucket.window_start = 0, now
            bucket.save(update_fields=["failures", "window_start", "locked_until"])
    if secrets.randbelow(100) == 0:  # now and then, forget buckets idle for a day (one row per IP seen)
        stale = now - dt.timedelta(days=1)
        ThrottleBucket.objects.filter(window_start__lt=stale).exclude(locked_until__gt=now).delete()


def _locked_bucket(key: str, now) -> ThrottleBucket:
    # Row lock: concurrent failures from many processes each add one, none is lost.
    bucket = ThrottleBucket.objects.select_for_update().filter(key=key).first()
    if bucket is not None:
        return bucket
    try:
        with transaction.atomic():
            return ThrottleBucket.objects.create(key=key, window_start=now)
    except IntegrityError:  # created by a concurrent request meanwhile
        return ThrottleBucket.objects.select_for_update().get(key=key)


def client_ip(request) -> str:
    """The client address as the server sees it. Behind a proxy, set PB_CLIENT_IP_HEADER (e.g.
    "HTTP_X_REAL_IP") to a header the proxy overwrites; never trust a client-supplied X-Forwarded-For."""
    header = getattr(settings, "PB_CLIENT_IP_HEADER", "")
    if header and request.META.get(header):
        return request.META[header].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")
