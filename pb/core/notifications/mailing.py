"""Sending notification e-mails (called from tasks only: pb.core.notifications.tasks).

E-mails are sent at most once: a row is claimed (its `emailed_at` set by a conditional update) before its
message is sent, so a second delivery of a task, or two digest runs at once, send nothing twice. A crash
between claim and send loses that e-mail; the notification stays on the site.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from pb.core.notifications.models import DIGEST_KINDS, Notification, NotificationSettings
from pb.core.notifications.preferences import DIGEST_EVERY, notification_settings_of, unsubscribe_url
from pb.core.notifications.text import notification_text

logger = logging.getLogger(__name__)


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
