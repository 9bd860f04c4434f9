"""Notifications: `notify` writes one row per person and queues the e-mail; e-mails go out in tasks only
(pb.core.notifications.tasks, which call pb.core.notifications.mailing), never inside a request. Comments are
mailed in a digest, at most daily. A person's choices and the signed unsubscribe links are in
pb.core.notifications.preferences."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from pb.core.models import Election
from pb.core.notifications.models import DIGEST_KINDS, Notification

# --- writing notifications -------------------------------------------------------------------------------


def notifications_withdraw(*, kind: str, url: str) -> int:
    """Take back every notification of an event that no longer stands (a comment the officials hid): it
    leaves the notification pages and any digest not yet mailed. Returns how many went."""
    deleted, _ = Notification.objects.filter(kind=kind, url=url).delete()
    return deleted


def notify(
    *,
    users: Iterable,
    kind: str,
    data: dict,
    url: str = "",
    election: Election | None = None,
    exclude=None,
) -> list[Notification]:
    """Tell each of `users` (once each; not `exclude`, the person who acted) about an event. Call inside the
    service's transaction: the rows commit with the change, and the e-mail task is queued only once they
    have (a rolled-back change mails nobody). `election` is informational, kept in `data`."""
    exclude_id = getattr(exclude, "pk", None)
    seen: set[int] = set()
    rows = []
    payload = dict(data)
    if election is not None:
        payload.setdefault("election", election.slug)
        payload.setdefault("election_name", election.name)
    for user in users:
        uid = getattr(user, "pk", user)
        if uid is None or uid == exclude_id or uid in seen:
            continue
        seen.add(uid)
        rows.append(Notification(user_id=uid, kind=kind, data=payload, url=url[:300]))
    if not rows:
        return []
    created = Notification.objects.bulk_create(rows)
    if kind not in DIGEST_KINDS:
        ids = [n.pk for n in created if n.pk is not None]
        if not ids:  # backends that do not return ids from bulk_create
            ids = list(
                Notification.objects.filter(kind=kind, emailed_at__isnull=True, user_id__in=seen)
                .order_by("-pk")
                .values_list("pk", flat=True)[: len(rows)]
            )
        transaction.on_commit(lambda: _enqueue_email(ids))
    return created


def _enqueue_email(ids: list[int]) -> None:
    from pb.core.notifications.tasks import notification_email_task

    notification_email_task.enqueue(notification_ids=ids)


# --- reading state ---------------------------------------------------------------------------------------


def notifications_mark_read(*, actor) -> int:
    if not getattr(actor, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user_id=actor.pk, read_at__isnull=True).update(read_at=timezone.now())
