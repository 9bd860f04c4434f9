"""Throttling of voter identification that stops guessing without stopping voters.

Kept in the database (`ThrottleBucket` rows, counted under a row lock) so it holds across every process and
app server. The client address is `client_ip(request)` (pb.core.clientip: `PB_TRUSTED_PROXIES`, the
right-most untrusted address of X-Forwarded-For); an IPv6 client is counted by its /64.

Progressive delays, never a long lock-out
-----------------------------------------
Two kinds of bucket are charged for every identification attempt, per election:
- the client address (HMAC of it, never the address in clear), all methods together;
- the target: the voting code typed, or the voter reference of a roll match (HMAC of it), per method.

A bucket allows `free` failures (`PB_THROTTLE_IP_FAILURES`, `PB_THROTTLE_TARGET_FAILURES`, default 5).
From the `free`-th failure on, each further attempt must wait `PB_THROTTLE_DELAY` x 2^(n - free) seconds
after the n-th failure (2, 4, 8, 16, 32 s ...), never more than `PB_THROTTLE_DELAY_MAX` (60 s). An attempt
during the delay is refused with 429 and Retry-After (it is not counted, so it does not lengthen the wait);
the same for a right code: a refusal that depended on the code would tell the guesser it was right. Once
the delay has passed, a correct code is always accepted. A bucket forgets its failures after
`PB_THROTTLE_WINDOW` seconds (900) without an attempt.

So a household, a library PC or a carrier NAT whose users mistype codes waits at most 60 s, and a voter
whose code or reference nobody else is failing on is never delayed by failures on other codes. (Someone
who keeps failing on a voter's own reference can keep that voter's roll match waiting, up to 60 s at a
time; the voter's code and the booth are not affected.)

Each attempt runs in one transaction holding both buckets' locks, from the check to the charge of a
failure (`attempt`): N requests sent at the same moment on one address or target run one after the other,
so they cannot get N attempts past a delay, only one of them; a success is never charged (nothing to
refund), and the identification and its throttle bookkeeping commit together. On PostgreSQL the locks are
advisory locks on the buckets' keys, so an address or target that has never failed has no row at all (a
voter's identification writes nothing here); elsewhere they are the rows' own locks.

A whole code space under attack
-------------------------------
Per election and method, failures are counted in windows of `PB_THROTTLE_SPACE_WINDOW` seconds (60). When
a window reaches `PB_THROTTLE_SPACE_FAILURES` (300), nobody is refused. Instead:
- the space is "under attack" for one more window: every failing address gets its delay from its first
  failure on (free = 1 instead of 5), so a voter typing a right code is not slowed at all;
- an audit event `identify.alert` is written (at most one per window and method) with the number of
  failures, the window, and the number of addresses that failed in it; the election's manage page shows it.

The guess-rate bound, honestly
------------------------------
Voting codes carry 60 random bits (ballots.roll.entries). An address in its delay makes at most one attempt
per
`PB_THROTTLE_DELAY_MAX` seconds; with the free attempts after each idle `PB_THROTTLE_WINDOW`, under 100
guesses an hour per address (IPv4 address or IPv6 /64). There is no cap over all addresses any more (it
locked out every voter): the bound is per address. Each guess hits one of C valid codes with probability
C / 2^60 = 8.7 x 10^-13 for C = 10^6. A botnet of 100,000 addresses guessing day and night through a 30-day
vote makes at most 7.2 x 10^9 guesses: about a 0.6 % chance of finding one code, and the alert is raised in
its first minute. (An IPv6 customer with a /48 holds 65,536 /64s: it counts as that many addresses. Each
open election has its own buckets.) A roll match (reference + date of birth) is weaker: a known reference
leaves ~30,000 birth dates, and the per-reference bucket allows about 60 attempts an hour from all
addresses together, so a determined attacker who knows a reference could find the date in about ten days:
use voting codes where references are not secret, and watch the alerts.

Race note: the check, the attempt and the charge hold the buckets' locks (the code space's counter is
taken after the commit, failures only). None is lost or doubled. Attempts from one address wait for each
other for the length of an identification (a few milliseconds), which a busy shared address (a carrier
NAT) can afford.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
import secrets
from contextlib import contextmanager

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import ngettext

from ballots.exceptions import CodeInvalid, Throttled
from ballots.models import ThrottleBucket
from ballots.roll.entries import keyed_hash
from pb.core.audit import audit_record
from pb.core.clientip import client_ip
from pb.core.models import Election

__all__ = [
    "ALERT_ACTION",
    "attempt",
    "client_ip",
    "client_key",
    "delay_for",
    "throttle_sweep",
]

ALERT_ACTION = "identify.alert"


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


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


def delay_for(failures: int, free: int) -> int:
    """Seconds to wait after the `failures`-th failure (0 before `free`), at most PB_THROTTLE_DELAY_MAX."""
    if failures < free:
        return 0
    base = _setting("PB_THROTTLE_DELAY", 2)
    cap = _setting("PB_THROTTLE_DELAY_MAX", 60)
    exponent = min(failures - free, 32)  # no huge powers
    return max(0, math.ceil(min(base * 2**exponent, cap)))


def _ip_key(election_id: int, ip: str) -> str:
    return f"ip:{election_id}:{keyed_hash('ip', client_key(ip))[:40]}"


def _target_key(election_id: int, method: str, target: str) -> str:
    return f"t:{election_id}:{method}:{keyed_hash('target', target)[:40]}"


def _space_key(election_id: int, method: str) -> str:
    return f"space:{election_id}:{method}"


def _message(per_ip: bool, seconds: int) -> str:
    if per_ip:
        return ngettext(
            "Too many failed attempts from your connection. Please wait %(n)s second and try again.",
            "Too many failed attempts from your connection. Please wait %(n)s seconds and try again.",
            seconds,
        ) % {"n": seconds}
    return ngettext(
        "Too many failed attempts with this code or reference. Please wait %(n)s second and try again.",
        "Too many failed attempts with this code or reference. Please wait %(n)s seconds and try again.",
        seconds,
    ) % {"n": seconds}


def _under_attack(election_id: int, method: str, now: dt.datetime) -> bool:
    return ThrottleBucket.objects.filter(key=_space_key(election_id, method), locked_until__gt=now).exists()


@contextmanager
def attempt(*, election_id: int, method: str, ip: str, target: str):
    """One identification attempt, run in the `with` block under the throttle, in one transaction.

    Before the block: the address's and the target's buckets are created if missing and locked (in key
    order, the same in every request, so two attempts never wait on each other in a cycle); if either is in
    its delay, Throttled (with the seconds to wait) is raised and nothing runs. The block then runs with the
    locks held, so concurrent attempts on the same address or target run one after the other, each seeing
    the failures of those before it: N requests sent at the same moment cannot get N attempts past a delay.

    The block raising CodeInvalid (a wrong code or roll match) is a failure: it is charged to both buckets,
    committed together with anything the block wrote before raising (raise it before writing), counted in
    the code space (alerting officials under attack) and re-raised. Any other outcome charges nothing: a
    success commits the block's writes and drops the buckets left with nothing to remember (no row per voter
    and address); any other error (a used code, not eligible, voting closed) rolls back like any error."""
    now = timezone.now()
    ip_key, target_key = _ip_key(election_id, ip), _target_key(election_id, method, target)
    forget = dt.timedelta(seconds=_setting("PB_THROTTLE_WINDOW", 900))
    failed = None
    with transaction.atomic():
        # The address first ("ip:" sorts before "t:"), in every request: no two attempts wait in a cycle.
        buckets = _locked_buckets((ip_key, target_key), now)
        for bucket in buckets:
            if bucket.window_start + forget <= now:  # failures forgotten after a quiet window
                bucket.failures, bucket.locked_until = 0, None
            if bucket.locked_until is not None and bucket.locked_until > now:
                wait = max(1, math.ceil((bucket.locked_until - now).total_seconds()))
                raise Throttled(_message(bucket.key == ip_key, wait), retry_after=wait)
        try:
            yield
        except CodeInvalid as exc:
            failed = exc
            _charge(buckets, election_id=election_id, method=method, ip_key=ip_key, now=now)
        else:
            idle = [b.pk for b in buckets if b.pk is not None and b.failures == 0 and b.locked_until is None]
            if idle:
                ThrottleBucket.objects.filter(pk__in=idle).delete()
    if failed is not None:
        _space_failure(election_id, method)
        raise failed


def _locked_buckets(keys: tuple[str, str], now) -> list[ThrottleBucket]:
    """Both buckets of an attempt, in key order, locked until the transaction ends: the rows that exist, and
    a new (unsaved, pk None) bucket for a key without one.

    On PostgreSQL the locks are transaction-level advisory locks on the keys (a 64-bit hash of each), taken
    in one statement before the rows are read (a statement after the lock sees what the previous holder
    committed): a voter who has never failed leaves no row to insert, lock and delete again, which is
    three write statements fewer per identification. Elsewhere (SQLite) the rows are created if missing and
    locked (SQLite lets one writer at a time in anyway)."""
    ordered = sorted(keys)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A target list is evaluated from left to right: the locks are taken in key order.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s), pg_advisory_xact_lock(%s)",
                [_lock_id(key) for key in ordered],
            )
        found = {b.key: b for b in ThrottleBucket.objects.filter(key__in=ordered)}
        return [found.get(key) or ThrottleBucket(key=key, window_start=now) for key in ordered]
    # Created if missing (a concurrent creator's row is kept: the INSERT waits for its commit), then locked.
    ThrottleBucket.objects.bulk_create(
        [ThrottleBucket(key=key, window_start=now) for key in ordered], ignore_conflicts=True
    )
    return list(ThrottleBucket.objects.select_for_update().filter(key__in=ordered).order_by("key"))


def _lock_id(key: str) -> int:
    """The advisory lock of a bucket key: a signed 64-bit integer from its SHA-256 (a collision would only
    make two attempts wait for each other)."""
    return int.from_bytes(hashlib.sha256(("pb-throttle:" + key).encode()).digest()[:8], "big", signed=True)


def _charge(buckets: list[ThrottleBucket], *, election_id: int, method: str, ip_key: str, now) -> None:
    """Count a failure in each (locked) bucket and start its delay once its free failures are used. Under
    attack on the code space, an address gets its delay from its first failure on."""
    attack = _under_attack(election_id, method, now)
    for bucket in buckets:
        if bucket.key == ip_key:
            free = 1 if attack else int(_setting("PB_THROTTLE_IP_FAILURES", 5))
        else:
            free = int(_setting("PB_THROTTLE_TARGET_FAILURES", 5))
        bucket.failures += 1
        wait = delay_for(bucket.failures, free)
        if wait:
            bucket.locked_until = now + dt.timedelta(seconds=wait)
        bucket.window_start = now  # the last failure (failures are forgotten a window after it)
    # Written whole, created where missing (the bucket's lock is held: nobody else writes these keys now).
    ThrottleBucket.objects.bulk_create(
        [
            ThrottleBucket(
                key=b.key, failures=b.failures, window_start=b.window_start, locked_until=b.locked_until
            )
            for b in buckets
        ],
        update_conflicts=True,
        unique_fields=["key"],
        update_fields=["failures", "window_start", "locked_until"],
    )


def _space_failure(election_id: int, method: str) -> None:
    """Count a failure in the code space's window; alert officials when the space is under attack."""
    now = timezone.now()
    window = dt.timedelta(seconds=_setting("PB_THROTTLE_SPACE_WINDOW", 60))
    limit = int(_setting("PB_THROTTLE_SPACE_FAILURES", 300))
    alert = None
    with transaction.atomic():
        space = locked_bucket(_space_key(election_id, method), now)
        if space.window_start + window <= now:
            space.failures, space.window_start = 0, now
        space.failures += 1
        if space.failures >= limit:
            space.locked_until = now + window  # under attack until a window passes below the limit
            alert = space.failures
        space.save(update_fields=["failures", "window_start", "locked_until"])
    if alert is not None:
        _alert(election_id, method, failures=alert, window=window, now=now)
    if secrets.randbelow(200) == 0:  # now and then (a failed guess leaves a row)
        throttle_sweep(now)


def throttle_sweep(now: dt.datetime | None = None) -> int:
    """Delete the address and target buckets whose failures are forgotten anyway (idle for
    PB_THROTTLE_WINDOW, not in a delay), and any bucket idle for a day. Returns how many."""
    now = now or timezone.now()
    forget = now - dt.timedelta(seconds=_setting("PB_THROTTLE_WINDOW", 900))
    mine = Q(key__startswith="ip:") | Q(key__startswith="t:")
    n, _ = ThrottleBucket.objects.filter(mine, window_start__lt=forget).exclude(locked_until__gt=now).delete()
    stale = now - dt.timedelta(days=1)  # any other kind of bucket (e.g. the verify page's)
    m, _ = ThrottleBucket.objects.filter(window_start__lt=stale).exclude(locked_until__gt=now).delete()
    return n + m


@transaction.atomic
def _alert(election_id: int, method: str, *, failures: int, window: dt.timedelta, now: dt.datetime) -> None:
    """One audited alert per window and method (the alert bucket's window_start: the last alert)."""
    bucket = locked_bucket(f"alert:{election_id}:{method}", now - 2 * window)
    if bucket.window_start + window > now:
        return
    bucket.window_start = now
    bucket.failures += 1
    bucket.save(update_fields=["window_start", "failures"])
    addresses = ThrottleBucket.objects.filter(
        key__startswith=f"ip:{election_id}:", window_start__gt=now - window, failures__gt=0
    ).count()
    audit_record(
        actor=None,
        action=ALERT_ACTION,
        election=Election(pk=election_id),
        data={
            "method": method,
            "failures": failures,
            "window": int(window.total_seconds()),
            "addresses": addresses,
        },
    )


def locked_bucket(key: str, now) -> ThrottleBucket:
    """The counter row for `key`, created if need be, locked until the transaction ends (also used by the
    public verify page's limits, tally.verification.limits)."""
    # Row lock: concurrent attempts from many processes are counted one after the other, none is lost.
    bucket = ThrottleBucket.objects.select_for_update().filter(key=key).first()
    if bucket is not None:
        return bucket
    try:
        with transaction.atomic():
            return ThrottleBucket.objects.create(key=key, window_start=now)
    except IntegrityError:  # created by a concurrent request meanwhile
        return ThrottleBucket.objects.select_for_update().get(key=key)
