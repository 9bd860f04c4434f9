"""Long jobs started from a page, run by a task worker, watched on one page (pb.core.views.job_detail).

A kind of job is registered at start-up by the app that does the work (tally.jobs, from TallyConfig.ready),
since pb.core must not import it: its permission, a `precheck` that refuses at once what would fail anyway
(run in the request, so "already certified" is still a 409 on the page that asked), the work itself (`run`),
and where its result is shown.

`job_start` records a Job and enqueues `job_run_task` in the same transaction (django-tasks-db writes the task
row in it; the immediate backend of the tests runs it there and then). The task claims the job with a
conditional update, so a task delivered twice runs the work once; a task re-queued after its worker died
(pb.worker.lease, attempt > 1) takes the job back. The work and the job's "done" commit in one transaction,
and each kind's `run` re-checks the state under the election's row lock and finishes as a no-op when the work
is already there (a certification, a sign-off, a publication): a retry or a crash never does it twice.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, connections, transaction
from django.tasks import TaskContext, task
from django.utils import timezone
from django.utils.translation import gettext as _

from pb.core.audit import audit_record
from pb.core.exceptions import DomainError, PermissionDenied, PhaseError
from pb.core.models import Election, Job
from pb.core.permissions import is_council, is_official, require

logger = logging.getLogger("pb.jobs")


@dataclass(frozen=True)
class JobKind:
    kind: str
    label: Callable[[], str]  # what the job page calls it ("Certification"), translated when shown
    permission: str  # pb.core.permissions action needed to start or retry it
    run: Callable[[Job, Callable[..., None]], dict[str, Any]]  # (job, progress) -> result reference
    precheck: Callable[..., None] = lambda *, actor, election: None  # raises DomainError
    result_url: Callable[[Job], str] = lambda job: ""
    result_text: Callable[[Job], str] = lambda job: ""
    personal: bool = False  # one active job per official (a sign-off), else one per election
    extra: dict[str, Any] = field(default_factory=dict)


KINDS: dict[str, JobKind] = {}


def job_kind_register(kind: JobKind) -> None:
    KINDS[kind.kind] = kind


def job_kind(job: Job) -> JobKind:
    try:
        return KINDS[job.kind]
    except KeyError:
        raise DomainError(_("This kind of job is not known to this server.")) from None


class JobAlreadyActive(PhaseError):
    """Raised inside job_start's savepoint when the unique index on active jobs refuses a second one."""


def _active_key(kind: JobKind, election: Election, actor) -> str:
    return f"{kind.kind}:{election.pk}" + (f":{actor.pk}" if kind.personal else "")


@transaction.atomic
def job_start(*, actor, election: Election, kind: str, prepare: Callable[[Job], None] | None = None) -> Job:
    """Start a job of `kind` on `election`, or return the one of that kind already queued or running (a double
    click, two council members at once). The kind's precheck runs first, under the election's row lock.
    `prepare(job)` runs for a new job only, before its task is queued: where a kind records the job's
    arguments (rows of its own app, e.g. ballots.roll.letters), in the same transaction."""
    spec = KINDS[kind]
    election = Election.objects.select_for_update().get(pk=election.pk)
    # The precheck first: a second certification is told who certified, not that the phase has moved on.
    spec.precheck(actor=actor, election=election)
    require(actor, spec.permission, election)
    key = _active_key(spec, election, actor)
    existing = Job.objects.filter(active_key=key, status__in=Job.ACTIVE).first()
    if existing is not None:
        return existing
    now = timezone.now()
    job = Job(
        kind=kind,
        election=election,
        active_key=key,
        started_by=actor,
        phase=_("Waiting for a worker"),
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():  # the partial unique index is the last word if the look above raced
            job.save(force_insert=True)
    except IntegrityError:
        return Job.objects.get(active_key=key, status__in=Job.ACTIVE)
    audit_record(actor=actor, action="job.started", election=election, obj=job, data={"kind": kind})
    if prepare is not None:
        prepare(job)
    _enqueue(job)
    return job


def _enqueue(job: Job) -> None:
    # In this transaction: django-tasks-db writes the task row in it (a worker sees the job and its task
    # together, or neither); the immediate backend runs the job here, under the caller's lock.
    job_run_task.enqueue(str(job.pk))
    job.refresh_from_db()


@transaction.atomic
def job_retry(*, actor, job_id: uuid.UUID | str) -> Job:
    """Queue a failed job again. Allowed to whoever may start that kind of job on its election (a personal
    job, such as a sign-off, only to the official who started it); the precheck runs again."""
    job = Job.objects.select_related("election").get(pk=job_id)
    spec = job_kind(job)
    if job.status != Job.Status.FAILED:  # said first: once done, the phase has moved on and refuses too
        raise PhaseError(_("Only a failed job can be retried."))
    require(actor, spec.permission, job.election)
    if spec.personal and job.started_by_id != actor.pk:
        raise PermissionDenied(_("Only the official who started this job can retry it."))
    election = Election.objects.select_for_update().get(pk=job.election_id)
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status != Job.Status.FAILED:
        raise PhaseError(_("Only a failed job can be retried."))
    spec.precheck(actor=actor, election=election)
    if Job.objects.filter(active_key=job.active_key, status__in=Job.ACTIVE).exists():
        raise PhaseError(_("The same job is already running: follow it instead."))
    failure = job.failure
    job.status, job.failure, job.done, job.total = Job.Status.QUEUED, "", 0, 0
    job.phase, job.started_by, job.retries = _("Waiting for a worker"), actor, job.retries + 1
    job.started_at = job.finished_at = None
    job.updated_at = timezone.now()
    job.save()
    audit_record(
        actor=actor,
        action="job.retried",
        election=election,
        obj=job,
        data={"kind": job.kind, "retries": job.retries, "failure": failure[:500]},
    )
    _enqueue(job)
    return job


def job_can_view(user, job: Job) -> bool:
    """The election's officials and council see its jobs (and whoever started one)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if job.started_by_id == user.pk:
        return True
    return job.election is not None and (is_official(user, job.election) or is_council(user, job.election))


# --- Progress ----------------------------------------------------------------------------------------------


_side = threading.local()  # a connection belongs to one thread


def _progress_connection():
    """A second connection of the worker's own, in autocommit: the work runs in one transaction, and the page
    (another process) must see its progress before that commits. PostgreSQL only: SQLite has one writer."""
    conn = getattr(_side, "conn", None)
    if conn is None:
        conn = connections.create_connection("default")
        with conn.cursor() as cursor:
            # The job's row may be locked by the work's own transaction (a retry run by the immediate
            # backend updated it): give up at once rather than wait for a transaction that waits for us.
            cursor.execute("SET lock_timeout = '200ms'")
        _side.conn = conn
    return conn


def _progress_connection_close() -> None:
    conn = getattr(_side, "conn", None)
    if conn is not None:
        _side.conn = None
        conn.close()


def job_progress(job: Job, *, phase: str, done: int | None = None, total: int | None = None) -> None:
    """Record where a job is (best effort: progress never fails the job it reports on)."""
    values: dict[str, Any] = {"phase": str(phase)[:200], "updated_at": timezone.now()}
    if done is not None:
        values["done"] = max(0, done)
    if total is not None:
        values["total"] = max(0, total)
    for k, v in values.items():
        setattr(job, k, v)
    if not connection.in_atomic_block or connection.vendor != "postgresql":
        Job.objects.filter(pk=job.pk).update(**values)
        return
    try:
        side = _progress_connection()
        with side.cursor() as cursor:
            sets = ", ".join(f'"{k}" = %s' for k in values)
            cursor.execute(
                f'UPDATE "{Job._meta.db_table}" SET {sets} WHERE "id" = %s',  # noqa: S608 (our own names)
                [*values.values(), job.pk],
            )
            seen = cursor.rowcount
    except Exception:
        logger.info("job %s: progress recorded in the job's own transaction", job.pk, exc_info=True)
        seen = 0
    if not seen:  # the row is not committed yet (the immediate backend, in the request that made it)
        Job.objects.filter(pk=job.pk).update(**values)


# --- The task ----------------------------------------------------------------------------------------------


def _fail(job: Job, reason: str) -> None:
    now = timezone.now()
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.FAILED, failure=reason, finished_at=now, updated_at=now
    )


@task(queue_name="default", takes_context=True)
def job_run_task(context: TaskContext, job_id: str) -> None:
    job_run(job_id=job_id, taken_back=context.attempt > 1)


def job_run(*, job_id: str, taken_back: bool = False) -> Job | None:
    """Claim the job, run its work, record done or failed. `taken_back`: the worker that claimed it died
    (pb.worker.lease queued its task again), so a running job is ours now."""
    now = timezone.now()
    claimable = [Job.Status.QUEUED, Job.Status.RUNNING] if taken_back else [Job.Status.QUEUED]
    claimed = Job.objects.filter(pk=job_id, status__in=claimable).update(
        status=Job.Status.RUNNING, started_at=now, updated_at=now, phase=_("Starting")
    )
    job = Job.objects.select_related("election", "started_by").filter(pk=job_id).first()
    if not claimed or job is None:
        return job  # done, failed, or running under a live worker: a duplicate delivery does nothing
    try:
        spec = job_kind(job)
        with transaction.atomic():
            result = spec.run(job, lambda **kw: job_progress(job, **kw))
            now = timezone.now()
            Job.objects.filter(pk=job.pk).update(
                status=Job.Status.DONE,
                result=result or {},
                phase="",
                done=job.total,
                total=job.total,
                finished_at=now,
                updated_at=now,
            )
    except DomainError as exc:
        _fail(job, exc.message)
    except Exception as exc:
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        _fail(
            job,
            _(
                "The server could not finish this job (%(error)s). Nothing was changed. Retry it; if it "
                "fails again, give the administrator this job's number."
            )
            % {"error": type(exc).__name__},
        )
        raise
    finally:
        _progress_connection_close()
    job.refresh_from_db()
    return job
