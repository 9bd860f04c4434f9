"""Sending the reminders of an election (called from the task only: ballots.reminders.tasks).

Exactly once: each reminder is claimed under its row lock (its `sent_at` set and its address erased in one
UPDATE, committed) before its e-mail is sent, so a task delivered twice, or two runs at once, send nothing
twice. A last cast and a claim meet on that row too: the cast's DELETE either comes first (nothing to claim:
no e-mail) or waits for the claim (one e-mail). A crash between claim and send loses that reminder.

The e-mail says nothing about any ballot: the election, when voting closes, the link to vote, and a signed
link that deletes the reminder.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from ballots.models import BallotReminder, ReminderPlan
from ballots.reminders import secret
from ballots.reminders.links import cancel_url
from pb.core.models import Election, Phase

logger = logging.getLogger(__name__)


def _claim(reminder_id) -> tuple[BallotReminder, str] | None:
    with transaction.atomic():
        # Row lock: a second delivery of the task waits here, then finds it sent; a cast's DELETE of this
        # row waits for this claim, or has already removed it.
        row = (
            BallotReminder.objects.select_for_update(of=("self",))  # not the election's row
            .filter(pk=reminder_id, sent_at__isnull=True)
            .select_related("election")
            .first()
        )
        if row is None or row.election.phase != Phase.VOTING_OPEN:
            return None
        email = secret.address_open(row.id, row.email)
        row.sent_at, row.email = timezone.now(), b""
        row.save(update_fields=["sent_at", "email"])
    if email is None:
        logger.warning("reminder %s: the address cannot be decrypted (server key changed?)", row.id)
        return None
    return row, email


def _message(row: BallotReminder, email: str, closes_at: dt.datetime | None) -> EmailMultiAlternatives:
    election = row.election
    ctx = {
        "election": election,
        "closes_at": closes_at,
        "vote_url": f"{settings.PB_PUBLIC_URL}{reverse('ballots:identify', args=[election.slug])}",
        "cancel_url": cancel_url(row),
    }
    language = row.language if row.language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(settings.TIME_ZONE):
        subject = " ".join(render_to_string("ballots/email/reminder_subject.txt", ctx).split())[:150]
        body = render_to_string("ballots/email/reminder.txt", ctx)
        html = render_to_string("ballots/email/reminder.html", ctx)
    message = EmailMultiAlternatives(
        subject=subject,
        body=body,
        to=[email],
        # RFC 8058: the mail program's one-click "Unsubscribe" POSTs to the signed link.
        headers={
            "List-Unsubscribe": f"<{ctx['cancel_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(html, "text/html")
    return message


def reminders_send(*, election_id: int, planned: str = "") -> int:
    """Send every reminder of the election not sent yet, while voting is open. `planned`: the send time of
    the plan this run was queued for ("" when an official pressed "send now"); if the plan has changed
    since, this run does nothing (the run queued with the new plan sends). Returns how many were sent."""
    election = Election.objects.filter(pk=election_id).first()
    if election is None or election.phase != Phase.VOTING_OPEN:
        return 0
    plan = ReminderPlan.objects.filter(election=election).first()
    if planned and (plan is None or plan.send_at.isoformat() != planned):
        return 0
    ids = list(
        BallotReminder.objects.filter(election=election, sent_at__isnull=True)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    sent = 0
    for reminder_id in ids:
        claimed = _claim(reminder_id)
        if claimed is None:
            continue
        row, email = claimed
        try:
            _message(row, email, plan.closes_at if plan else None).send()
        except Exception:  # one bad address or a mail server hiccup must not stop the others
            logger.exception("reminder %s: the e-mail could not be sent", row.id)
            continue
        sent += 1
    return sent
