"""The signed link in a reminder e-mail that deletes the reminder, without signing in: a `django.core.signing`
token over the reminder's random id (never the roll entry's), with a purpose of its own."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext as _

from ballots.models import BallotReminder
from pb.core.exceptions import DomainError

CANCEL_SALT = "pb.ballots.reminder.cancel"


class BadReminderLink(DomainError):
    status_code = 400


def cancel_token(reminder: BallotReminder) -> str:
    return signing.dumps(str(reminder.id), salt=CANCEL_SALT)


def cancel_url(reminder: BallotReminder) -> str:
    return f"{settings.PB_PUBLIC_URL}{reverse('ballots:reminder_cancel', args=[cancel_token(reminder)])}"


def cancel_check(token: str) -> str:
    """The reminder id a link we signed names; BadReminderLink for anything else."""
    try:
        value = signing.loads(token, salt=CANCEL_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        value = None
    if not isinstance(value, str) or len(value) != 36:
        raise BadReminderLink(_("This link is not valid. Copy the whole link from the e-mail."))
    return value
