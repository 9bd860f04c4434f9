"""Models of the voter-roll import and of identification throttling (imported by ballots.models)."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from pb.core.models import Election


class ImportJob(models.Model):
    """One upload of a voter-roll file: preview (validation) then confirmed import, with progress.

    The uploaded file is kept in PB_VAR_DIR/roll_uploads only between preview and import and deleted after
    (it holds personal data in clear).
    """

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        VALIDATING = "validating", _("Checking")
        INVALID = "invalid", _("Has errors")
        READY = "ready", _("Ready to import")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="roll_imports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filename = models.CharField(max_length=200)
    path = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=12, choices=Status, default=Status.UPLOADED)
    rows_total = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # The first errors only (row number, column, message); error_count has the full number.
    errors = models.JSONField(default=list, blank=True)
    imported = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"roll import {self.filename} ({self.status})"


class ThrottleBucket(models.Model):
    """Failed identification attempts per key ("ip:<hmac of IP>" or "space:<election id>:<method>").

    A database row (locked with select_for_update while counting) so the limit holds across processes.
    """

    key = models.CharField(max_length=120, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"throttle {self.key}: {self.failures}"
