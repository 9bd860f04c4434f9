"""The tally page's long steps as jobs (pb.core.jobs, tally.jobs): the buttons queue a job and send the
official to its page, which shows progress, then the result or why it failed, with a retry for a failed one.

With the immediate backend (tests/conftest.py) a job runs inside the request that starts it; with the
production backend (django-tasks-db) the request only enqueues, and the worker loop runs it here, in-process
(tests/tally/test_jobs_worker.py runs worker processes)."""

import datetime as dt
import uuid

import pytest
from django.conf import settings as django_settings
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from pb.core.jobs import services as jobs
from pb.core.models import AuditEvent, ElectionRole, Job, Phase, Role
from pb.worker import lease
from pb.worker.models import WorkerHeartbeat
from tally import jobs as tally_jobs
from tally.certification.services import certification_check
from tally.engine import manifest as mf
from tally.filestore import election_dir
from tally.models import Certification, SignOff
from tests.core.test_task_worker import (  # noqa: F401 (fixtures)
    DATABASE_BACKEND,
    _keep_the_test_connection,
    _run_worker_in_process,
)
from tests.core.test_task_worker import database_tasks as database_tasks
from tests.factories import ElectionFactory, UserFactory

from .conftest import World

pytestmark = pytest.mark.usefixtures("keys")


def post(client, user, world, action, **data):
    client.force_login(user)
    return client.post(reverse("tally:action", args=[world.election.slug, action]), data)


def _job_of(response) -> Job:
    assert response.status_code == 302, response.content.decode()[-1500:]
    prefix = "/jobs/"
    assert response["Location"].startswith(prefix), response["Location"]
    return Job.objects.get(pk=response["Location"][len(prefix) :].strip("/"))


@pytest.fixture
def signed_off(db, keys):
    w = World(n_online=20, n_paper=2)
    w.close()
    w.tally()
    w.signoffs()
    return w


@pytest.fixture
def tallied(db, keys):
    w = World(n_online=20, n_paper=2)
    w.close()
    w.tally()
    return w


# --- The job page ----------------------------------------------------------------------------------------


def test_certify_is_a_job_whose_page_shows_the_result(signed_off, client):
    w = signed_off
    with TestCase.captureOnCommitCallbacks(execute=True):
        r = post(client, w.council, w, "certify")
    job = _job_of(r)
    cert = Certification.objects.get(election=w.election)
    assert (job.kind, job.status, job.result) == (tally_jobs.CERTIFY, "done", {"certification": cert.pk})
    assert job.started_by == w.council and job.finished_at is not None and job.failure == ""
    assert (job.done, job.total) == (4, 4)
    page = client.get(r["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and 'data-status="done"' in html
    manage = reverse("tally:manage", args=[w.election.slug])
    assert f'id="job-result-link" href="{manage}#h-cert"' in html
    assert "http-equiv" not in html and "hx-trigger" not in html  # finished: no more polling
    fragment = client.get(r["Location"], headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="job-status"') and "<html" not in fragment
    assert AuditEvent.objects.filter(action="job.started", election=w.election).count() == 1
    assert certification_check(w.election).ok


def test_a_failed_certification_says_why_and_is_retried_from_its_page(signed_off, client):
    w = signed_off
    pb_file = election_dir(w.election) / mf.pb_file("north")
    original = pb_file.read_bytes()
    pb_file.write_bytes(original + b"\n")  # a counted file changed on disk after the count
    r = post(client, w.council, w, "certify")
    job = _job_of(r)
    assert job.status == "failed" and "north" in job.failure and "changed after the count" in job.failure
    html = client.get(r["Location"]).content.decode()
    assert 'id="job-failure"' in html and 'id="job-retry"' in html
    # The manage page links to it, with the reason.
    manage = client.get(reverse("tally:manage", args=[w.election.slug])).content.decode()
    assert (
        f'<li data-status="failed"><a href="{r["Location"]}">' in manage
        and "changed after the count" in manage
    )
    assert not Certification.objects.exists()
    assert _phase(w) == Phase.TALLIED
    retry = reverse("core:job_retry", args=[job.pk])
    # An official may see the job but not retry a certification; a GET changes nothing.
    client.force_login(w.o1)
    assert client.get(r["Location"]).status_code == 200
    assert client.post(retry).status_code == 403
    assert client.get(retry).status_code == 405
    job.refresh_from_db()
    assert job.status == "failed" and job.retries == 0
    # Retried while the file is still wrong: failed again, with the same reason.
    client.force_login(w.council)
    assert client.post(retry).status_code == 302
    job.refresh_from_db()
    assert (job.status, job.retries) == ("failed", 1) and "changed after the count" in job.failure
    pb_file.write_bytes(original)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client.post(retry)["Location"] == reverse("core:job", args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.retries, job.failure) == ("done", 2, "")
    assert Certification.objects.count() == 1
    assert AuditEvent.objects.filter(action="job.retried").count() == 2
    assert AuditEvent.objects.filter(action="tally.certified").count() == 1
    again = client.post(retry)  # a done job is not retried
    assert again.status_code == 409 and b"Only a failed job" in again.content
    assert Job.objects.count() == 1


def _phase(w):
    w.election.refresh_from_db()
    return w.election.phase


def test_signoff_recount_job_reports_each_pot_and_a_second_one_is_refused(tallied, client):
    w = tallied
    job = _job_of(post(client, w.o2, w, "signoff-recount"))
    s = SignOff.objects.get(official=w.o2)
    assert job.status == "done" and job.result == {"signoff": s.pk, "matched": True}
    assert (job.done, job.total) == (2, 2)  # two pots
    html = client.get(reverse("core:job", args=[job.pk])).content.decode()
    assert "matches the official count" in html
    again = post(client, w.o2, w, "signoff-recount")
    assert again.status_code == 409 and b"already signed off" in again.content
    assert SignOff.objects.filter(official=w.o2).count() == 1 and Job.objects.count() == 1
    # Another official's sign-off job is a job of their own.
    assert _job_of(post(client, w.o3, w, "signoff-recount")).pk != job.pk
    # A sign-off is personal: another official may not retry it even when it failed.
    Job.objects.filter(pk=job.pk).update(status="failed", failure="x")
    client.force_login(w.o3)
    r = client.post(reverse("core:job_retry", args=[job.pk]))
    assert r.status_code == 403 and b"Only the official who started" in r.content


def test_publish_is_a_job(signed_off, client):
    w = signed_off
    w.certify()
    with TestCase.captureOnCommitCallbacks(execute=True):
        job = _job_of(post(client, w.council, w, "publish"))
    assert job.status == "done" and _phase(w) == Phase.PUBLISHED
    html = client.get(reverse("core:job", args=[job.pk])).content.decode()
    assert reverse("tally:results", args=[w.election.slug]) in html
    assert client.get(reverse("tally:results", args=[w.election.slug])).status_code == 200


def test_the_job_page_is_only_for_the_elections_staff(signed_off, client):
    w = signed_off
    with TestCase.captureOnCommitCallbacks(execute=True):
        job = _job_of(post(client, w.council, w, "certify"))
    url = reverse("core:job", args=[job.pk])
    elsewhere = UserFactory()  # an official of another election only
    ElectionRole.objects.create(user=elsewhere, role=Role.OFFICIAL, election=ElectionFactory())
    client.force_login(elsewhere)
    assert client.get(url).status_code == 404
    assert client.post(reverse("core:job_retry", args=[job.pk])).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to sign in
    client.force_login(w.o1)
    assert client.get(url).status_code == 200
    assert client.get(reverse("core:job", args=[uuid.uuid4()])).status_code == 404
    assert client.get("/jobs/not-a-uuid/").status_code == 404
    assert client.post(reverse("core:job", args=[job.pk])).status_code == 405


# --- The production backend: the request only enqueues --------------------------------------------------


def _forbid_the_work(monkeypatch):
    def ran_in_the_request(**kw):
        raise AssertionError("the work ran inside the request")

    for name in ("election_certify", "signoff_recount", "election_publish"):
        monkeypatch.setattr(tally_jobs, name, ran_in_the_request)


def test_with_the_production_backend_the_manage_views_only_enqueue(
    signed_off, client, database_tasks, monkeypatch
):
    assert django_settings.TASKS["default"]["BACKEND"] == DATABASE_BACKEND  # what production runs
    w = signed_off
    SignOff.objects.filter(official=w.o3).delete()
    steps = [(w.o3, "signoff-recount"), (w.council, "certify"), (w.council, "publish")]
    for user, action in steps:
        with monkeypatch.context() as m:
            _forbid_the_work(m)
            r = post(client, user, w, action)
            job = _job_of(r)
            assert job.status == "queued"
            page = client.get(r["Location"]).content.decode()
            assert 'data-status="queued"' in page and 'hx-trigger="every 1s"' in page
            assert '<meta http-equiv="refresh"' in page  # without JavaScript: a refreshing page
            # A second click while it waits follows the same job.
            assert _job_of(post(client, user, w, action)).pk == job.pk
            task = DBTaskResult.objects.get(status="READY")
            assert task.task_path == "pb.core.jobs.services.job_run_task" and task.args_kwargs["args"] == [
                str(job.pk)
            ]
        with TestCase.captureOnCommitCallbacks(execute=True):
            _run_worker_in_process()
        job.refresh_from_db()
        assert job.status == "done", job.failure
    assert Job.objects.count() == 3
    assert SignOff.objects.filter(official=w.o3).count() == 1
    assert Certification.objects.count() == 1
    assert _phase(w) == Phase.PUBLISHED


# --- Delivered twice, taken back after a crash --------------------------------------------------------------


def _queued_certification(w, client) -> Job:
    return _job_of(post(client, w.council, w, "certify"))


def _once(w):
    assert Certification.objects.count() == 1
    assert AuditEvent.objects.filter(action="tally.certified").count() == 1
    assert _phase(w) == Phase.CERTIFIED


def test_a_certification_job_delivered_twice_certifies_once(signed_off, client, database_tasks):
    w = signed_off
    job = _queued_certification(w, client)
    with TestCase.captureOnCommitCallbacks(execute=True):
        _run_worker_in_process()
    # The worker died between our commit and its own: the same task comes again, as a second attempt.
    DBTaskResult.objects.update(status="READY", worker_ids=["gone"])
    _run_worker_in_process()
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    job.refresh_from_db()
    assert job.status == "done"
    _once(w)
    # Even a job put back in the queue by hand finds its certification and does nothing.
    Job.objects.filter(pk=job.pk).update(status="queued")
    assert jobs.job_run(job_id=str(job.pk)).status == "done"
    _once(w)


def test_a_certification_taken_back_from_a_dead_worker_certifies_once(signed_off, client, database_tasks):
    w = signed_off
    job = _queued_certification(w, client)
    # What a worker killed mid-certification leaves: the task and the job claimed, nothing committed.
    DBTaskResult.objects.update(status="RUNNING", worker_ids=["gone"], started_at=timezone.now())
    Job.objects.filter(pk=job.pk).update(status="running", phase="Rendering and signing the result PDF")
    # A first attempt delivered again while a live worker runs the job does nothing.
    assert jobs.job_run(job_id=str(job.pk)).status == "running"
    assert not Certification.objects.exists()
    # The worker's heartbeat stopped long ago and its process is gone: the next worker takes the task back.
    lease.worker_register(worker_id="gone", queues="default")
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - dt.timedelta(hours=1), pid=2**22 + 1)
    with TestCase.captureOnCommitCallbacks(execute=True):
        _run_worker_in_process()
    job.refresh_from_db()
    assert job.status == "done", job.failure
    _once(w)
    assert len(DBTaskResult.objects.get().worker_ids) == 2
    assert certification_check(w.election).ok


def test_one_active_job_per_election_is_a_database_rule(signed_off):
    from django.db import IntegrityError, transaction

    w = signed_off
    now = timezone.now()
    fields = {
        "kind": tally_jobs.CERTIFY,
        "election": w.election,
        "active_key": f"{tally_jobs.CERTIFY}:{w.election.pk}",
        "created_at": now,
        "updated_at": now,
    }
    Job.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(**fields)
    Job.objects.update(status="failed")
    Job.objects.create(**fields)  # a failed one does not stand in the way
