"""Notifications: `notify` writes one row per person and queues the e-mail; e-mails go out in tasks only
(pb.core.notifications.tasks), never inside a request. Comments are mailed in a digest, at most daily.

E-mails are sent at most once: a row is claimed (its `emailed_at` set by a conditional update) before its
message is sent, so a second delivery of a task, or two digest runs at once, send nothing twice. A crash
between claim and send loses that e-mail; the notification stays on the site.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from pb.core.exceptions import DomainError
from pb.core.models import Election
from pb.core.notifications.models import DIGEST_KINDS, Notification, NotificationSettings
from pb.core.notifications.text import notification_text

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "pb.notifications.unsubscribe"
# What an unsubscribe link can switch off: the NotificationSettings field of each scope.
SCOPES: dict[str, tuple[str, ...]] = {
    "events": ("email_events",),
    "digest": ("email_digest",),
    "reminders": ("ballot_reminders",),
    "all": ("email_events", "email_digest", "ballot_reminders"),
}
DIGEST_EVERY = dt.timedelta(days=1)


class BadUnsubscribeLink(DomainError):
    status_code = 400


# --- writing notifications -------------------------------------------------------------------------------


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


# --- settings and unsubscribing ---------------------------------------------------------------------------


def notification_settings_of(user) -> NotificationSettings:
    """The person's settings (the defaults, unsaved, if they never changed them)."""
    try:
        return NotificationSettings.objects.get(user_id=user.pk)
    except NotificationSettings.DoesNotExist:
        return NotificationSettings(user_id=user.pk)


@transaction.atomic
def notification_settings_update(
    *, actor, email_events: bool, email_digest: bool, ballot_reminders: bool
) -> NotificationSettings:
    """A person's own choices (personal, so not in the public audit log)."""
    if not getattr(actor, "is_authenticated", False):
        raise DomainError(_("Please sign in first."))
    prefs, _created = NotificationSettings.objects.select_for_update().get_or_create(user_id=actor.pk)
    prefs.email_events, prefs.email_digest = bool(email_events), bool(email_digest)
    prefs.ballot_reminders = bool(ballot_reminders)
    prefs.save(update_fields=["email_events", "email_digest", "ballot_reminders"])
    return prefs


def unsubscribe_token(user, scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(scope)
    return signing.dumps({"u": user.pk, "s": scope}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(user, scope: str) -> str:
    path = reverse("notifications:unsubscribe", args=[unsubscribe_token(user, scope)])
    return f"{settings.PB_PUBLIC_URL}{path}"


def unsubscribe_check(token: str) -> tuple[int, str]:
    """(user id, scope) of a link we signed; BadUnsubscribeLink for anything else (altered, truncated,
    another site's, another purpose's)."""
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise BadUnsubscribeLink(
            _("This unsubscribe link is not valid. Copy the whole link from the e-mail.")
        ) from None
    if not isinstance(value, dict) or value.get("s") not in SCOPES or not isinstance(value.get("u"), int):
        raise BadUnsubscribeLink(
            _("This unsubscribe link is not valid. Copy the whole link from the e-mail.")
        )
    return value["u"], value["s"]


@transaction.atomic
def unsubscribe(*, token: str) -> str:
    """Switch off what the signed link names, for the person it was made for; no sign-in needed (the
    signature is the proof). Using a link again changes nothing more. Returns the scope."""
    user_id, scope = unsubscribe_check(token)
    from django.contrib.auth import get_user_model

    if not get_user_model().objects.filter(pk=user_id).exists():
        raise BadUnsubscribeLink(_("This unsubscribe link belongs to an account that no longer exists."))
    prefs, _created = NotificationSettings.objects.select_for_update().get_or_create(user_id=user_id)
    for field in SCOPES[scope]:
        setattr(prefs, field, False)
    prefs.save(update_fields=list(SCOPES[scope]))
    return scope


# --- reading state ---------------------------------------------------------------------------------------


def notifications_mark_read(*, actor) -> int:
    if not getattr(actor, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user_id=actor.pk, read_at__isnull=True).update(read_at=timezone.now())


# --- e-mail (called from tasks) -----------------------------------------------------------------------------


def _absolute(url: str) -> str:
    return f"{settings.PB_PUBLIC_URL}{url}" if url.startswith("/") else url


def _message(*, user, subject: str, body: str, scope: str) -> EmailMessage:
    link = unsubscribe_url(user, scope)
    subject = " ".join(subject.split())[:150]  # a title with a line break must not break the header
    footer = _("To stop these e-mails, open this link (no sign-in needed):")
    return EmailMessage(
        subject=subject,
        body=f"{body}\n\n-- \n{footer}\n{link}\n",
        to=[user.email],
        # RFC 8058: mail programs show an "Unsubscribe" button that POSTs to the link, one click.
        headers={"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


def notifications_email(*, notification_ids: list[int]) -> int:
    """E-mail each of these notifications (not digest kinds) to its person if they want event e-mails.
    Returns how many e-mails were sent."""
    sent = 0
    for n in Notification.objects.filter(pk__in=notification_ids).select_related("user"):
        if n.kind in DIGEST_KINDS:
            continue
        # The claim: only the delivery that sets emailed_at sends.
        if not Notification.objects.filter(pk=n.pk, emailed_at__isnull=True).update(
            emailed_at=timezone.now()
        ):
            continue
        if not n.user.email or not notification_settings_of(n.user).email_events:
            continue
        with translation.override(settings.LANGUAGE_CODE):
            text = notification_text(n)
            body = f"{text}\n\n{_absolute(n.url)}" if n.url else text
            _message(user=n.user, subject=text, body=body, scope="events").send()
        sent += 1
    return sent


def notifications_digest_send(*, now: dt.datetime | None = None) -> int:
    """One e-mail per person listing their comment notifications not yet mailed, if their last digest is a
    day old (or they never had one) and they want digests. Safe to run as often as wished. Returns how many
    digests were sent."""
    now = now or timezone.now()
    user_ids = (
        Notification.objects.filter(kind__in=DIGEST_KINDS, emailed_at__isnull=True)
        .values_list("user_id", flat=True)
        .distinct()
    )
    sent = 0
    for user_id in sorted(set(user_ids)):
        sent += _digest_one(user_id=user_id, now=now)
    return sent


@transaction.atomic
def _digest_one(*, user_id: int, now: dt.datetime) -> int:
    # Row lock on the person's settings: two digest runs at once queue here; the second sees last_digest_at.
    prefs, _created = NotificationSettings.objects.select_for_update().get_or_create(user_id=user_id)
    if prefs.last_digest_at is not None and now - prefs.last_digest_at < DIGEST_EVERY:
        return 0
    pending = list(
        Notification.objects.filter(user_id=user_id, kind__in=DIGEST_KINDS, emailed_at__isnull=True)
        .select_related("user")
        .order_by("created_at", "pk")
    )
    if not pending:
        return 0
    Notification.objects.filter(pk__in=[n.pk for n in pending]).update(emailed_at=now)
    user = pending[0].user
    if not prefs.email_digest or not user.email:
        return 0  # claimed anyway: switching digests back on does not mail an old backlog
    prefs.last_digest_at = now
    prefs.save(update_fields=["last_digest_at"])
    with translation.override(settings.LANGUAGE_CODE):
        lines = [f"- {notification_text(n)}\n  {_absolute(n.url)}" for n in pending]
        subject = _("New comments on proposals you follow (%(n)d)") % {"n": len(pending)}
        message = _message(user=user, subject=subject, body="\n".join(lines), scope="digest")
    # Sent after commit: a rolled-back claim must not have mailed anyone.
    transaction.on_commit(message.send)
    return 1
