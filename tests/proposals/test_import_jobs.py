"""The proposal import runs on the task queue (django-tasks-db): the upload only stores the file and enqueues
the check; the real worker loop (`manage.py task_worker`, run in this process) makes the preview; the
official's confirm enqueues the import, which writes every row once, however often its task is delivered."""

import datetime as dt
import os
import time

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.test import TestCase
from django.urls import reverse
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from pb.core.models import AuditEvent
from proposals.importing import services as import_services
from proposals.importing.tasks import proposal_import_check_task, proposal_import_run_task
from proposals.models import Proposal, ProposalImportJob
from tests.proposals.test_import_export import GOOD_ROWS, csv_file

pytestmark = pytest.mark.django_db

Status = ProposalImportJob.Status


@pytest.fixture
def database_tasks(settings, tmp_path, monkeypatch):
    """Undo tests/conftest.py's ImmediateBackend: tasks wait in the queue for a worker. The worker loop
    closes stale connections between tasks; in this process that would close the test's transaction."""
    settings.TASKS = {"default": {**settings.TASKS["default"], "BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.PB_VAR_DIR = tmp_path
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)


def run_worker() -> None:
    """The real worker loop in this process: every queued task, then exit."""
    call_command("task_worker", "--batch", "--no-startup-delay", "--queue-name=default", verbosity=0)


def post(client, url, data):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, data)


def upload(client, election):
    return post(client, reverse("proposals:import", args=[election.slug]), {"file": csv_file(GOOD_ROWS)})


def confirm(client, election, job):
    return post(client, reverse("proposals:import_confirm", args=[election.slug]), {"job": str(job.pk)})


def job_page(client, election, job, **headers):
    return client.get(reverse("proposals:import_job", args=[election.slug, job.pk]), **headers)


def test_tasks_run_on_the_default_queue():
    assert proposal_import_check_task.queue_name == "default"
    assert proposal_import_run_task.queue_name == "default"


def test_upload_enqueues_the_worker_previews_confirm_imports_once(client, election, off, database_tasks):
    resp = upload(client, election)
    job = ProposalImportJob.objects.get()
    assert resp.status_code == 302
    assert resp["Location"] == reverse("proposals:import_job", args=[election.slug, job.pk])
    # The request only stored the file and queued its check.
    task = DBTaskResult.objects.get()
    assert (task.queue_name, task.status) == ("default", TaskResultStatus.READY)
    assert job.status == Status.UPLOADED and os.path.exists(job.path)
    assert not Proposal.objects.exists()
    page = job_page(client, election, job)
    assert 'hx-trigger="every 1s"' in page.content.decode()  # polls while the job waits
    assert 'http-equiv="refresh"' in page.content.decode()  # and reloads itself without JavaScript

    run_worker()
    job.refresh_from_db()
    assert job.status == Status.READY and job.rows_total == 2
    assert not Proposal.objects.exists()  # a preview writes nothing
    page = job_page(client, election, job, HTTP_HX_REQUEST="true")  # the polled fragment
    body = page.content.decode()
    assert body.lstrip().startswith('<div id="job-panel"') and "every 1s" not in body
    assert "2 proposals are ready to import" in body and "import-confirm-form" in body
    assert [(r.number, r.code, r.ok) for r in page.context["report"].rows] == [
        (1, "P001", True),
        (2, "P002", True),
    ]

    resp = confirm(client, election, job)
    assert resp.status_code == 302
    job.refresh_from_db()
    assert job.status == Status.IMPORTING and not Proposal.objects.exists()  # queued, not run by the request
    assert confirm(client, election, job).status_code == 409  # a double click claims nothing
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 1

    run_worker()
    job.refresh_from_db()
    assert job.status == Status.DONE and job.imported == 2
    assert sorted(Proposal.objects.values_list("code", flat=True)) == ["P001", "P002"]
    assert job.path == ""  # the file is deleted once imported
    assert "2 proposals imported." in job_page(client, election, job).content.decode()
    assert AuditEvent.objects.filter(action="proposal.import").count() == 1

    # The worker died between the import's commit and its own: the task is delivered again.
    imported = DBTaskResult.objects.get(task_path="proposals.importing.tasks.proposal_import_run_task")
    DBTaskResult.objects.filter(pk=imported.pk).update(status=TaskResultStatus.READY, worker_ids=["gone"])
    run_worker()
    imported.refresh_from_db()
    assert imported.status == TaskResultStatus.SUCCESSFUL
    assert Proposal.objects.count() == 2
    assert AuditEvent.objects.filter(action="proposal.import").count() == 1


def test_a_worker_killed_mid_import_leaves_nothing_and_the_next_delivery_imports_once(
    client, election, off, database_tasks
):
    upload(client, election)
    run_worker()
    job = ProposalImportJob.objects.get()
    confirm(client, election, job)
    # What a worker killed mid-import leaves: its transaction rolled back, the job still claimed, the task
    # running under a worker that is gone (pb.worker.lease queues it again).
    task = DBTaskResult.objects.get(task_path="proposals.importing.tasks.proposal_import_run_task")
    DBTaskResult.objects.filter(pk=task.pk).update(status=TaskResultStatus.READY, worker_ids=["gone"])
    assert ProposalImportJob.objects.get().status == Status.IMPORTING
    run_worker()
    job.refresh_from_db()
    assert job.status == Status.DONE
    assert Proposal.objects.count() == 2
    assert import_services.proposal_import_job_run(job_id=job.pk).status == Status.DONE  # once more: nothing
    assert Proposal.objects.count() == 2
    assert AuditEvent.objects.filter(action="proposal.import").count() == 1


@pytest.mark.parametrize("stage", ["check", "import"])
def test_a_stalled_job_fails_with_a_reason_and_retry_checks_it_again(
    client, election, off, database_tasks, settings, stage
):
    settings.PB_ROLL_JOB_STALL_SECONDS = 60
    upload(client, election)
    job = ProposalImportJob.objects.get()
    if stage == "import":
        run_worker()
        confirm(client, election, job)
    DBTaskResult.objects.all().delete()  # the queue lost it (the worker died, the server restarted)
    page = job_page(client, election, job)
    assert page.context["job"].status != Status.FAILED  # still inside the allowed silence
    # No sign of life for longer than the roll jobs' setting allows.
    old = time.time() - 120
    ProposalImportJob.objects.filter(pk=job.pk).update(created_at=job.created_at - dt.timedelta(seconds=120))
    progress = import_services.import_progress_path(job.pk)
    if progress.exists():
        os.utime(progress, (old, old))
    page = job_page(client, election, job)
    body = page.content.decode()
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert "no progress for 1 minutes" in body and "import-retry-form" in body
    assert "Nothing was imported" in body if stage == "import" else "check it again" in body
    assert not Proposal.objects.exists()

    resp = post(client, reverse("proposals:import_retry", args=[election.slug, job.pk]), {})
    assert resp.status_code == 302
    assert (
        post(client, reverse("proposals:import_retry", args=[election.slug, job.pk]), {}).status_code == 409
    )
    assert AuditEvent.objects.filter(action="proposal.import_retry").count() == 1
    run_worker()
    job.refresh_from_db()
    assert job.status == Status.READY  # checked again; the official confirms again
    confirm(client, election, job)
    run_worker()
    assert Proposal.objects.count() == 2


def test_an_unexpected_failure_shows_a_reason_and_retry(client, election, off, database_tasks, monkeypatch):
    upload(client, election)
    job = ProposalImportJob.objects.get()

    def crash(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(import_services, "proposals_import", crash)
    run_worker()
    job.refresh_from_db()
    assert job.status == Status.FAILED
    body = job_page(client, election, job).content.decode()
    assert "failed unexpectedly" in body and "disk on fire" not in body and "import-retry-form" in body
    assert os.path.exists(job.path)  # kept for the retry
