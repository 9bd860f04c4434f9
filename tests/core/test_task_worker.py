"""Background work on the database queue (django-tasks-db) run by the real worker, `manage.py task_worker`.

In-process (SQLite and PostgreSQL): the worker's loop runs an official count and re-runs a task whose worker
died. As subprocesses (PostgreSQL: the test database is a real one they can reach): a count and a roll import
enqueued by the services, a worker killed in the middle of each, another worker that finishes each exactly
once. Also: production settings use the database backend, and /healthz."""

import csv
import datetime as dt
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import OperationalError, connection
from django.tasks import TaskResultStatus
from django.test import TestCase
from django.utils import timezone
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from ballots.models import ImportJob, VoterRollEntry
from ballots.roll import services as services_roll
from ballots.roll.tasks import roll_job_check_task, roll_job_import_task
from pb.core.models import AuditEvent, Election, Phase
from pb.worker import lease
from pb.worker.models import WorkerHeartbeat
from tally.counting import tally_run_task, tally_start
from tally.models import RunStatus, TallyRun
from tests.factories import ElectionFactory, PotFactory, official
from tests.tally.conftest import World, keys  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
DATABASE_BACKEND = "django_tasks_db.DatabaseBackend"
WORKER = [sys.executable, "manage.py", "task_worker"]


@pytest.fixture
def database_tasks(settings):
    """Undo tests/conftest.py's ImmediateBackend: jobs wait in the queue for a worker."""
    settings.TASKS = {"default": {**settings.TASKS["default"], "BACKEND": DATABASE_BACKEND}}


def _wait(condition, *, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    """The worker loop closes stale connections between tasks; in this process that would close the test's
    transaction (the subprocess tests below run the loop untouched)."""
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)


def _run_worker_in_process() -> None:
    """The real worker loop in this process: every queued task, then exit."""
    call_command("task_worker", "--batch", "--no-startup-delay", "--queue-name=default", verbosity=0)


# --- Settings -----------------------------------------------------------------------------------------------


def _settings_in_subprocess(**env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "PB_TASKS_BACKEND"}
    code = "from django.conf import settings; print(settings.TASKS['default']['BACKEND'])"
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**base, "DJANGO_SETTINGS_MODULE": "pb.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_use_the_database_backend():
    proc = _settings_in_subprocess(DJANGO_SECRET_KEY="x" * 50, DJANGO_DEBUG="0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == DATABASE_BACKEND
    proc = _settings_in_subprocess(PB_TASKS_BACKEND="immediate")
    assert proc.stdout.strip() == "django.tasks.backends.immediate.ImmediateBackend"
    proc = _settings_in_subprocess(PB_TASKS_BACKEND="celery")
    assert proc.returncode != 0
    assert "PB_TASKS_BACKEND must be one of" in proc.stderr


def test_tasks_choose_their_queue():
    assert tally_run_task.queue_name == "default"
    assert roll_job_check_task.queue_name == "default"
    assert roll_job_import_task.queue_name == "default"


# --- /healthz -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_health_ok_with_an_empty_queue(client, database_tasks):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["tasks"]["backend"] == "database"
    assert body["tasks"]["oldest_queued_seconds"] == 0
    assert set(body["tasks"]["queues"]) == {"default", "public"}
    assert "no-cache" in r["Cache-Control"]


@pytest.mark.django_db
def test_health_503_when_a_queued_task_is_older_than_the_limit(client, database_tasks, settings):
    settings.PB_HEALTH_MAX_QUEUE_AGE = 300
    result = roll_job_check_task.enqueue(str(uuid.uuid4()))
    fresh = client.get("/healthz")
    assert fresh.status_code == 200
    assert fresh.json()["tasks"]["queues"]["default"]["queued"] == 1
    DBTaskResult.objects.filter(pk=result.id).update(enqueued_at=timezone.now() - dt.timedelta(seconds=301))
    r = client.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "queue_stalled"
    assert body["database"] == "ok"
    assert body["tasks"]["queues"]["default"]["oldest_queued_seconds"] >= 301
    assert body["tasks"]["queues"]["public"] == {"queued": 0, "oldest_queued_seconds": 0}
    # The load balancer's variant checks only what differs between app servers: the database.
    routing = client.get("/healthz?check=database")
    assert routing.status_code == 200
    assert routing.json() == {"status": "ok", "database": "ok"}
    # A running task is not waiting: only queued ones count.
    DBTaskResult.objects.filter(pk=result.id).update(status=TaskResultStatus.RUNNING)
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_health_503_when_the_database_is_down(client, database_tasks):
    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(refuse):
        r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "database_unreachable", "database": "unreachable"}
    with connection.execute_wrapper(refuse):
        assert client.get("/healthz?check=database").status_code == 503


@pytest.mark.django_db
def test_health_with_the_immediate_backend(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["tasks"] == {"backend": "immediate"}


# --- The worker loop, in this process -----------------------------------------------------------------------


def _closed_world() -> World:
    world = World(n_online=30, n_paper=4)
    world.close()
    return world


@pytest.mark.usefixtures("keys")
def test_worker_runs_the_official_count(db, database_tasks):
    world = _closed_world()
    with TestCase.captureOnCommitCallbacks(execute=True):
        run = tally_start(actor=world.o1, election=world.election)
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING  # queued, not run by the request
    task = DBTaskResult.objects.get()
    assert (task.queue_name, task.status) == ("default", TaskResultStatus.READY)
    _run_worker_in_process()
    run.refresh_from_db()
    task.refresh_from_db()
    assert run.status == RunStatus.DONE, run.error
    assert task.status == TaskResultStatus.SUCCESSFUL
    assert Election.objects.get(pk=world.election.pk).phase == Phase.TALLIED
    assert not WorkerHeartbeat.objects.exists()  # the worker said goodbye


@pytest.mark.usefixtures("keys")
def test_a_dead_workers_task_runs_again_once(db, database_tasks, settings):
    """A task claimed by a worker that no longer beats is queued again; the new attempt takes the run back
    and counts it; a worker that still beats keeps its task."""
    world = _closed_world()
    with TestCase.captureOnCommitCallbacks(execute=True):
        run = tally_start(actor=world.o1, election=world.election)
    # What a worker killed mid-count leaves: the task and the run both claimed.
    DBTaskResult.objects.update(
        status=TaskResultStatus.RUNNING, worker_ids=["gone"], started_at=timezone.now()
    )
    TallyRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, progress="Counting")
    lease.worker_register(worker_id="gone", queues="default")
    assert lease.tasks_requeue_lost() == 0  # it beat just now: alive
    silent = timezone.now() - dt.timedelta(seconds=settings.PB_WORKER_LOST_SECONDS + 1)
    WorkerHeartbeat.objects.update(beat_at=silent)
    assert lease.tasks_requeue_lost() == 0  # silent, but its process on this machine is alive
    WorkerHeartbeat.objects.update(pid=2**22 + 1)  # above Linux's pid_max: no such process
    assert lease.tasks_requeue_lost() == 1
    assert lease.tasks_requeue_lost() == 0
    _run_worker_in_process()
    task = DBTaskResult.objects.get()
    assert task.status == TaskResultStatus.SUCCESSFUL
    assert len(task.worker_ids) == 2
    run.refresh_from_db()
    assert run.status == RunStatus.DONE, run.error
    assert AuditEvent.objects.filter(action="tally.run_done").count() == 1


@pytest.mark.usefixtures("keys")
def test_a_task_delivered_again_after_the_run_finished_counts_nothing(db, database_tasks):
    world = _closed_world()
    with TestCase.captureOnCommitCallbacks(execute=True):
        run = tally_start(actor=world.o1, election=world.election)
    _run_worker_in_process()
    # The worker died between our commit and its own: the task comes back as a second attempt.
    DBTaskResult.objects.update(status=TaskResultStatus.READY, worker_ids=["gone"])
    _run_worker_in_process()
    assert DBTaskResult.objects.get().status == TaskResultStatus.SUCCESSFUL
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert AuditEvent.objects.filter(action="tally.run_done").count() == 1


# --- Worker processes (PostgreSQL) --------------------------------------------------------------------------


class Workers:
    """`manage.py task_worker` subprocesses on the test database."""

    def __init__(self, tmp_path: Path, settings) -> None:
        db = connection.settings_dict
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
        self.dsn = f"{url}/{db['NAME']}"
        self.settings = settings
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def env(self) -> dict:
        """The test's settings as the environment the worker's settings are read from."""
        s = self.settings
        return {
            **os.environ,
            "DATABASE_URL": self.dsn,
            "DJANGO_SECRET_KEY": s.SECRET_KEY,
            "DJANGO_DEBUG": "0",
            "PB_HMAC_KEY": s.PB_HMAC_KEY,
            "PB_ANONYMITY_K": str(s.PB_ANONYMITY_K),
            "PB_VAR_DIR": str(s.PB_VAR_DIR),
            "PB_AUDIT_KEY_FILE": s.PB_AUDIT_KEY_FILE,
            "PB_SIGNING_KEY_FILE": s.PB_SIGNING_KEY_FILE,
            "PB_TASKS_BACKEND": "database",
            "PB_WORKER_LOST_SECONDS": "3",
        }

    def start(self) -> subprocess.Popen:
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "w")  # noqa: SIM115 (closed with the test)
        proc = subprocess.Popen(
            [*WORKER, "--queue-name=default", "--interval=0.1", "--no-startup-delay", "--verbosity=2"],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp_path.glob("worker-*.log")))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def lock_waits(self) -> int:
        """Backends of this test database waiting for a row lock."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0]


@pytest.fixture
def workers(transactional_db, database_tasks, settings, tmp_path):
    w = Workers(tmp_path, settings)
    yield w
    w.stop()


class ElectionLock:
    """Holds the election's row lock from another connection, as a long phase change would: a job that needs
    it waits there, which is where the test kills its worker."""

    def __init__(self, dsn: str, election_pk: int) -> None:
        self.conn = psycopg.connect(dsn)
        sql = f'SELECT id FROM "{Election._meta.db_table}" WHERE id = %s FOR UPDATE'  # noqa: S608
        self.conn.execute(sql, [election_pk])

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def _kill_while_waiting(workers: Workers, task_id) -> subprocess.Popen:
    first = workers.start()
    _wait(
        lambda: DBTaskResult.objects.filter(pk=task_id, status=TaskResultStatus.RUNNING).exists(),
        what="the first worker to claim the task",
    )
    _wait(lambda: workers.lock_waits() >= 1, what="the task to wait for the election's lock")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    return first


@pytest.mark.postgres
@pytest.mark.usefixtures("keys")
def test_worker_process_counts_killed_mid_count_another_finishes_once(workers):
    world = _closed_world()
    run = tally_start(actor=world.o1, election=world.election)  # enqueued on commit
    task_id = DBTaskResult.objects.get().pk
    lock = ElectionLock(workers.dsn, world.election.pk)
    try:
        _kill_while_waiting(workers, task_id)
        assert TallyRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
    finally:
        lock.release()
    workers.start()
    _wait(
        lambda: TallyRun.objects.filter(pk=run.pk, status__in=[RunStatus.DONE, RunStatus.FAILED]).exists(),
        timeout=90,
        what="the second worker to finish the count",
    )
    run.refresh_from_db()
    assert run.status == RunStatus.DONE, run.error + workers.logs()
    task = _wait(
        lambda: DBTaskResult.objects.filter(pk=task_id, status=TaskResultStatus.SUCCESSFUL).first(),
        what="the task's success",
    )
    assert len(task.worker_ids) == 2  # claimed by the dead worker, then by the one that finished
    assert Election.objects.get(pk=world.election.pk).phase == Phase.TALLIED
    assert AuditEvent.objects.filter(action="tally.run_done").count() == 1
    assert sum(p["ballots"] for p in run.summary.values()) == 34  # 30 online + 4 paper


def _roll_csv(n: int) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(("reference", "date_of_birth", "district"))
    w.writerows((f"W-{i:04d}", "1980-02-03", "north") for i in range(n))
    return buf.getvalue().encode()


@pytest.mark.postgres
def test_worker_process_imports_a_roll_killed_mid_import_another_finishes_once(workers, settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path / "var"
    election = ElectionFactory(phase=Phase.REVIEW)
    PotFactory(election=election, name="North", slug="north")
    actor = official()
    job = services_roll.roll_job_create(
        actor=actor, election=election, uploaded=SimpleUploadedFile("roll.csv", _roll_csv(40))
    )
    roll_job_check_task.enqueue(str(job.pk))
    workers.start()
    _wait(
        lambda: ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.READY).exists(),
        what="the check of the file",
    )
    workers.stop()
    lock = ElectionLock(workers.dsn, election.pk)
    try:
        task_id = roll_job_import_task.enqueue(str(job.pk)).id
        _kill_while_waiting(workers, task_id)
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.IMPORTING
    finally:
        lock.release()
    workers.start()
    # The second worker first puts the job back to "ready" (roll_job_import_task, attempt > 1), then imports:
    # wait for the end, not for the first status that is not "importing".
    _wait(
        lambda: ImportJob.objects.filter(
            pk=job.pk, status__in=(ImportJob.Status.DONE, ImportJob.Status.FAILED, ImportJob.Status.INVALID)
        ).first(),
        timeout=90,
        what="the second worker to finish the import",
    )
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, f"{job.errors}\n{workers.logs()}"
    assert job.imported == 40
    assert VoterRollEntry.objects.filter(election=election).count() == 40
    assert AuditEvent.objects.filter(action="roll.import").count() == 1
    task = _wait(
        lambda: DBTaskResult.objects.filter(pk=task_id, status=TaskResultStatus.SUCCESSFUL).first(),
        what="the task's success",
    )
    assert len(task.worker_ids) == 2
    # Delivered once more (a confirm clicked twice): refused, nothing imported twice.
    again = roll_job_import_task.enqueue(str(job.pk)).id
    failed = _wait(
        lambda: DBTaskResult.objects.filter(pk=again, status=TaskResultStatus.FAILED).first(),
        what="the duplicate to be refused",
    )
    assert failed.exception_class_path.endswith("RollError")
    assert VoterRollEntry.objects.filter(election=election).count() == 40
