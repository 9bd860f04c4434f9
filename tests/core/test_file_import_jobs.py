"""The steps the voter-roll and the proposal import jobs share (pb.core.jobs.imports), run on both tables:
the stalled-job check (and its race with a worker that finishes), the retry's claim (twice, file gone, not
failed), the stale-upload sweep, and the one set of statuses both pages show."""

import datetime as dt
import os

import pytest
from django.urls import reverse
from django.utils import timezone

from ballots.exceptions import RollError
from ballots.models import ImportJob
from pb.core.jobs.imports import (
    FileImportJob,
    import_job_retry_claim,
    import_jobs_expire_stalled,
    import_uploads_discard_stale,
)
from pb.core.models import Phase
from proposals.exceptions import ImportJobConflict
from proposals.models import ProposalImportJob
from tests.factories import ElectionFactory, PotFactory, official

pytestmark = pytest.mark.django_db

KINDS = [
    pytest.param(ImportJob, RollError, {"error_count": 1}, id="roll"),
    pytest.param(ProposalImportJob, ImportJobConflict, {}, id="proposals"),
]


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.REVIEW)
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    return e


def _job(model, election, status, *, minutes_ago=30, with_file=True):
    job = model.objects.create(election=election, created_by=official(), filename="f.csv", status=status)
    path = model.progress.directory() / f"{job.pk}.csv"
    if with_file:
        path.write_bytes(b"a,b\n")
    model.objects.filter(pk=job.pk).update(
        path=str(path), created_at=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )
    job.refresh_from_db()
    return job


def _reason(job) -> str:
    return job.reason if isinstance(job, ProposalImportJob) else job.errors[0]["message"]


def test_both_jobs_have_the_same_statuses_and_fields():
    assert list(ImportJob.Status.choices) == list(ProposalImportJob.Status.choices)
    assert ImportJob.Status is ProposalImportJob.Status is FileImportJob.Status
    shared = {f.name for f in FileImportJob._meta.fields}
    assert shared <= {f.name for f in ImportJob._meta.fields}
    assert shared <= {f.name for f in ProposalImportJob._meta.fields}


@pytest.mark.parametrize(("model", "error", "extra"), KINDS)
@pytest.mark.parametrize(
    ("status", "says"),
    [
        (FileImportJob.Status.UPLOADED, "The check of this file stopped"),
        (FileImportJob.Status.VALIDATING, "The check of this file stopped"),
        (FileImportJob.Status.IMPORTING, "The import stopped"),
    ],
)
def test_a_stalled_job_fails_with_its_reason_and_its_progress_file_goes(
    model, error, extra, status, says, election
):
    job = _job(model, election, status)
    model.progress.write(job.pk, done=1, total=2)
    old = (timezone.now() - dt.timedelta(minutes=30)).timestamp()
    os.utime(model.progress.path(job.pk), (old, old))
    young = _job(model, election, status, minutes_ago=0)  # just uploaded: left alone
    done = _job(model, election, FileImportJob.Status.DONE)  # finished: left alone
    assert import_jobs_expire_stalled(model, election=election) == 1
    job.refresh_from_db()
    assert job.status == FileImportJob.Status.FAILED and job.finished_at is not None
    assert says in _reason(job)
    for field, value in extra.items():
        assert getattr(job, field) == value
    assert not model.progress.path(job.pk).exists()
    assert job.retryable and job.path  # the file is kept for a retry
    young.refresh_from_db()
    done.refresh_from_db()
    assert young.status == status and done.status == FileImportJob.Status.DONE


@pytest.mark.parametrize(("model", "error", "extra"), KINDS)
def test_a_worker_that_finishes_during_the_check_wins(model, error, extra, election, monkeypatch):
    job = _job(model, election, FileImportJob.Status.IMPORTING)
    real = model.progress.last_sign_of_life

    def finishes_meanwhile(job_id, created_at):
        model.objects.filter(pk=job_id).update(status=FileImportJob.Status.DONE)
        return real(job_id, created_at)

    monkeypatch.setattr(model.progress, "last_sign_of_life", finishes_meanwhile)
    assert import_jobs_expire_stalled(model, election=election) == 0
    job.refresh_from_db()
    assert job.status == FileImportJob.Status.DONE


@pytest.mark.parametrize(("model", "error", "extra"), KINDS)
def test_retry_is_claimed_once_and_refused_without_a_file_or_a_failure(model, error, extra, election):
    job = _job(model, election, FileImportJob.Status.FAILED)
    model.objects.filter(pk=job.pk).update(**job.failure_fields("it stopped"))
    stale_copy = model.objects.get(pk=job.pk)
    import_job_retry_claim(job, error=error)
    job.refresh_from_db()
    assert job.status == FileImportJob.Status.UPLOADED and job.finished_at is None
    assert all(getattr(job, k) == v for k, v in job.retry_fields().items())
    assert model.progress.read(job.pk) == {"phase": "checking", "done": 0, "total": 0}
    with pytest.raises(error, match="already being retried"):  # a second click read the job as failed
        import_job_retry_claim(stale_copy, error=error)
    with pytest.raises(error, match="cannot be retried"):  # not failed (any more)
        import_job_retry_claim(job, error=error)
    gone = _job(model, election, FileImportJob.Status.FAILED, with_file=False)
    with pytest.raises(error, match="cannot be retried"):
        import_job_retry_claim(gone, error=error)
    gone.refresh_from_db()
    assert gone.status == FileImportJob.Status.FAILED


@pytest.mark.parametrize(("model", "error", "extra"), KINDS)
def test_stale_uploads_lose_their_file_after_a_day(model, error, extra, election):
    old = _job(model, election, FileImportJob.Status.READY, minutes_ago=25 * 60)
    fresh = _job(model, election, FileImportJob.Status.READY, minutes_ago=60)
    old_path = old.path
    import_uploads_discard_stale(model)
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.path == "" and not os.path.exists(old_path)
    assert fresh.path and os.path.exists(fresh.path)


def test_a_roll_job_waiting_for_its_check_says_so_like_a_proposal_job(client, election):
    user = official()
    client.force_login(user)
    job = _job(ImportJob, election, FileImportJob.Status.UPLOADED, minutes_ago=0)
    page = client.get(reverse("ballots:roll_job", args=[election.slug, job.pk]))
    assert page.status_code == 200
    assert "Waiting to be checked" in page.content.decode()
