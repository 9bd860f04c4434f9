"""Reads of a person's notifications."""

from django.db.models import QuerySet

from pb.core.notifications.models import Notification


def notifications_of(*, user, limit: int = 100) -> QuerySet[Notification]:
    return Notification.objects.filter(user_id=user.pk).order_by("-created_at", "-pk")[:limit]


def unread_count(*, user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()
