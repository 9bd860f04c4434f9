"""A roll-import job whose worker died (stuck in "checking" or "importing") is marked failed with a reason
when its page is viewed, and can be retried from the page without importing anyone twice."""

import datetime as dt
import os

import pytest
from django.urls import reverse
from django.utils import timezone

from ballots.models import ImportJob, VoterRollEntry
from ballots.roll import services as services_roll
from pb.core.models import AuditEvent, Phase
from tests.ballots.test_roll_import import GOOD, _csv
from tests.factories import ElectionFactory, PotFactory, UserFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.REVIEW, min_age=16, age_reference_date=dt.date(2026, 6, 1))
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    PotFactory(election=e, name="Mokotów", slug="mokotow")
    PotFactory(election=e, name="Wola", slug="wola")
    return e


def _stuck_job(election, user, status, *, minutes_ago=30, content=None):
    """A job row as a dead worker leaves it: running status, its file still there, an old timestamp."""
    job = ImportJob.objects.create(election=election, created_by=user, filename="roll.csv", status=status)
    path = services_roll.PROGRESS.directory() / f"{job.pk}.csv"
    path.write_bytes(content if content is not None else _csv(GOOD))
    old = timezone.now() - dt.timedelta(minutes=minutes_ago)
    ImportJob.objects.filter(pk=job.pk).update(path=str(path), created_at=old)
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (ImportJob.Status.VALIDATING, "The check of this file stopped without finishing"),
        (ImportJob.Status.IMPORTING, "The import stopped without finishing"),
        (ImportJob.Status.UPLOADED, "The check of this file stopped without finishing"),
    ],
)
def test_stuck_job_is_marked_failed_with_a_reason_and_retried(client, election, status, says):
    user = official()
    client.force_login(user)
    job = _stuck_job(election, user, status)
    page = client.get(reverse("ballots:roll_job", args=[election.slug, job.pk]))
    assert page.status_code == 200
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    text = page.content.decode()
    assert says in text and 'id="roll-retry-form"' in text and "hx-trigger" not in text  # no more polling
    # Retry: re-checks the kept file (the test backend runs the task at once) and the import completes.
    r = client.post(reverse("ballots:roll_retry", args=[election.slug, job.pk]))
    assert r.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.READY and job.error_count == 0
    assert AuditEvent.objects.filter(action="roll.job_retry").count() == 1
    client.post(reverse("ballots:roll_confirm", args=[election.slug, job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and VoterRollEntry.objects.count() == len(GOOD)


def test_a_job_with_recent_progress_is_left_running(client, election):
    user = official()
    client.force_login(user)
    job = _stuck_job(election, user, ImportJob.Status.IMPORTING)
    services_roll._write_progress(job.pk, phase="importing", done=10, total=100)  # alive: wrote just now
    client.get(reverse("ballots:roll_job", args=[election.slug, job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.IMPORTING
    # ...until its last progress is older than the timeout.
    old = (timezone.now() - dt.timedelta(minutes=30)).timestamp()
    os.utime(services_roll.progress_path(job.pk), (old, old))
    client.get(reverse("ballots:roll", args=[election.slug]))  # the roll page checks too
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED


def test_a_young_job_is_not_touched(client, election, settings):
    settings.PB_ROLL_JOB_STALL_SECONDS = 300
    user = official()
    client.force_login(user)
    job = _stuck_job(election, user, ImportJob.Status.VALIDATING, minutes_ago=1)
    client.get(reverse("ballots:roll_job", args=[election.slug, job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.VALIDATING


def test_retry_after_a_worker_that_did_commit_imports_nobody_twice(client, election):
    """The worker imported and died before recording it: the retry's check finds every reference already
    on the roll, so nothing can be imported again."""
    user = official()
    client.force_login(user)
    job = _stuck_job(election, user, ImportJob.Status.IMPORTING)
    path = job.path
    services_roll.roll_import(actor=user, election=election, path=path)  # what the dead worker committed
    assert VoterRollEntry.objects.count() == len(GOOD)
    client.get(reverse("ballots:roll_job", args=[election.slug, job.pk]))
    client.post(reverse("ballots:roll_retry", args=[election.slug, job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.INVALID
    assert "already on the roll" in str(job.errors)
    r = client.post(reverse("ballots:roll_confirm", args=[election.slug, job.pk]))
    assert r.status_code == 409
    assert VoterRollEntry.objects.count() == len(GOOD)


def test_retry_twice_and_retry_of_a_healthy_job_are_refused(client, election):
    user = official()
    client.force_login(user)
    done = _stuck_job(election, user, ImportJob.Status.DONE)
    r = client.post(reverse("ballots:roll_retry", args=[election.slug, done.pk]))
    assert r.status_code == 400 and "cannot be retried" in r.content.decode()
    job = _stuck_job(election, user, ImportJob.Status.VALIDATING)
    services_roll.roll_jobs_expire_stalled(election=election)
    job.refresh_from_db()
    # A second retry of the same failed job, raced by another official: only one re-check happens.
    services_roll.roll_job_retry(actor=user, job=job)
    stale = ImportJob.objects.get(pk=job.pk)
    stale.status = ImportJob.Status.FAILED  # what the other official's page still shows
    with pytest.raises(services_roll.RollError, match="already being retried"):
        services_roll.roll_job_retry(actor=user, job=stale)
    assert AuditEvent.objects.filter(action="roll.job_retry").count() == 1


def test_file_gone_and_resident_cannot_retry(client, election):
    user = official()
    job = _stuck_job(election, user, ImportJob.Status.VALIDATING)
    services_roll.roll_jobs_expire_stalled(election=election)
    client.force_login(UserFactory())
    r = client.post(reverse("ballots:roll_retry", args=[election.slug, job.pk]))
    assert r.status_code == 403
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    client.force_login(user)
    os.unlink(job.path)
    r = client.post(reverse("ballots:roll_retry", args=[election.slug, job.pk]))
    assert r.status_code == 400 and "upload the file again" in r.content.decode()


def test_the_periodic_check_marks_stalled_jobs_of_every_election(election):
    from io import StringIO

    from django.core.management import call_command

    user = official()
    other = ElectionFactory(phase=Phase.REVIEW)
    stuck = [_stuck_job(election, user, ImportJob.Status.VALIDATING), _stuck_job(other, user, "importing")]
    young = _stuck_job(election, user, ImportJob.Status.VALIDATING, minutes_ago=0)
    out = StringIO()
    call_command("roll_jobs_stalled", stdout=out)
    assert "2 stalled roll-import job(s)" in out.getvalue()
    assert {j.status for j in ImportJob.objects.filter(pk__in=[j.pk for j in stuck])} == {"failed"}
    young.refresh_from_db()
    assert young.status == ImportJob.Status.VALIDATING
