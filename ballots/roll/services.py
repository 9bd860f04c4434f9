"""Services of the voter roll: import (the all-or-nothing service and the import jobs) and the snapshot taken
when voting opens. Identification is in ballots.roll.identification, voting codes in ballots.roll.codes.

Each writes inside one transaction, checks permission first (officials) and records an audit event.
Identification events hold the method and the roll entry id only, never anything about a ballot.
"""

from __future__ import annotations

import logging
import uuid
import zipfile
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.exceptions import RollError
from ballots.models import (
    ImportJob,
    RollSnapshot,
)
from ballots.roll import entries as roll
from pb.core.audit import audit_record
from pb.core.exceptions import DomainError
from pb.core.jobs.imports import (
    import_job_retry_claim,
    import_jobs_expire_stalled,
    import_upload_store,
    import_uploads_discard_stale,
)
from pb.core.models import Election, Phase
from pb.core.permissions import require

logger = logging.getLogger(__name__)

# --- Voter roll import --------------------------------------------------------------------------------------


# Rows between two progress reports (and per COPY/INSERT batch) of an import: a million-row import moves
# the job page's bar 100 times per phase. The report is a small file written outside the import's
# transaction (_write_progress), so other processes see it while the rows are still uncommitted.
PROGRESS_EVERY = 10_000


def _lock_roll(actor, election: Election) -> Election:
    # Row lock on the election: imports queue behind each other and behind a phase change, so the roll
    # cannot change while voting opens (election_advance takes the same lock). The permission is checked
    # on the locked, fresh row: the phase may have moved since the caller loaded it.
    election = Election.objects.select_for_update().get(pk=election.pk)
    require(actor, "roll.import", election)
    if RollSnapshot.objects.filter(election=election).exists():
        raise RollError(_("The voter roll is frozen: voting has opened, so it can no longer change."))
    return election


@transaction.atomic
def roll_import(
    *, actor, election: Election, path: str | Path, dry_run: bool = False, progress=None
) -> roll.ImportReport:
    """Check a CSV/XLSX roll file and, unless `dry_run`, add every row to the roll, all or nothing.

    Raises RollError for a file that cannot be read (missing columns). Row errors are in the report; if any
    row has one, nothing is written.
    """
    election = _lock_roll(actor, election)
    try:
        cols, problems, rows = roll.open_roll_file(path)
    except UnicodeDecodeError as exc:
        raise RollError(_("The file is not UTF-8 text: save it as “CSV UTF-8”.")) from exc
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise RollError(_("The file cannot be read as CSV or XLSX: %(error)s") % {"error": exc}) from exc
    except Exception as exc:  # openpyxl/tablib raise many kinds for a file that is not a workbook
        raise RollError(
            _("The file cannot be read as XLSX (%(error)s): save it again from your spreadsheet program.")
            % {"error": type(exc).__name__}
        ) from exc
    if problems:
        raise RollError(" ".join(problems))
    try:
        report = roll.import_rows(
            election, cols, rows, dry_run=dry_run, progress=progress, chunk=PROGRESS_EVERY
        )
    except UnicodeDecodeError as exc:
        raise RollError(_("The file is not UTF-8 text: save it as “CSV UTF-8”.")) from exc
    except ValueError as exc:  # a line the CSV reader cannot read (roll.read_csv names it)
        raise RollError(str(exc)) from exc
    if not dry_run and report.imported:
        audit_record(
            actor=actor,
            action="roll.import",
            election=election,
            data={"rows": report.rows, "imported": report.imported, "file": Path(path).name[-80:]},
        )
    return report


PROGRESS = ImportJob.progress
progress_path = PROGRESS.path
_write_progress = PROGRESS.write


@transaction.atomic
def roll_job_create(*, actor, election: Election, uploaded, job_id: uuid.UUID | None = None) -> ImportJob:
    """Store an uploaded roll file until it is imported (or dropped) and open an import job for it.

    `job_id`: the id the upload page chose (to poll the progress of the check); a new one if taken."""
    _lock_roll(actor, election)
    import_uploads_discard_stale(ImportJob)  # previews never confirmed: personal data in clear
    name = Path(uploaded.name).name
    suffix = ".xlsx" if name.lower().endswith(".xlsx") else ".csv"
    if job_id is None or ImportJob.objects.filter(pk=job_id).exists():
        job_id = uuid.uuid4()
    dest = import_upload_store(ImportJob, job_id=job_id, suffix=suffix, uploaded=uploaded)
    return ImportJob.objects.create(
        id=job_id, election=election, created_by=actor, filename=name[:200], path=str(dest)
    )


def _run_job(job: ImportJob, *, dry_run: bool) -> ImportJob:
    """Check (dry run) or import the job's file, recording status, errors and progress on the job."""
    total = roll.count_lines(job.path) - 1 if job.path.endswith(".csv") else 0
    job.status = ImportJob.Status.VALIDATING if dry_run else ImportJob.Status.IMPORTING
    job.save(update_fields=["status"])
    _write_progress(job.pk, phase="checking", done=0, total=total)
    try:
        report = roll_import(
            actor=job.created_by,
            election=job.election,
            path=job.path,
            dry_run=dry_run,
            progress=lambda phase, n: _write_progress(job.pk, phase=phase, done=n, total=max(total, n)),
        )
    except DomainError as exc:
        job.status = ImportJob.Status.FAILED
        job.errors = [{"row": 0, "column": "", "message": exc.message}]
        job.error_count = 1
    except Exception:  # a crash must not leave the page polling forever; nothing was written (atomic)
        logger.exception("roll import job %s failed", job.pk)
        job.status = ImportJob.Status.FAILED
        job.errors = [
            {"row": 0, "column": "", "message": _("The import failed unexpectedly; nothing was imported.")}
        ]
        job.error_count = 1
    else:
        job.rows_total = report.rows
        job.error_count = report.error_count
        job.errors = [{"row": e.row, "column": e.column, "message": e.message} for e in report.errors]
        job.seconds = round(report.seconds, 2)
        job.imported = report.imported
        if report.error_count or report.rows == 0:
            job.status = ImportJob.Status.INVALID
            if report.rows == 0:
                job.errors = [{"row": 0, "column": "", "message": _("The file has no voter rows.")}]
                job.error_count = 1
        else:
            job.status = ImportJob.Status.READY if dry_run else ImportJob.Status.DONE
    job.finished_at = timezone.now()
    job.save()
    progress_path(job.pk).unlink(missing_ok=True)
    if job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED, ImportJob.Status.INVALID):
        roll_job_discard_file(job)
    return job


def roll_job_check(*, job_id) -> ImportJob:
    """Preview: validate the job's file without writing; status READY or INVALID (with row errors)."""
    return _run_job(ImportJob.objects.select_related("election", "created_by").get(pk=job_id), dry_run=True)


def roll_job_run(*, job_id) -> ImportJob:
    """Import the checked job's file (validated again: the roll may have changed since the preview)."""
    job = ImportJob.objects.select_related("election", "created_by").get(pk=job_id)
    # Claim the job: a second confirm, or the task run by two workers, must not import again.
    if not ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.READY).update(
        status=ImportJob.Status.IMPORTING
    ):
        raise RollError(_("This import is not ready: check the file first."))
    return _run_job(job, dry_run=False)


def roll_job_discard_file(job: ImportJob) -> None:
    """Delete the uploaded file: it holds personal data in clear."""
    job.discard_file()


# --- Stalled jobs -------------------------------------------------------------------------------------------


def roll_jobs_expire_stalled(*, election: Election) -> int:
    """Mark failed, with a reason an official can act on, the election's jobs that are waiting, checking or
    importing with no progress for PB_ROLL_JOB_STALL_SECONDS (pb.core.jobs.imports). Called when the roll or
    the job page is viewed. Returns how many were marked."""
    return import_jobs_expire_stalled(ImportJob, election=election)


@transaction.atomic
def roll_job_retry(*, actor, job: ImportJob) -> ImportJob:
    """Check a failed job's file again (the caller enqueues the check). Idempotent: the check writes nothing,
    and the import that may follow is all or nothing and refuses references already on the roll."""
    _lock_roll(actor, job.election)
    import_job_retry_claim(job, error=RollError)
    audit_record(actor=actor, action="roll.job_retry", election=job.election, data={"job": str(job.pk)})
    job.refresh_from_db()
    return job


# --- Snapshot when voting opens ----------------------------------------------------------------------------


@transaction.atomic
def roll_snapshot(*, actor, election: Election) -> RollSnapshot:
    """Freeze the roll: count and SHA-256 (format: ballots.roll.entries.roll_digest). Called by the phase hook
    inside election_advance (which checked the permission and holds the election's row lock)."""
    entries, digest = roll.roll_digest(election)
    snap, _created = RollSnapshot.objects.update_or_create(
        election=election, defaults={"entries": entries, "sha256": digest, "taken_at": timezone.now()}
    )
    audit_record(
        actor=actor,
        action="roll.snapshot",
        election=election,
        obj=snap,
        data={"entries": entries, "sha256": digest},
    )
    return snap


def roll_snapshot_hook(*, election: Election, actor, to_phase: str) -> None:
    """PHASE_HOOK: snapshot the roll when voting opens."""
    if to_phase == Phase.VOTING_OPEN:
        roll_snapshot(actor=actor, election=election)
