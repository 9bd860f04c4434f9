"""Voting reminders: a voter asked to be e-mailed once before voting closes if they have not cast every
ballot. Imported by ballots.models, where Django finds them.

A reminder names a roll entry (never a ballot) and holds the e-mail address only as AES-GCM ciphertext
(ballots.reminders.secret). The row is deleted in the transaction of the voter's last cast (or paper mark),
when they cancel, and for the whole election when voting closes; once the reminder is sent the address is
erased and only `sent_at` is kept, so nobody gets a second one.
"""

import uuid

from django.conf import settings
from django.db import models

from ballots.roll.models import VoterRollEntry
from pb.core.models import Election


class BallotReminder(models.Model):
    # Random: the signed cancel link names this id, not the roll entry.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    # One per roll entry: asking again replaces the address.
    voter = models.OneToOneField(VoterRollEntry, on_delete=models.CASCADE, related_name="+")
    email = models.BinaryField()  # AES-GCM ciphertext (ballots.reminders.secret); empty once sent
    language = models.CharField(max_length=12)  # of the page they asked on: the e-mail is written in it
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["election", "sent_at"], name="ballot_reminder_queue")]

    def __str__(self) -> str:
        return f"reminder {self.id}"


class ReminderPlan(models.Model):
    """When an election's reminders go out by themselves: the closing time officials announced (the
    election itself has none: closing takes two officials on the tally page) and the time to send."""

    election = models.OneToOneField(Election, on_delete=models.CASCADE, related_name="reminder_plan")
    closes_at = models.DateTimeField()
    send_at = models.DateTimeField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    set_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(send_at__lt=models.F("closes_at")), name="reminder_plan_sends_before_close"
            )
        ]

    def __str__(self) -> str:
        return f"reminder plan of {self.election_id}"
