"""Rate limits of people's actions (comments, reports, voting reminders), counted in Django's cache in fixed
windows. With several web processes the cache must be shared (the default local-memory cache counts per
process). Guessing of voter identification has its own, database-backed throttle (ballots.roll.throttle)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _

from pb.core.exceptions import DomainError


class RateLimited(DomainError):
    status_code = 429


def rates(name: str, default: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """The (how many, per seconds) limits of a setting, or the default."""
    return tuple(getattr(settings, name, default))


def rate_charge(key: str, limits: Iterable[tuple[int, int]]) -> None:
    """Count one action against each (limit, window); refuse once a window's limit is used up."""
    for limit, window in limits:
        bucket = f"pb:rate:{key}:{window}:{int(timezone.now().timestamp()) // window}"
        cache.add(bucket, 0, timeout=window)
        try:
            used = cache.incr(bucket)
        except ValueError:  # expired between add and incr
            cache.set(bucket, 1, timeout=window)
            used = 1
        if used > limit:
            raise RateLimited(_("You are doing that too often. Please wait a while and try again."))
