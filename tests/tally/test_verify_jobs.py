"""The public verify page only queues its check: a task on the "public" queue (tally.verification.jobs)
writes the
report, and the result page (/results/verify/<token>/) polls until it is there. Here with the database backend
and the real worker loop in this process (as tests/core/test_task_worker.py); the other verify-page tests run
tasks immediately."""

import datetime as dt
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from tally.filestore import election_dir
from tally.models import VerifyJob
from tally.verification import jobs as verify_jobs

URL = "/results/verify/"
ADDR = "203.0.113.9"


@pytest.fixture
def database_tasks(settings, monkeypatch):
    """Undo tests/conftest.py's ImmediateBackend: jobs wait in the queue for a worker. The worker loop closes
    stale connections between tasks; in this process that would close the test's transaction."""
    settings.TASKS = {"default": {**settings.TASKS["default"], "BACKEND": "django_tasks_db.DatabaseBackend"}}
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)


def _run_public_worker() -> None:
    call_command("task_worker", "--batch", "--no-startup-delay", "--queue-name=public", verbosity=0)


def _pdf(data: bytes = b"%PDF-1.7\n" + b"0" * 200) -> SimpleUploadedFile:
    return SimpleUploadedFile("r.pdf", data, content_type="application/pdf")


def test_the_check_is_a_task_on_the_public_queue():
    assert verify_jobs.verify_job_task.queue_name == "public"


def test_the_page_only_queues_the_check_and_the_worker_writes_the_report(world, database_tasks):
    cert = world.through_certify()
    world.publish()
    folder = election_dir(world.election)
    files = [
        SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.suffix != ".pdf"
    ]
    client = Client(raise_request_exception=True)
    r = client.post(
        URL, {"pdf": _pdf((folder / cert.pdf_name).read_bytes()), "files": files}, REMOTE_ADDR=ADDR
    )
    job = VerifyJob.objects.get()
    assert r.status_code == 302 and r["Location"] == reverse("tally:verify_result", args=[job.pk])
    # Nothing was checked in the request: the job waits with its upload, the task waits for a worker.
    assert job.status == "queued" and job.report is None and len(bytes(job.upload)) > 0
    task = DBTaskResult.objects.get()
    assert (task.queue_name, task.status) == ("public", TaskResultStatus.READY)
    assert task.args_kwargs["args"] == [str(job.pk)]

    waiting = client.get(r["Location"])
    html = waiting.content.decode()
    assert waiting.status_code == 200 and 'id="verify-pending"' in html and 'id="verify-result"' not in html
    assert 'hx-trigger="every 1s"' in html and 'http-equiv="refresh"' in html  # polls, with or without JS
    fragment = client.get(r["Location"], headers={"HX-Request": "true"})
    assert b'id="verify-pending"' in fragment.content and b"<html" not in fragment.content

    _run_public_worker()
    job.refresh_from_db()
    task.refresh_from_db()
    assert task.status == TaskResultStatus.SUCCESSFUL
    assert job.status == "done" and bytes(job.upload) == b""  # the upload is dropped once checked
    page = client.get(r["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and 'id="verify-result" class="ok"' in html
    assert "pot north: re-run greedy" in html and "step-fail" not in html
    assert 'id="verify-pending"' not in html and "hx-trigger" not in html and "http-equiv" not in html
    fragment = client.get(r["Location"], headers={"HX-Request": "true"})
    assert b'id="verify-result" class="ok"' in fragment.content and b"<html" not in fragment.content

    # Delivered again (its worker died between our commit and its own): the done job is left as it is.
    finished = job.finished_at
    DBTaskResult.objects.update(status=TaskResultStatus.READY)
    _run_public_worker()
    job.refresh_from_db()
    assert job.status == "done" and job.finished_at == finished


def test_a_forgery_fails_with_its_reason_on_the_result_page(db, keys, database_tasks):
    client = Client()
    r = client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR)
    assert r.status_code == 302 and VerifyJob.objects.get().status == "queued"
    _run_public_worker()
    page = client.get(r["Location"])
    assert page.status_code == 422  # as the POST answered when it checked in the request
    assert 'id="verify-result" class="error"' in page.content.decode() and "FAIL" in page.content.decode()
    # HTMX swaps only 2xx answers: the fragment says FAIL with 200.
    fragment = client.get(r["Location"], headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and b'class="error"' in fragment.content


def test_unknown_and_garbage_tokens_are_404(db, keys, client):
    assert client.get(reverse("tally:verify_result", args=[uuid.uuid4()])).status_code == 404
    for garbage in ("abc", "1", "x" * 5000, str(uuid.uuid4()).upper(), "..%2F..%2Fetc", "';--", "%C3%28"):
        assert client.get(f"{URL}{garbage}/").status_code == 404, garbage
    assert client.get(f"{URL}%00/").status_code == 400  # refused before any view (never a 500)


def test_a_redelivered_job_is_checked_once_and_a_dead_workers_job_taken_back(db, keys):
    upload = verify_jobs._pack(b"%PDF-1.7\n", None)
    job = VerifyJob.objects.create(created_at=timezone.now(), upload=upload)
    assert verify_jobs.verify_job_run(job_id=str(job.pk)) == "done"
    job.refresh_from_db()
    report, finished = job.report, job.finished_at
    assert report["steps"] and bytes(job.upload) == b""
    for retry in (False, True):
        assert verify_jobs.verify_job_run(job_id=str(job.pk), retry=retry) == "done"
    job.refresh_from_db()
    assert (job.report, job.finished_at) == (report, finished)
    # A job left running by a killed worker: a first delivery leaves it, a later attempt takes it back.
    VerifyJob.objects.filter(pk=job.pk).update(status="running", upload=upload, report=None)
    assert verify_jobs.verify_job_run(job_id=str(job.pk)) == "running"
    assert verify_jobs.verify_job_run(job_id=str(job.pk), retry=True) == "done"
    assert VerifyJob.objects.get(pk=job.pk).report == report
    assert verify_jobs.verify_job_run(job_id=str(uuid.uuid4())) == "purged"


def test_a_job_that_cannot_be_checked_fails_without_a_500(db, keys, client):
    job = VerifyJob.objects.create(created_at=timezone.now(), upload=b"not a zip")
    assert verify_jobs.verify_job_run(job_id=str(job.pk)) == "failed"
    job.refresh_from_db()
    assert bytes(job.upload) == b""
    page = client.get(reverse("tally:verify_result", args=[job.pk]))
    assert page.status_code == 200 and b'id="verify-failed"' in page.content


def test_old_jobs_are_purged_at_the_next_upload(db, keys, client):
    old = VerifyJob.objects.create(created_at=timezone.now() - verify_jobs.KEEP - dt.timedelta(seconds=1))
    recent = VerifyJob.objects.create(created_at=timezone.now() - dt.timedelta(minutes=5), status="done")
    r = client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR, follow=True)
    assert r.status_code == 422
    assert not VerifyJob.objects.filter(pk=old.pk).exists()
    assert VerifyJob.objects.filter(pk=recent.pk).exists()
    assert client.get(reverse("tally:verify_result", args=[old.pk])).status_code == 404
