"""The public verify page's checks, run by a task on the "public" queue: the page stores the upload as a
VerifyJob and redirects to its result page, which polls until a public worker (`manage.py task_worker
--queue-name=public`) has written the report. A flood of uploads waits in that queue and never delays a
count; tally.verification.limits bounds how many jobs may be queued or running at once.

The upload (the PDF and the optional published files, zipped) is kept in the database, so a worker on
another machine can read it, and is emptied when the check ends. Jobs older than KEEP are deleted, with their
reports, at each new upload.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import zipfile

from django.db import transaction
from django.tasks import TaskContext, task
from django.utils import timezone
from django.utils.translation import gettext as _

from tally.certification import signing
from tally.engine import verify as verifier
from tally.models import VerifyJob

logger = logging.getLogger(__name__)

KEEP = dt.timedelta(hours=1)  # a result page lives this long, then the job is purged
SIGNATURE_STEPS = ("council signature (Ed25519)", verifier.PDF_SIGNATURE_STEP)
_PDF = "result.pdf"  # the PDF's name in the stored zip; the files are under files/
_FILES = "files/"


def verify_bounded(pdf: bytes, public_key: bytes, files: dict[str, bytes] | None) -> verifier.Report:
    """Re-count the uploaded ballot files only for a document the council really signed: the re-count is the
    costly part, and an unsigned manifest could ask for any amount of it (a huge budget, an expensive rule).
    The signatures are checked first, without the files; the command line always does everything."""
    report = verifier.verify_pdf(pdf, public_key=public_key)
    signed = [s for s in report.steps if s.name in SIGNATURE_STEPS]
    if files is None:
        return report
    if len(signed) == len(SIGNATURE_STEPS) and all(s.status == "PASS" for s in signed):
        return verifier.verify_pdf(pdf, public_key=public_key, files=files)
    report.add("re-count", None, _("not run here: the document's signatures did not verify"))
    return report


def verify_jobs_purge() -> int:
    """Delete jobs (their uploads and reports) older than KEEP."""
    deleted, _per_model = VerifyJob.objects.filter(created_at__lt=timezone.now() - KEEP).delete()
    return deleted


def verify_job_submit(*, job: VerifyJob, pdf: bytes, files: dict[str, bytes] | None) -> VerifyJob:
    """Store the upload in the job that reserved its slot (tally.verification.limits.verify_job_reserve) and
    queue
    its check. With the ImmediateBackend the check has run when this returns."""
    job.upload = _pack(pdf, files)
    job.save(update_fields=["upload"])
    # Enqueued after the upload is committed (the page runs in autocommit): a worker never finds it empty.
    verify_job_task.enqueue(str(job.pk))
    job.refresh_from_db(fields=["status", "report", "finished_at"])
    return job


def _pack(pdf: bytes, files: dict[str, bytes] | None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(_PDF, pdf)
        for name, data in (files or {}).items():
            zf.writestr(_FILES + name, data)
    return buf.getvalue()


def _unpack(upload: bytes) -> tuple[bytes, dict[str, bytes] | None]:
    with zipfile.ZipFile(io.BytesIO(upload)) as zf:
        files = {n.removeprefix(_FILES): zf.read(n) for n in zf.namelist() if n.startswith(_FILES)}
        return zf.read(_PDF), files or None


def _finish(job_id, status: str, report: dict) -> None:
    VerifyJob.objects.filter(pk=job_id).update(
        status=status, report=report, upload=b"", finished_at=timezone.now()
    )


def verify_job_run(*, job_id: str, retry: bool = False) -> str:
    """Check a job's upload and store its report. Idempotent: a job already done (or failed) is left as it is;
    a running one is taken back only by a later attempt (`retry`: its worker died). The check writes nothing
    but the report, so running it again is harmless."""
    claimable = [VerifyJob.Status.QUEUED, VerifyJob.Status.RUNNING] if retry else [VerifyJob.Status.QUEUED]
    with transaction.atomic():
        # The conditional update is the claim: a second delivery of a finished job changes no row.
        if not VerifyJob.objects.filter(pk=job_id, status__in=claimable).update(
            status=VerifyJob.Status.RUNNING
        ):
            job = VerifyJob.objects.filter(pk=job_id).only("status").first()
            return job.status if job else "purged"
    upload = VerifyJob.objects.values_list("upload", flat=True).get(pk=job_id)
    info = signing.council_public_key()
    try:
        if info is None:
            raise RuntimeError("this site has no council key")
        pdf, files = _unpack(bytes(upload))
        report = verify_bounded(pdf, bytes.fromhex(info.raw_hex), files)
    except Exception:
        # The verifier answers FAIL with a reason for any document; this is a fault of ours (logged).
        logger.exception("verification %s could not be completed", job_id)
        _finish(job_id, VerifyJob.Status.FAILED, {"error": "internal"})
        return VerifyJob.Status.FAILED
    steps = [{"name": s.name, "status": s.status, "detail": s.detail} for s in report.steps]
    _finish(job_id, VerifyJob.Status.DONE, {"steps": steps})
    return VerifyJob.Status.DONE


def verify_job_report(job: VerifyJob) -> verifier.Report | None:
    """The stored report of a done job, as the verifier returned it (for the page's table)."""
    if job.status != VerifyJob.Status.DONE or not job.report:
        return None
    return verifier.Report(steps=[verifier.Step(**s) for s in job.report.get("steps", [])])


@task(queue_name="public", takes_context=True)
def verify_job_task(context: TaskContext, job_id: str) -> str:
    return verify_job_run(job_id=job_id, retry=context.attempt > 1)
