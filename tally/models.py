"""Verifiable results: the frozen definition, the sealed ballot log, exports, tally runs, sign-offs and the
council's certification. Every hash here is SHA-256 hex over the byte formats of tally.engine.manifest."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from pb.core.models import Election, Pot


class CloseRequest(models.Model):
    """Closing the vote takes two different officials: one asks, another confirms."""

    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="close_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled = models.BooleanField(default=False)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(confirmed_by=models.F("requested_by")), name="close_needs_two_officials"
            )
        ]

    def __str__(self) -> str:
        return f"close request {self.pk}"


class ExportKind(models.TextChoices):
    PABULIB = "pb", _("Pabulib ballot file")
    JSONL = "jsonl", _("Ballots as JSON lines")
    LOG = "log", _("Ballot log")
    RECEIPTS = "receipts", _("Receipt list")
    AUDIT = "audit", _("Audit log")
    PDF = "pdf", _("Signed result PDF")
    PUBLICATION = "pubrecord", _("Signed publication record")


class ExportFile(models.Model):
    """A published file under PB_VAR_DIR/elections/<slug>/, read-only on disk, with its SHA-256."""

    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="export_files")
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=10, choices=ExportKind)
    name = models.CharField(max_length=120)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["election", "name"], name="export_name_unique")]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Counting")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class TallyRun(models.Model):
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="tally_runs")
    official = models.BooleanField(default=False)  # the frozen rule; "what if" runs are not official
    rule = models.CharField(max_length=60)
    tie_break = models.CharField(max_length=200)
    seed = models.CharField(max_length=120, blank=True)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=RunStatus, default=RunStatus.PENDING)
    progress = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    input_hashes = models.JSONField(default=dict, blank=True)  # file name -> sha256
    engine_name = models.CharField(max_length=40, blank=True)
    engine_version = models.CharField(max_length=40, blank=True)
    results = models.JSONField(default=dict, blank=True)  # pot slug -> Outcome.to_json()
    summary = models.JSONField(default=dict, blank=True)  # pot slug -> manifest.pot_result()
    metrics = models.JSONField(default=dict, blank=True)  # pot slug -> tally.engine.metrics (display only)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{'official' if self.official else 'what-if'} {self.rule} run {self.pk}"


class SignOff(models.Model):
    """An official's independent re-count of the exported files, compared with the official run."""

    class Method(models.TextChoices):
        SERVER = "server", _("Re-counted on the server from the exported files")
        UPLOAD = "upload", _("Uploaded the result of an offline count")

    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="signoffs")
    run = models.ForeignKey(TallyRun, on_delete=models.PROTECT, related_name="signoffs")
    official = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=8, choices=Method)
    matched = models.BooleanField()
    summary = models.JSONField(default=dict)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField()
    # A sign-off is never deleted: its author may withdraw it (with a reason, audited), after which it no
    # longer counts towards the quorum nor blocks certification, and they may sign off again.
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # One standing sign-off per official per count: the same person twice is not two independent
            # re-counts (closes the double click and the race of two requests; services say it first).
            models.UniqueConstraint(
                fields=["run", "official"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="signoff_one_per_official_per_run",
            )
        ]

    def __str__(self) -> str:
        return f"sign-off {self.pk} ({'match' if self.matched else 'MISMATCH'})"


class Certification(models.Model):
    election = models.OneToOneField(Election, on_delete=models.PROTECT, related_name="certification")
    run = models.ForeignKey(TallyRun, on_delete=models.PROTECT, related_name="+")
    manifest = models.TextField()  # manifest.json, byte for byte
    manifest_sha256 = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)  # hex Ed25519 signature of manifest.json
    key_fingerprint = models.CharField(max_length=64)
    pdf_name = models.CharField(max_length=120, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    certified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    certified_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"certification {self.manifest_sha256[:12]}"


class VerifyJob(models.Model):
    """One upload to the public verify page, checked by a task on the "public" queue
    (tally.verification.jobs).
    The id is the page's unguessable address; the upload is kept only until the check is done, the report
    for an hour (tally.verification.jobs.KEEP)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting")
        RUNNING = "running", _("Checking")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=8, choices=Status, default=Status.QUEUED)
    upload = models.BinaryField(default=b"")  # a zip of the PDF and the files; emptied once checked
    report = models.JSONField(null=True, blank=True)  # {"steps": [...]} or {"error": "..."}
    created_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"verification {self.pk} ({self.status})"


# Tracking of funded projects after publication and the statistics snapshot live in sub-packages of their own;
# named here so Django finds them.
from tally.statistics.models import StatisticsSnapshot  # noqa: E402, F401
from tally.tracking.models import Milestone, ProjectTracking, TrackingStatus, TrackingUpdate  # noqa: E402, F401
