"""Proposal state changes. Each is atomic, checks permission first through pb.core.permissions.require,
validates everything before writing, and records an audit event in the same transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from pb.core.audit import audit_record
from pb.core.exceptions import DomainError
from pb.core.jobprogress import ProgressFiles, stall_after, stall_reason
from pb.core.models import Category, Election, Pot
from pb.core.notifications.models import NotificationKind
from pb.core.permissions import require
from proposals.exceptions import ImportInvalid, ImportJobConflict, NotAuthor, NotEditable, ProposalInvalid
from proposals.follows.models import Follow
from proposals.follows.services import followers_move, followers_notify
from proposals.images import image_for_storage
from proposals.models import Proposal, ProposalImportJob, ProposalStatus

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = (
    "title",
    "description",
    "pot",
    "category",
    "cost",
    "location",
    "latitude",
    "longitude",
    "image",
)
MAX_COST = 10**12
_CODE_RE = re.compile(r"^P(\d+)$")


def next_code(election: Election) -> str:
    """The next free public id ("P001", "P002", ...). Call with the election row locked."""
    numbers = [
        int(m.group(1))
        for code in Proposal.objects.filter(election=election).values_list("code", flat=True)
        if (m := _CODE_RE.match(code))
    ]
    return f"P{max(numbers, default=0) + 1:03d}"


def _lock_election(election: Election) -> Election:
    # Serialises code allocation: two residents submitting at once must not get the same "P017".
    return Election.objects.select_for_update().get(pk=election.pk)


def _invalid(errors: dict[str, list[str]]) -> ProposalInvalid:
    first = next(iter(errors.values()))[0] if errors else _("The proposal is not valid.")
    return ProposalInvalid(first, errors)


def _check_fields(proposal: Proposal, election: Election) -> None:
    """Domain checks the model cannot express, then the model's own validation (lengths, cost range)."""
    errors: dict[str, list[str]] = {}
    limit = Proposal._meta.get_field("description").max_length
    if len(proposal.description or "") > limit:
        # TextField.max_length is not a model validator, so the service enforces it.
        errors["description"] = [
            _("The description is too long: at most %(max)d characters (it has %(n)d).")
            % {"max": limit, "n": len(proposal.description)}
        ]
    if proposal.pot_id is not None and proposal.pot.election_id != election.pk:
        errors["pot"] = [_("This district does not belong to this election.")]
    if proposal.category_id is not None and proposal.category.election_id != election.pk:
        errors["category"] = [_("This category does not belong to this election.")]
    if not isinstance(proposal.cost, int) or isinstance(proposal.cost, bool) or proposal.cost < 1:
        errors["cost"] = [_("The estimated cost must be a positive whole number.")]
    elif proposal.cost > MAX_COST:
        errors["cost"] = [_("The estimated cost is unrealistically large.")]
    lat, lon = proposal.latitude, proposal.longitude
    if (lat is None) != (lon is None):
        errors["latitude"] = [_("Give both latitude and longitude, or neither.")]
    if lat is not None and not Decimal(-90) <= Decimal(lat) <= Decimal(90):
        errors["latitude"] = [_("Latitude must be between -90 and 90.")]
    if lon is not None and not Decimal(-180) <= Decimal(lon) <= Decimal(180):
        errors["longitude"] = [_("Longitude must be between -180 and 180.")]
    if errors:
        raise _invalid(errors)
    try:
        proposal.full_clean(exclude=["image", *errors])
    except ValidationError as exc:
        raise _invalid(exc.message_dict) from exc


def _stored_image(upload):
    try:
        return image_for_storage(upload)
    except ValidationError as exc:
        raise _invalid({"image": exc.messages}) from exc


def _ensure_author(actor, proposal: Proposal) -> None:
    if proposal.author_id is None or proposal.author_id != getattr(actor, "pk", None):
        raise NotAuthor(_("Only the author of proposal %(code)s can change it.") % {"code": proposal.code})


def _ensure_draft(proposal: Proposal) -> None:
    if proposal.status != ProposalStatus.DRAFT:
        raise NotEditable(
            _("Proposal %(code)s has been submitted and can no longer be changed.") % {"code": proposal.code}
        )


@transaction.atomic
def proposal_create(
    *,
    actor,
    election: Election,
    title: str,
    description: str,
    pot: Pot,
    cost: int,
    category: Category | None = None,
    location: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    image: Any = None,
    language: str | None = None,
    submit: bool = False,
) -> Proposal:
    """A resident's new proposal (a draft, or submitted at once with submit=True)."""
    election = _lock_election(election)
    require(actor, "proposal.submit", election)
    proposal = Proposal(
        election=election,
        author=actor,
        code=next_code(election),
        title=title,
        description=description,
        pot=pot,
        category=category,
        cost=cost,
        location=location or "",
        latitude=latitude,
        longitude=longitude,
        language=(language or translation.get_language() or "en")[:10],
        status=ProposalStatus.SUBMITTED if submit else ProposalStatus.DRAFT,
    )
    _check_fields(proposal, election)
    if image:
        proposal.image = _stored_image(image)
    proposal.save()
    Follow.objects.create(user=actor, proposal=proposal)  # authors follow their own proposals
    audit_record(
        actor=actor,
        action="proposal.create",
        election=election,
        obj=proposal,
        data={"code": proposal.code, "status": proposal.status, "cost": proposal.cost},
    )
    return proposal


@transaction.atomic
def proposal_update(*, actor, proposal: Proposal, **changes: Any) -> Proposal:
    """The author edits their draft. Accepts only EDITABLE_FIELDS."""
    proposal = Proposal.objects.select_for_update().select_related("election").get(pk=proposal.pk)
    election = proposal.election
    require(actor, "proposal.submit", election)
    _ensure_author(actor, proposal)
    _ensure_draft(proposal)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ProposalInvalid(_("These fields cannot be changed: %(f)s") % {"f": ", ".join(sorted(unknown))})
    for name, value in changes.items():
        if name == "image":
            continue  # handled after validation
        if value is None and name in ("title", "description", "location"):
            value = ""
        setattr(proposal, name, value)
    _check_fields(proposal, election)
    if changes.get("image"):
        proposal.image = _stored_image(changes["image"])
    proposal.save()
    audit_record(
        actor=actor,
        action="proposal.update",
        election=election,
        obj=proposal,
        data={"code": proposal.code, "fields": sorted(changes)},
    )
    followers_notify(proposal=proposal, kind=NotificationKind.CHANGED, actor=actor)
    return proposal


@transaction.atomic
def proposal_submit(*, actor, proposal: Proposal) -> Proposal:
    """The author hands the draft in for review; it can no longer be edited."""
    proposal = Proposal.objects.select_for_update().select_related("election").get(pk=proposal.pk)
    require(actor, "proposal.submit", proposal.election)
    _ensure_author(actor, proposal)
    _ensure_draft(proposal)
    proposal.status = ProposalStatus.SUBMITTED
    proposal.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action="proposal.submit",
        election=proposal.election,
        obj=proposal,
        data={"code": proposal.code},
    )
    return proposal


@transaction.atomic
def proposal_review(
    *,
    actor,
    proposal: Proposal,
    feasible: bool,
    reason: str = "",
    adjusted_cost: int | None = None,
    cost_note: str = "",
) -> Proposal:
    """An official's decision. Feasible proposals are the projects on the ballot."""
    proposal = Proposal.objects.select_for_update().select_related("election").get(pk=proposal.pk)
    require(actor, "proposal.review", proposal.election)
    reviewable = {ProposalStatus.SUBMITTED, ProposalStatus.FEASIBLE, ProposalStatus.NOT_FEASIBLE}
    if proposal.status not in reviewable:
        raise NotEditable(
            _("Proposal %(code)s is “%(status)s” and cannot be reviewed.")
            % {"code": proposal.code, "status": proposal.get_status_display()}
        )
    reason, cost_note = (reason or "").strip(), (cost_note or "").strip()
    errors: dict[str, list[str]] = {}
    if not feasible and not reason:
        errors["reason"] = [_("Give the public reason why this proposal is not feasible.")]
    if adjusted_cost is not None:
        if not isinstance(adjusted_cost, int) or isinstance(adjusted_cost, bool) or adjusted_cost < 1:
            errors["adjusted_cost"] = [_("The adjusted cost must be a positive whole number.")]
        elif adjusted_cost > MAX_COST:
            errors["adjusted_cost"] = [_("The adjusted cost is unrealistically large.")]
        elif not cost_note:
            errors["cost_note"] = [_("Explain the adjusted cost in a note.")]
    if len(reason) > 2000:
        errors["reason"] = [_("The reason is too long (at most 2000 characters).")]
    if len(cost_note) > 500:
        errors["cost_note"] = [_("The cost note is too long (at most 500 characters).")]
    if errors:
        raise _invalid(errors)
    proposal.status = ProposalStatus.FEASIBLE if feasible else ProposalStatus.NOT_FEASIBLE
    proposal.review_reason = reason
    proposal.adjusted_cost = adjusted_cost
    proposal.cost_note = cost_note if adjusted_cost is not None else ""
    proposal.save(update_fields=["status", "review_reason", "adjusted_cost", "cost_note", "updated_at"])
    audit_record(
        actor=actor,
        action="proposal.review",
        election=proposal.election,
        obj=proposal,
        data={
            "code": proposal.code,
            "status": proposal.status,
            "reason": reason,
            "adjusted_cost": adjusted_cost,
            "cost_note": proposal.cost_note,
        },
    )
    followers_notify(
        proposal=proposal, kind=NotificationKind.REVIEWED, actor=actor, feasible=feasible, reason=reason
    )
    return proposal


@transaction.atomic
def proposal_merge(*, actor, duplicate: Proposal, keep: Proposal, reason: str = "") -> Proposal:
    """Mark `duplicate` as merged into `keep`; proposals merged earlier into the duplicate follow it."""
    duplicate = Proposal.objects.select_for_update().select_related("election").get(pk=duplicate.pk)
    keep = Proposal.objects.select_for_update().get(pk=keep.pk)
    require(actor, "proposal.merge", duplicate.election)
    if keep.pk == duplicate.pk:
        raise ProposalInvalid(
            _("A proposal cannot be merged into itself."), {"keep": [_("Choose another one.")]}
        )
    if keep.election_id != duplicate.election_id:
        raise ProposalInvalid(_("Both proposals must belong to the same election."))
    if keep.status in (ProposalStatus.MERGED, ProposalStatus.DRAFT):
        raise ProposalInvalid(
            _("Proposal %(code)s is “%(status)s”: merge into a submitted proposal.")
            % {"code": keep.code, "status": keep.get_status_display()},
            {"keep": [_("Choose a submitted proposal.")]},
        )
    if duplicate.status in (ProposalStatus.MERGED, ProposalStatus.DRAFT):
        raise NotEditable(
            _("Proposal %(code)s is “%(status)s” and cannot be merged.")
            % {"code": duplicate.code, "status": duplicate.get_status_display()}
        )
    followers = list(Proposal.objects.filter(merged_into=duplicate).values_list("code", flat=True))
    Proposal.objects.filter(merged_into=duplicate).update(merged_into=keep)
    duplicate.status = ProposalStatus.MERGED
    duplicate.merged_into = keep
    duplicate.review_reason = (reason or "").strip()[:2000]
    duplicate.save(update_fields=["status", "merged_into", "review_reason", "updated_at"])
    audit_record(
        actor=actor,
        action="proposal.merge",
        election=duplicate.election,
        obj=duplicate,
        data={"code": duplicate.code, "into": keep.code, "followers": followers},
    )
    followers_notify(proposal=duplicate, kind=NotificationKind.MERGED, actor=actor, into=keep.code)
    followers_move(duplicate=duplicate, keep=keep)
    return duplicate


@transaction.atomic
def proposals_import(
    *, actor, election: Election, content: bytes, file_format: str, dry_run: bool, progress=None
):
    """Import proposals from a CSV/XLSX file. All rows or none: any invalid row raises ImportInvalid with
    the report of every row, and the transaction leaves nothing behind. Returns the ImportReport.
    `progress(done, total)`: called as rows are processed (ProposalImportJob's progress file)."""
    from proposals.resources import run_import  # import-export is only needed here

    election = _lock_election(election)
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
    from proposals.resources import export_bytes

    require(actor, "proposal.export", election)
    data = export_bytes(election=election, file_format=file_format)
    audit_record(
        actor=actor,
        action="proposal.export",
        election=election,
        data={"format": file_format, "sha256": hashlib.sha256(data).hexdigest()},
    )
    return data


# --- Import jobs (background check and import; proposals.tasks) ------------------------------------------

Job = ProposalImportJob
RUNNING_STATUSES = (Job.Status.UPLOADED, Job.Status.VALIDATING, Job.Status.IMPORTING)


# {"done": rows processed, "total": rows in the file} of a running job (empty if none yet).
PROGRESS = ProgressFiles("imports")
import_progress_path = PROGRESS.path
import_job_progress = PROGRESS.read


def _write_progress(job_id, done: int, total: int) -> None:
    PROGRESS.write(job_id, done=done, total=total)


def _discard_file(job: ProposalImportJob) -> None:
    if job.path:
        Path(job.path).unlink(missing_ok=True)
        Job.objects.filter(pk=job.pk).update(path="")
        job.path = ""
    import_progress_path(job.pk).unlink(missing_ok=True)


def _discard_stale_uploads(max_age: dt.timedelta = dt.timedelta(days=1)) -> None:
    """Previews never confirmed: their files go after a day."""
    for job in Job.objects.exclude(path="").filter(created_at__lt=timezone.now() - max_age):
        _discard_file(job)


@transaction.atomic
def proposal_import_job_create(*, actor, election: Election, uploaded) -> ProposalImportJob:
    """Store an uploaded proposal file and open an import job for it (the caller enqueues the check)."""
    require(actor, "proposal.import", election)
    _discard_stale_uploads()
    name = Path(uploaded.name).name
    file_format = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if file_format not in ("csv", "xlsx"):
        raise ImportInvalid(_("Upload a .csv or .xlsx file."))
    job_id = uuid.uuid4()
    dest = PROGRESS.directory() / f"{job_id}.{file_format}"
    with open(dest, "wb") as fh:
        for chunk in uploaded.chunks():
            fh.write(chunk)
    dest.chmod(0o600)
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
    PB_ROLL_JOB_STALL_SECONDS (the setting the voter-roll jobs use: the worker died, or the server restarted
    mid-job). Called when the job page is viewed. The file is kept, so the job can be retried; nothing was
    imported (an import is one transaction). Returns how many were marked."""
    stall = stall_after()
    now = timezone.now()
    marked = 0
    for job in Job.objects.filter(election=election, status__in=RUNNING_STATUSES):
        if now - PROGRESS.last_sign_of_life(job.pk, job.created_at) < stall:
            continue
        reason = stall_reason(importing=job.status == Job.Status.IMPORTING, stall=stall)
        # Conditional update: a worker that finishes meanwhile, or another page view, wins or loses cleanly
        # (an import holds the job's row lock until it commits DONE).
        marked += _finish(job, job.status, status=Job.Status.FAILED, reason=reason, finished_at=now)
        import_progress_path(job.pk).unlink(missing_ok=True)
    return marked


def proposal_import_job_retryable(job: ProposalImportJob) -> bool:
    return job.status == Job.Status.FAILED and bool(job.path) and Path(job.path).exists()


@transaction.atomic
def proposal_import_job_retry(*, actor, job: ProposalImportJob) -> ProposalImportJob:
    """Check a failed job's file again (the caller enqueues the check). Nothing is imported twice: a failed
    import wrote nothing, and the official confirms the new preview before anything is imported."""
    require(actor, "proposal.import", job.election)
    if not proposal_import_job_retryable(job):
        raise ImportJobConflict(_("This import cannot be retried: upload the file again."))
    if not Job.objects.filter(pk=job.pk, status=Job.Status.FAILED).update(
        status=Job.Status.UPLOADED, reason="", report={}, summary="", finished_at=None
    ):
        raise ImportJobConflict(_("This import is already being retried."))
    _write_progress(job.pk, 0, 0)  # a fresh sign of life until the check starts
    audit_record(
        actor=actor, action="proposal.import_retry", election=job.election, data={"job": str(job.pk)}
    )
    job.refresh_from_db()
    return job
