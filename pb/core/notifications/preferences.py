"""A person's notification choices (what is e-mailed) and the signed one-click unsubscribe links."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from pb.core.exceptions import DomainError
from pb.core.notifications.models import NotificationSettings

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
