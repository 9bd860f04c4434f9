"""Importing and exporting proposals: the all-or-nothing import service, the export, and the import jobs
(uploaded, checked in the background, confirmed, imported; proposals.importing.tasks) with their progress."""

from __future__ import annotations

import hashlib
import logging
import uuid
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pb.core.audit import audit_record
from pb.core.exceptions import DomainError
from pb.core.jobs.imports import (
    import_job_retry_claim,
    import_jobs_expire_stalled,
    import_upload_store,
    import_uploads_discard_stale,
)
from pb.core.models import Election
from pb.core.permissions import require
from proposals.exceptions import ImportInvalid, ImportJobConflict
from proposals.models import ProposalImportJob
from proposals.services import lock_election

logger = logging.getLogger(__name__)


@transaction.atomic
def proposals_import(
    *, actor, election: Election, content: bytes, file_format: str, dry_run: bool, progress=None
):
    """Import proposals from a CSV/XLSX file. All rows or none: any invalid row raises ImportInvalid with
    the report of every row, and the transaction leaves nothing behind. Returns the ImportReport.
    `progress(done, total)`: called as rows are processed (ProposalImportJob's progress file)."""
    from proposals.importing.resources import run_import  # import-export is only needed here

    election = lock_election(election)
    require(actor, "proposal.import", election)
    report = run_import(
        election=election, content=content, file_format=file_format, dry_run=dry_run, progress=progress
    )
    if not report.ok:
        raise ImportInvalid(report.summary(), report)
    if not dry_run:
        audit_record(
            actor=actor,
            action="proposal.import",
            election=election,
            data={
                "format": file_format,
                "sha256": hashlib.sha256(content).hexdigest(),
                "codes": [r.code for r in report.rows],
            },
        )
    return report


def proposals_export(*, actor, election: Election, file_format: str) -> bytes:
    """Export the election's proposals (audited: who took the data out, when)."""
    from proposals.importing.resources import export_bytes

    require(actor, "proposal.export", election)
    data = export_bytes(election=election, file_format=file_format)
    audit_record(
        actor=actor,
        action="proposal.export",
        election=election,
        data={"format": file_format, "sha256": hashlib.sha256(data).hexdigest()},
    )
    return data


# --- Import jobs (background check and import; proposals.importing.tasks) -----------------------------

Job = ProposalImportJob


# {"done": rows processed, "total": rows in the file} of a running job (empty if none yet).
PROGRESS = Job.progress
import_progress_path = PROGRESS.path


def _write_progress(job_id, done: int, total: int) -> None:
    PROGRESS.write(job_id, done=done, total=total)


def _discard_file(job: ProposalImportJob) -> None:
    job.discard_file()
    PROGRESS.clear(job.pk)


@transaction.atomic
def proposal_import_job_create(*, actor, election: Election, uploaded) -> ProposalImportJob:
    """Store an uploaded proposal file and open an import job for it (the caller enqueues the check)."""
    require(actor, "proposal.import", election)
    import_uploads_discard_stale(Job, discard=_discard_file)  # previews never confirmed: gone after a day
    name = Path(uploaded.name).name
    file_format = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if file_format not in ("csv", "xlsx"):
        raise ImportInvalid(_("Upload a .csv or .xlsx file."))
    job_id = uuid.uuid4()
    dest = import_upload_store(Job, job_id=job_id, suffix=f".{file_format}", uploaded=uploaded)
    return Job.objects.create(
        id=job_id,
        election=election,
        created_by=actor,
        filename=name[:200],
        file_format=file_format,
        path=str(dest),
    )


def _finish(job: ProposalImportJob, expect: str, **fields) -> bool:
    """Record the outcome if the job is still `expect` (a stalled-job check may have failed it meanwhile)."""
    fields.setdefault("finished_at", timezone.now())
    return bool(Job.objects.filter(pk=job.pk, status=expect).update(**fields))


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return _("The job failed unexpectedly; nothing was imported. Press “Retry” to try again.")


def proposal_import_job_check(*, job_id) -> ProposalImportJob:
    """The preview: validate every row without writing; READY, or INVALID with each row's errors. A second
    delivery of the same check checks again (it writes nothing but the job's status)."""
    job = Job.objects.select_related("election", "created_by").get(pk=job_id)
    if not Job.objects.filter(pk=job.pk, status__in=(Job.Status.UPLOADED, Job.Status.VALIDATING)).update(
        status=Job.Status.VALIDATING
    ):
        return job  # checked already (or failed as stalled): nothing to do
    try:
        content = Path(job.path).read_bytes()
        report = proposals_import(
            actor=job.created_by,
            election=job.election,
            content=content,
            file_format=job.file_format,
            dry_run=True,
            progress=lambda done, total: _write_progress(job.pk, done, total),
        )
    except ImportInvalid as exc:
        report = exc.report
        if report is None:
            _finish(job, Job.Status.VALIDATING, status=Job.Status.FAILED, reason=exc.message)
        else:
            _finish(
                job,
                Job.Status.VALIDATING,
                status=Job.Status.INVALID,
                report=report.as_json(),
                rows_total=len(report.rows),
                summary=report.summary()[:500],
            )
            _discard_file(job)
    except Exception as exc:  # a crash must not leave the page polling forever
        if not isinstance(exc, DomainError):
            logger.exception("proposal import job %s: check failed", job.pk)
        _finish(job, Job.Status.VALIDATING, status=Job.Status.FAILED, reason=_failure_reason(exc))
    else:
        _finish(
            job,
            Job.Status.VALIDATING,
            status=Job.Status.READY,
            report=report.as_json(),
            rows_total=len(report.rows),
            summary=report.summary()[:500],
        )
    import_progress_path(job.pk).unlink(missing_ok=True)
    job.refresh_from_db()
    return job


def proposal_import_job_confirm(*, actor, job: ProposalImportJob) -> None:
    """The official confirms the preview: claim the job READY → IMPORTING (the caller enqueues the import).
    A conditional update, so a second confirm (a double click, another official) claims nothing."""
    require(actor, "proposal.import", job.election)
    if not Job.objects.filter(pk=job.pk, status=Job.Status.READY).update(
        status=Job.Status.IMPORTING, finished_at=None
    ):
        raise ImportJobConflict(_("This import is not ready: it is being imported, or has been already."))
    _write_progress(job.pk, 0, job.rows_total)  # a sign of life until a worker starts the import


def proposal_import_job_run(*, job_id) -> ProposalImportJob:
    """Import a claimed (IMPORTING) job's file, all or nothing; every row is validated again (a district may
    have gone since the preview). The job becomes DONE in the transaction that writes the proposals, so a
    job is never imported twice: a delivery that finds it DONE, or not IMPORTING, imports nothing."""
    job = Job.objects.select_related("election", "created_by").get(pk=job_id)
    _write_progress(job.pk, 0, job.rows_total)  # a fresh sign of life for the stalled-job check
    try:
        with transaction.atomic():
            # Row lock on the job: two deliveries of the import (a worker presumed dead that is not) queue
            # here; the second sees DONE and writes nothing.
            if Job.objects.select_for_update().get(pk=job.pk).status != Job.Status.IMPORTING:
                job.refresh_from_db()
                return job
            report = proposals_import(
                actor=job.created_by,
                election=job.election,
                content=Path(job.path).read_bytes(),
                file_format=job.file_format,
                dry_run=False,
                progress=lambda done, total: _write_progress(job.pk, done, total),
            )
            _finish(
                job,
                Job.Status.IMPORTING,
                status=Job.Status.DONE,
                report=report.as_json(),
                rows_total=len(report.rows),
                imported=len(report.rows),
                summary="",
            )
    except ImportInvalid as exc:
        if exc.report is None:
            _finish(job, Job.Status.IMPORTING, status=Job.Status.FAILED, reason=exc.message)
        else:
            _finish(
                job,
                Job.Status.IMPORTING,
                status=Job.Status.INVALID,
                report=exc.report.as_json(),
                rows_total=len(exc.report.rows),
                summary=exc.report.summary()[:500],
            )
    except Exception as exc:  # nothing was written (one transaction); the file is kept for a retry
        if not isinstance(exc, DomainError):
            logger.exception("proposal import job %s: import failed", job.pk)
        _finish(job, Job.Status.IMPORTING, status=Job.Status.FAILED, reason=_failure_reason(exc))
    job.refresh_from_db()
    if job.status in (Job.Status.DONE, Job.Status.INVALID):
        _discard_file(job)
    import_progress_path(job.pk).unlink(missing_ok=True)
    return job


def proposal_import_jobs_expire_stalled(*, election: Election) -> int:
    """Mark failed, with a reason, the election's jobs waiting, checking or importing with no progress for
    PB_ROLL_JOB_STALL_SECONDS (the setting the voter-roll jobs use; pb.core.jobs.imports). Called when the
    job page is viewed. Returns how many were marked."""
    return import_jobs_expire_stalled(Job, election=election)


@transaction.atomic
def proposal_import_job_retry(*, actor, job: ProposalImportJob) -> ProposalImportJob:
    """Check a failed job's file again (the caller enqueues the check). Nothing is imported twice: a failed
    import wrote nothing, and the official confirms the new preview before anything is imported."""
    require(actor, "proposal.import", job.election)
    import_job_retry_claim(job, error=ImportJobConflict)
    audit_record(
        actor=actor, action="proposal.import_retry", election=job.election, data={"job": str(job.pk)}
    )
    job.refresh_from_db()
    return job
