"""What a signed-in person is told about (on the site and by e-mail), and what they asked to be told."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    REVIEWED = "reviewed", _("Proposal reviewed")
    CHANGED = "changed", _("Proposal changed")
    MERGED = "merged", _("Proposal merged")
    ON_BALLOT = "on_ballot", _("Proposal on the ballot")
    FUNDED = "funded", _("Proposal funded")
    NOT_FUNDED = "not_funded", _("Proposal not funded")
    COMMENT = "comment", _("New comment")
    PROGRESS = "progress", _("Funded project's progress")


# Comments are e-mailed in a daily digest; every other kind is e-mailed as it happens.
DIGEST_KINDS = frozenset({NotificationKind.COMMENT})


class Notification(models.Model):
    """One event for one person. The text is made when shown (in the reader's language) from `kind` and
    `data`; `url` is the site path it is about."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=NotificationKind)
    data = models.JSONField(default=dict, blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set once the e-mail went out (or was deliberately not sent): a second delivery sends nothing.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_recent"),
            models.Index(fields=["kind", "emailed_at"], name="notification_digest_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class NotificationSettings(models.Model):
    """A person's choices; a missing row means the defaults. Unsubscribe links switch these off."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    email_events = models.BooleanField(_("e-mail me when a proposal I follow changes"), default=True)
    email_digest = models.BooleanField(_("e-mail me a daily digest of new comments"), default=True)
    ballot_reminders = models.BooleanField(
        _("remind me once before voting closes if I started a ballot and did not cast it"), default=False
    )
    last_digest_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"notification settings of {self.user_id}"
