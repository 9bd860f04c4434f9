"""Sign-off re-counts and the certification as jobs run by `manage.py task_worker` processes (PostgreSQL: the
workers reach the test database): started from the manage page, watched on the job page until done; a worker
killed in the middle of a certification, and another that finishes it exactly once."""

import signal

import pytest
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from pb.core.models import AuditEvent, Election, Job, Phase
from tally.certification.services import certification_check
from tally.engine import manifest as mf
from tally.filestore import election_dir
from tally.models import Certification, SignOff
from tests.core.test_task_worker import ElectionLock, _wait
from tests.core.test_task_worker import database_tasks as database_tasks
from tests.core.test_task_worker import workers as workers

from .conftest import KEYS, World

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("keys")]


@pytest.fixture(autouse=True)
def _certificate_for_the_workers(monkeypatch):
    """The workers read the PAdES certificate's paths from the environment, as in production."""
    monkeypatch.setenv("PB_SIGNING_CERT_FILE", str(KEYS / "test-pades-cert.pem"))
    monkeypatch.setenv("PB_SIGNING_CERT_KEY_FILE", str(KEYS / "test-pades-key.pem"))


def _start(user, world, action) -> tuple[Client, str]:
    client = Client()
    client.force_login(user)
    r = client.post(reverse("tally:action", args=[world.election.slug, action]))
    assert r.status_code == 302 and r["Location"].startswith("/jobs/"), r.content.decode()[-1000:]
    return client, r["Location"]


def _watch(client, url, pool, *, timeout=90) -> str:
    """Poll the job page as HTMX does until the job has finished; the final fragment."""

    def finished():
        html = client.get(url, headers={"HX-Request": "true"}).content.decode()
        return html if 'data-status="done"' in html or 'data-status="failed"' in html else None

    try:
        return _wait(finished, timeout=timeout, what=f"the job at {url}")
    except AssertionError:
        raise AssertionError(pool.logs()) from None


def _closed_and_counted() -> World:
    world = World(n_online=24, n_paper=3)
    world.close()
    world.tally()  # counted here; the count's own task, queued too, finds the run done and does nothing
    return world


def test_signoffs_and_certification_run_as_jobs_through_the_pages(workers):
    world = _closed_and_counted()
    workers.start()
    for official in (world.o2, world.o3):
        client, url = _start(official, world, "signoff-recount")
        html = _watch(client, url, workers)
        assert 'data-status="done"' in html and "matches the official count" in html, html
    assert SignOff.objects.filter(matched=True).count() == 2
    client, url = _start(world.council, world, "certify")
    first = client.get(url).content.decode()
    assert 'data-status="queued"' in first or 'data-status="running"' in first or "done" in first
    html = _watch(client, url, workers)
    assert 'data-status="done"' in html, html
    job = Job.objects.get(kind="tally.certify")
    cert = Certification.objects.get()
    assert job.result == {"certification": cert.pk} and (job.done, job.total) == (4, 4)
    manage = client.get(reverse("tally:manage", args=[world.election.slug])).content.decode()
    assert 'id="pdf-preview"' in manage
    assert (election_dir(world.election) / cert.pdf_name).exists()
    assert certification_check(world.election).ok


def test_a_worker_killed_mid_certification_another_certifies_once(workers):
    world = _closed_and_counted()
    world.signoffs()
    before = {p.name for p in election_dir(world.election).iterdir()}
    client, url = _start(world.council, world, "certify")  # queued: nothing runs in the request
    job = Job.objects.get(kind="tally.certify")
    assert job.status == "queued"
    lock = ElectionLock(workers.dsn, world.election.pk)
    try:
        task = DBTaskResult.objects.get(task_path="pb.core.jobs.services.job_run_task")
        first = workers.start()
        _wait(lambda: Job.objects.filter(pk=job.pk, status="running").exists(), what="the claim")
        _wait(lambda: workers.lock_waits() >= 1, what="the job to wait for the election's lock")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert 'data-status="running"' in client.get(url).content.decode()
    finally:
        lock.release()
    assert not Certification.objects.exists()
    workers.start()
    html = _watch(client, url, workers)
    assert 'data-status="done"' in html, html
    task.refresh_from_db()
    assert len(task.worker_ids) == 2  # claimed by the dead worker, then by the one that finished
    assert Certification.objects.count() == 1
    assert AuditEvent.objects.filter(action="tally.certified").count() == 1
    assert Election.objects.get(pk=world.election.pk).phase == Phase.CERTIFIED
    cert = Certification.objects.get()
    after = {p.name for p in election_dir(world.election).iterdir()}
    assert after - before == {mf.AUDIT_FILE, cert.pdf_name}  # nothing staged left behind, nothing twice
    assert certification_check(world.election).ok
