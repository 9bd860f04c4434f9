"""An uploaded file imported as a job: what the voter-roll import (ballots.roll, ImportJob) and the proposal
import (proposals.importing, ProposalImportJob) share. The file is checked in the background (the preview),
confirmed by an official, then imported all or nothing; the page polls the job's progress file
(pb.core.jobprogress), and a job that shows no sign of life is marked failed with a reason and can be retried.

Each app keeps its own table, its own checks and its own audit actions; here are the fields, the statuses and
the steps that are the same in both: the stalled-job check, the retry's claim, the stale-upload sweep, and the
job page with its progress."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pb.core.exceptions import DomainError
from pb.core.jobprogress import ProgressFiles, stall_after, stall_reason


class FileImportJob(models.Model):
    """One upload of a file to import. A concrete job names its election (with its own related name), its
    progress files (`progress`, the folder its uploads and progress live in), and how its failure and a
    retry are recorded (`failure_fields`, `retry_fields`)."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", gettext_lazy("Waiting to be checked")
        VALIDATING = "validating", gettext_lazy("Checking")
        INVALID = "invalid", gettext_lazy("Has errors")
        READY = "ready", gettext_lazy("Ready to import")
        IMPORTING = "importing", gettext_lazy("Importing")
        DONE = "done", gettext_lazy("Imported")
        FAILED = "failed", gettext_lazy("Failed")

    # Waiting for a worker, or in its hands: the page polls, and the stalled-job check looks at these.
    RUNNING_STATUSES: ClassVar[tuple[str, ...]] = (Status.UPLOADED, Status.VALIDATING, Status.IMPORTING)

    progress: ClassVar[ProgressFiles]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filename = models.CharField(max_length=200)
    path = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=12, choices=Status, default=Status.UPLOADED)
    rows_total = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def running(self) -> bool:
        return self.status in self.RUNNING_STATUSES

    @property
    def retryable(self) -> bool:
        """Failed, and its file is still there to be checked again."""
        return self.status == self.Status.FAILED and bool(self.path) and Path(self.path).exists()

    def failure_fields(self, reason: str) -> dict[str, Any]:
        """The fields that tell an official why the job failed."""
        raise NotImplementedError

    def retry_fields(self) -> dict[str, Any]:
        """The fields a retry clears (the last outcome and its reason)."""
        raise NotImplementedError

    def discard_file(self) -> None:
        """Delete the uploaded file (a voter roll holds personal data in clear)."""
        if self.path:
            Path(self.path).unlink(missing_ok=True)
            type(self).objects.filter(pk=self.pk).update(path="")
            self.path = ""


def import_upload_store(model: type[FileImportJob], *, job_id: uuid.UUID, suffix: str, uploaded) -> Path:
    """Keep an uploaded file beside its job's progress until it is imported or dropped; readable by the
    server only."""
    dest = model.progress.directory() / f"{job_id}{suffix}"
    with open(dest, "wb") as fh:
        for chunk in uploaded.chunks():
            fh.write(chunk)
    dest.chmod(0o600)
    return dest


def import_uploads_discard_stale(
    model: type[FileImportJob], *, discard=None, max_age: dt.timedelta = dt.timedelta(days=1)
) -> None:
    """Previews never confirmed: their files go after a day (`discard(job)`, by default the file only)."""
    discard = discard or model.discard_file
    for job in model.objects.exclude(path="").filter(created_at__lt=timezone.now() - max_age):
        discard(job)


def import_jobs_expire_stalled(model: type[FileImportJob], *, election) -> int:
    """Mark failed, with a reason an official can act on, the election's jobs that are waiting, checking or
    importing with no progress for PB_ROLL_JOB_STALL_SECONDS (the worker died, or the server restarted
    mid-job). The file is kept, so the job can be retried; nothing was written (an import is one
    transaction). Returns how many were marked."""
    stall = stall_after()
    now = timezone.now()
    marked = 0
    for job in model.objects.filter(election=election, status__in=model.RUNNING_STATUSES):
        if now - model.progress.last_sign_of_life(job.pk, job.created_at) < stall:
            continue
        reason = stall_reason(importing=job.status == model.Status.IMPORTING, stall=stall)
        # Conditional update: a worker that finishes meanwhile, or another page view, wins or loses cleanly
        # (an import that holds the job's row lock until it commits DONE makes this wait, then miss).
        marked += model.objects.filter(pk=job.pk, status=job.status).update(
            status=model.Status.FAILED, finished_at=now, **job.failure_fields(reason)
        )
        model.progress.clear(job.pk)
    return marked


def import_job_retry_claim(job: FileImportJob, *, error: type[DomainError]) -> None:
    """Take a failed job back to "waiting to be checked" (the caller checked the permission, and audits and
    enqueues the check). A conditional update: of two clicks, or two officials, one claims it and the other
    is told `error`."""
    if not job.retryable:
        raise error(_("This import cannot be retried: upload the file again."))
    model = type(job)
    if not model.objects.filter(pk=job.pk, status=model.Status.FAILED).update(
        status=model.Status.UPLOADED, finished_at=None, **job.retry_fields()
    ):
        raise error(_("This import is already being retried."))
    model.progress.write(job.pk, phase="checking", done=0, total=0)  # a fresh sign of life until the check


# --- The job page -------------------------------------------------------------------------------------------


def import_job_page(
    request, template: str, election, job: FileImportJob, *, status: int = 200, **extra
) -> HttpResponse:
    """The job's page, or only its panel (`#job-panel`) to the page's own poll (HTMX)."""
    if request.htmx:
        template += "#job-panel"
    context = {"election": election, **import_job_progress_context(job), **extra}
    return render(request, template, context, status=status)


def import_job_progress_context(job: FileImportJob) -> dict[str, Any]:
    """What the job page shows of a job's progress (its panel polls while `running`)."""
    progress = job.progress.read(job.pk) if job.running else {}
    total, done = progress.get("total") or 0, progress.get("done") or 0
    return {
        "job": job,
        "running": job.running,
        "retryable": job.retryable,
        "progress_done": done,
        "progress_total": total,
        "progress_percent": int(100 * done / total) if total else 0,
    }
