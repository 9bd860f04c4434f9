"""Voting-code letters as a job (ballots.roll.letters): the request queues it, the worker makes the codes and
the PDF sealed to the official's browser, the official downloads it once from the job's page.

With the immediate backend (tests/conftest.py) the job runs inside the request that starts it; with the
production backend (django-tasks-db) the request only enqueues and the worker loop runs it here, in-process.
tests/ballots/test_code_letters_worker.py runs worker processes on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from ballots.models import CodeLetterBatch, CodeStatus, VotingCode
from ballots.roll import codes as code_services
from ballots.roll import entries as roll
from ballots.roll import letters
from pb.core import sealedbox
from pb.core.jobs import services as jobs
from pb.core.models import AuditEvent, ElectionRole, Job, Phase, Role
from pb.worker import lease
from pb.worker.models import WorkerHeartbeat
from tests.ballots.roll_support import make_voter
from tests.core.test_task_worker import (  # noqa: F401 (fixtures)
    _keep_the_test_connection,
    _run_worker_in_process,
)
from tests.core.test_task_worker import database_tasks as database_tasks
from tests.factories import ElectionFactory, PotFactory, UserFactory, official

pytestmark = pytest.mark.django_db

PUBLIC = "https://pb.example.org"


@pytest.fixture(autouse=True)
def _site(settings, tmp_path):
    settings.PB_PUBLIC_URL = PUBLIC
    settings.PB_VAR_DIR = tmp_path / "var"


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.REVIEW)
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    wola = PotFactory(election=e, name="Wola", slug="wola")
    for i in range(4):
        make_voter(e, wola, ref=f"W-{i}")
    return e


@pytest.fixture
def printed(monkeypatch):
    """The plaintext codes the worker printed, caught on their way into the real PDF maker."""
    seen: list[str] = []
    real = letters.code_sheets_pdf

    def spy(election, sheets, **kw):
        seen.extend(s.code for s in sheets)
        return real(election, sheets, **kw)

    monkeypatch.setattr(letters, "code_sheets_pdf", spy)
    return seen


def start(client, election, **data) -> Job:
    r = client.post(
        reverse("ballots:codes_generate", args=[election.slug]),
        {"limit": 10, "output": "pdf", "district": "", **data},
    )
    assert r.status_code == 302 and r["Location"].startswith("/jobs/"), r.content.decode()[-1500:]
    return Job.objects.get(pk=r["Location"].removeprefix("/jobs/").strip("/"))


def letters_url(job: Job) -> str:
    return reverse("ballots:codes_letters", args=[job.election.slug, job.pk])


def pdf_text(tmp_path, content: bytes) -> str:
    path = tmp_path / "letters.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def job_tasks():
    """The queued job tasks (not the expiry sweep a finished batch queues for later)."""
    return DBTaskResult.objects.exclude(task_path__endswith="code_letters_sweep_task")


def active_codes() -> int:
    return VotingCode.objects.filter(status=CodeStatus.ACTIVE).count()


# --- The flow through the pages -----------------------------------------------------------------------------


def test_letters_are_a_job_downloaded_once_by_who_asked_in_their_browser(client, election, printed, tmp_path):
    off = official()
    client.force_login(off)
    job = start(client, election)
    assert job.kind == letters.KIND and job.status == "done", job.failure
    assert (job.done, job.total) == (4, 4) and job.result["letters"] == 4
    batch = CodeLetterBatch.objects.get(job=job)
    assert active_codes() == 4 and set(VotingCode.objects.values_list("batch", flat=True)) == {batch.batch}
    # The job's page: done, and a link to the letters' page (not the letters themselves).
    page = client.get(reverse("core:job", args=[job.pk])).content.decode()
    assert 'data-status="done"' in page and f'id="job-result-link" href="{letters_url(job)}"' in page
    assert "4 letters are ready" in page
    sealed = letters.sealed_path(batch)
    assert sealed.exists() and sealed.stat().st_mode & 0o777 == 0o600
    # Another official of the election sees the job, but the letters are not theirs.
    other = official()
    other_client = Client()
    other_client.force_login(other)
    assert other_client.get(reverse("core:job", args=[job.pk])).status_code == 200
    assert "only they can download them" in other_client.get(letters_url(job)).content.decode()
    refused = other_client.post(letters_url(job))
    assert refused.status_code == 403 and b"Only the official who asked" in refused.content
    # The same official in another browser (another session, no cookie): refused, the letters stay.
    elsewhere = Client()
    elsewhere.force_login(off)
    assert 'id="letters-nokey"' in elsewhere.get(letters_url(job)).content.decode()
    refused = elsewhere.post(letters_url(job))
    assert refused.status_code == 403 and b"only be opened in the browser where you asked" in refused.content
    # ... even with a copy of the browser's cookie: the session's half is not in that session.
    name = letters.cookie_name(job.pk)
    elsewhere.cookies[name] = client.cookies[name].value
    assert elsewhere.post(letters_url(job)).status_code == 403
    assert sealed.exists()
    # The official, in their browser: the PDF, once.
    page = client.get(letters_url(job)).content.decode()
    assert 'id="letters-download"' in page and 'id="letters-nokey"' not in page
    got = client.post(letters_url(job))
    assert got.status_code == 200 and got["Content-Type"] == "application/pdf"
    assert got["Cache-Control"] == "no-store"
    assert got.cookies[name]["max-age"] == 0  # the browser's half is dropped
    text = pdf_text(tmp_path, got.content)
    assert sorted(re.findall(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", text)) == sorted(printed)
    assert all(
        VotingCode.objects.filter(code_hash=roll.code_hash(roll.normalize_code(c)), status="active").exists()
        for c in printed
    )
    assert not sealed.exists()
    again = client.post(letters_url(job))
    assert again.status_code == 410 and b"already downloaded" in again.content
    assert AuditEvent.objects.filter(action="codes.letters_download").count() == 1
    assert AuditEvent.objects.filter(action="codes.generate", data__batch=batch.batch).count() == 1
    assert AuditEvent.objects.filter(action="job.started", data__kind=letters.KIND).count() == 1
    # The mail-merge file of the batch waits for the official as before.
    assert (
        "Mail-merge files of your letters"
        in client.get(reverse("ballots:codes", args=[election.slug])).content.decode()
    )


def test_nothing_at_rest_holds_a_code_or_the_key(client, election, printed, settings):
    off = official()
    client.force_login(off)
    job = start(client, election)
    batch = CodeLetterBatch.objects.get(job=job)
    assert len(printed) == 4
    forms = [f for c in printed for f in (c, c.replace("-", ""), c.encode("utf-16-be").decode("latin-1"))]
    # Every file the server keeps (the sealed letters, the mail-merge file and its meta).
    stored = b"".join(p.read_bytes() for p in settings.PB_VAR_DIR.rglob("*") if p.is_file())
    assert letters.sealed_path(batch).read_bytes()[:1] == sealedbox.VERSION
    assert not any(f.encode("latin-1") in stored for f in forms)
    assert b"%PDF" not in stored
    # Every row the database keeps about the batch: the job, its record, the audit log, the codes, sessions.
    from django.contrib.sessions.models import Session

    rows = repr(
        [
            list(Job.objects.values()),
            list(CodeLetterBatch.objects.values()),
            list(AuditEvent.objects.values()),
            list(VotingCode.objects.values()),
            [s.get_decoded() for s in Session.objects.all()],
        ]
    )
    assert not any(c in rows or c.replace("-", "") in rows for c in printed)
    # What the database holds (the session's half, the public key) and what a copy of the cookie holds do
    # not open the letters, alone or together with a guess for the other half.
    box = letters.sealed_path(batch).read_bytes()
    session_half = letters._unb64(Session.objects.get().get_decoded()[letters.SESSION_KEY][str(job.pk)])
    cookie_half = letters._unb64(client.cookies[letters.cookie_name(job.pk)].value)
    aad = letters._aad(job.pk)
    for guess in (
        letters.LetterKeys(browser=b"\0" * 32, session=session_half),
        letters.LetterKeys(browser=cookie_half, session=b"\0" * 32),
        letters.LetterKeys(browser=session_half, session=cookie_half),  # halves swapped
    ):
        with pytest.raises(sealedbox.SealedBoxError):
            sealedbox.open_box(box, key=guess.private_key(election.pk), aad=aad)
    right = letters.LetterKeys(browser=cookie_half, session=session_half).private_key(election.pk)
    assert sealedbox.open_box(box, key=right, aad=aad).startswith(b"%PDF")
    assert sealedbox.public_bytes(right) == bytes(batch.public_key)
    # Tampering: a flipped byte, another job's associated data, garbage, a truncated box.
    flipped = box[:-1] + bytes([box[-1] ^ 1])
    for forged, with_aad in (
        (flipped, aad),
        (box, letters._aad(Job().pk)),
        (b"\x01" + b"x" * 80, aad),
        (box[:40], aad),
    ):
        with pytest.raises(sealedbox.SealedBoxError):
            sealedbox.open_box(forged, key=right, aad=with_aad)


def test_forged_and_garbage_requests(client, election):
    off = official()
    client.force_login(off)
    job = start(client, election)
    # Another election's address for this job, a job of another kind, a job that does not exist: not found.
    e2 = ElectionFactory(phase=Phase.REVIEW)
    ElectionRole.objects.create(user=off, role=Role.OFFICIAL, election=e2)
    assert client.post(reverse("ballots:codes_letters", args=[e2.slug, job.pk])).status_code == 404
    Job.objects.filter(pk=job.pk).update(kind="tally.certify")
    assert client.post(letters_url(job)).status_code == 404
    Job.objects.filter(pk=job.pk).update(kind=letters.KIND)
    assert client.get(f"/vote/manage/{election.slug}/codes/letters/not-a-uuid/").status_code == 404
    # A garbled cookie: refused with the reason, never a 500; the letters stay for the real one.
    good = client.cookies[letters.cookie_name(job.pk)].value
    for garbage in ("", "!!!", "A" * 10, "A" * 43 + "=", "A" * 5000):
        client.cookies[letters.cookie_name(job.pk)] = garbage
        r = client.post(letters_url(job))
        assert r.status_code == 403, (garbage, r.status_code)
    # A well-formed cookie of the wrong key: refused too.
    client.cookies[letters.cookie_name(job.pk)] = letters._b64(b"k" * 32)
    r = client.post(letters_url(job))
    assert r.status_code == 403 and b"do not open with this browser" in r.content
    client.cookies[letters.cookie_name(job.pk)] = good
    # A resident, a signed-out visitor: no letters page at all.
    client.force_login(UserFactory())
    assert client.post(letters_url(job)).status_code == 403
    client.logout()
    assert client.post(letters_url(job)).status_code == 302  # to sign in
    client.force_login(off)
    assert client.get(letters_url(job)).status_code == 200
    # Signing out deletes the session, and with it the session's half: the letters can no longer be opened.
    client.logout()
    client.force_login(off)
    assert client.post(letters_url(job)).status_code == 403
    assert letters.sealed_path(CodeLetterBatch.objects.get(job=job)).exists()


def test_no_letters_without_a_public_url_and_no_job(client, election, settings):
    settings.PB_PUBLIC_URL = ""
    client.force_login(official())
    r = client.post(reverse("ballots:codes_generate", args=[election.slug]), {"limit": 10, "output": "pdf"})
    assert r.status_code == 409 and "PB_PUBLIC_URL" in r.content.decode()
    assert not Job.objects.exists() and not VotingCode.objects.exists()
    client.force_login(UserFactory())
    r = client.post(reverse("ballots:codes_generate", args=[election.slug]), {"limit": 10, "output": "pdf"})
    assert r.status_code == 403 and not Job.objects.exists()


def test_letters_for_listed_references_print_them_and_keep_no_reference(client, election, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(official())
    refs = SimpleUploadedFile("refs.csv", b"reference\nw-2\nW-0\n")
    job = start(client, election, references=refs)
    assert job.status == "done", job.failure
    batch = CodeLetterBatch.objects.get(job=job)
    assert batch.by_reference and bytes(batch.references_sealed) == b""  # emptied once the letters exist
    text = pdf_text(tmp_path, client.post(letters_url(job)).content)
    assert text.index("Voter reference: W-2") < text.index("Voter reference: W-0")
    assert VotingCode.objects.count() == 2


# --- The production backend: the request only enqueues ------------------------------------------------------


def test_the_request_only_enqueues(client, election, database_tasks, monkeypatch, tmp_path):
    def in_the_request(*a, **kw):
        raise AssertionError("the letters were made inside the request")

    client.force_login(official())
    with monkeypatch.context() as m:
        m.setattr(letters, "code_sheets_pdf", in_the_request)
        m.setattr(code_services, "codes_prepare", in_the_request)
        job = start(client, election)
        assert job.status == "queued" and not VotingCode.objects.exists()
        page = client.get(reverse("core:job", args=[job.pk])).content.decode()
        assert 'data-status="queued"' in page and 'hx-trigger="every 1s"' in page
        assert '<meta http-equiv="refresh"' in page
        fragment = client.get(reverse("core:job", args=[job.pk]), headers={"HX-Request": "true"})
        assert fragment.content.decode().lstrip().startswith('<div id="job-status"')
        # Not ready yet: the download says so and keeps everything.
        early = client.post(letters_url(job))
        assert early.status_code == 409 and b"not ready yet" in early.content
        # A second click while it waits follows the same job, and keeps the key of the first.
        cookie = client.cookies[letters.cookie_name(job.pk)].value
        assert start(client, election).pk == job.pk
        assert client.cookies[letters.cookie_name(job.pk)].value == cookie
        task = DBTaskResult.objects.get(status="READY")
        assert task.args_kwargs["args"] == [str(job.pk)]
        assert public_key_only(task, job)
    with TestCase.captureOnCommitCallbacks(execute=True):
        _run_worker_in_process()
    job.refresh_from_db()
    assert job.status == "done" and (job.done, job.total) == (4, 4), job.failure
    got = client.post(letters_url(job))
    assert (
        got.status_code == 200
        and len(re.findall(r"L-[0-9A-Z]{4}-[0-9A-Z]{4}", pdf_text(tmp_path, got.content))) == 4
    )


def public_key_only(task, job) -> bool:
    """The task's arguments are the job's id only: no key, no reference, no code."""
    return task.args_kwargs == {"args": [str(job.pk)], "kwargs": {}}


# --- Failure, retry, twice, taken back --------------------------------------------------------------------


def test_a_failed_batch_says_why_leaves_nothing_and_is_retried_from_its_page(
    client, election, monkeypatch, tmp_path
):
    off = official()
    client.force_login(off)
    with monkeypatch.context() as m:

        def broken(*a, **kw):
            raise OSError("No space left on device")

        m.setattr(letters, "code_sheets_pdf", broken)
        job = start(client, election)
    assert job.status == "failed" and "OSError" in job.failure and "Retry" in job.failure
    assert not VotingCode.objects.exists()
    d = letters._dir(election.pk)
    assert not list(d.glob("*"))  # neither the sealed letters nor a mail-merge file
    page = client.get(reverse("core:job", args=[job.pk])).content.decode()
    assert 'id="job-failure"' in page and 'id="job-retry"' in page
    # Personal: another official may not retry it.
    other = Client()
    other.force_login(official())
    assert other.post(reverse("core:job_retry", args=[job.pk])).status_code == 403
    r = client.post(reverse("core:job_retry", args=[job.pk]))
    assert r.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.retries) == ("done", 1), job.failure
    assert active_codes() == 4 and VotingCode.objects.values("batch").distinct().count() == 1
    got = client.post(letters_url(job))  # the retry sealed to the same browser
    assert got.status_code == 200
    assert len(re.findall(r"L-[0-9A-Z]{4}-[0-9A-Z]{4}", pdf_text(tmp_path, got.content))) == 4
    assert not list(d.glob("*.sealed")) and len(list(d.glob("*.csv"))) == 1  # the mail-merge file waits


def test_a_batch_raced_by_another_fails_whole_and_the_retry_leaves_them_out(client, election, monkeypatch):
    off = official()
    client.force_login(off)
    real = letters.code_sheets_pdf

    def meanwhile(election_, sheets, **kw):
        # Another official's batch commits for one of these voters while the letters are laid out.
        pdf = real(election_, sheets, **kw)
        code_services.codes_issue(
            actor=official(),
            election=election_,
            prepared=code_services.codes_prepare(
                election=election_, chosen=[(sheets[0].voter, "")], batch="other"
            ),
            batch="other",
            district=None,
            by_reference=False,
        )
        return pdf

    with monkeypatch.context() as m:
        m.setattr(letters, "code_sheets_pdf", meanwhile)
        job = start(client, election)
    assert job.status == "failed" and "got a code from another batch" in job.failure
    # The failed job's transaction held the other batch too (one connection here); what counts is that no
    # voter holds two active codes and this batch left nothing.
    assert not VotingCode.objects.filter(batch=CodeLetterBatch.objects.get(job=job).batch).exists()
    assert not list(letters._dir(election.pk).glob("*.sealed"))
    code_services.codes_generate(actor=off, election=election, references=["W-0"], batch="other")
    client.post(reverse("core:job_retry", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == "done" and job.result["letters"] == 3
    per_voter = VotingCode.objects.filter(status="active").values("voter").distinct().count()
    assert per_voter == active_codes() == 4


def _batch_of(job) -> CodeLetterBatch:
    return CodeLetterBatch.objects.get(job=job)


def _one_batch(job, n=4):
    batch = _batch_of(job)
    assert VotingCode.objects.count() == n == VotingCode.objects.filter(batch=batch.batch).count()
    assert AuditEvent.objects.filter(action="codes.generate").count() == 1
    assert letters.sealed_path(batch).exists()
    assert len(list(letters._dir(job.election_id).glob("*.sealed"))) == 1
    assert len(list(letters._dir(job.election_id).glob("*.csv"))) == 1


def test_a_letters_job_delivered_twice_makes_one_batch(client, election, database_tasks):
    client.force_login(official())
    job = start(client, election)
    with TestCase.captureOnCommitCallbacks(execute=True):
        _run_worker_in_process()
    first = letters.sealed_path(_batch_of(job)).read_bytes()
    # The worker died between our commit and its own: the same task comes again, as a second attempt.
    job_tasks().update(status="READY", worker_ids=["gone"])
    _run_worker_in_process()
    assert job_tasks().get().status == "SUCCESSFUL"
    job.refresh_from_db()
    assert job.status == "done"
    _one_batch(job)
    assert letters.sealed_path(_batch_of(job)).read_bytes() == first  # not made again
    # Even a job put back in the queue by hand finds its batch and does nothing.
    Job.objects.filter(pk=job.pk).update(status="queued")
    assert jobs.job_run(job_id=str(job.pk)).status == "done"
    _one_batch(job)
    assert client.post(letters_url(job)).status_code == 200


def test_a_batch_taken_back_from_a_dead_worker_is_made_once(client, election, database_tasks):
    client.force_login(official())
    job = start(client, election)
    batch = _batch_of(job)
    # What a worker killed after sealing the letters, before its commit, leaves: the task and the job
    # claimed, a sealed file and a mail-merge file of codes that were never recorded.
    job_tasks().update(status="RUNNING", worker_ids=["gone"], started_at=timezone.now())
    Job.objects.filter(pk=job.pk).update(status="running", phase="Laying out the letters", done=2, total=4)
    letters.sealed_path(batch).write_bytes(b"left by the dead worker")
    (letters._dir(election.pk) / f"letters-{job.pk.hex}.csv").write_text("left,by,the dead worker\n")
    # A first attempt delivered again while a live worker runs the job does nothing.
    assert jobs.job_run(job_id=str(job.pk)).status == "running"
    lease.worker_register(worker_id="gone", queues="default")
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - dt.timedelta(hours=1), pid=2**22 + 1)
    with TestCase.captureOnCommitCallbacks(execute=True):
        _run_worker_in_process()
    job.refresh_from_db()
    assert job.status == "done", job.failure
    _one_batch(job)
    assert len(job_tasks().get().worker_ids) == 2
    assert b"dead worker" not in letters.sealed_path(batch).read_bytes()
    assert client.post(letters_url(job)).status_code == 200


# --- Letters nobody downloaded ------------------------------------------------------------------------------


def test_letters_not_downloaded_in_time_are_deleted_and_their_codes_voided(client, election):
    off = official()
    client.force_login(off)
    job = start(client, election)
    batch = _batch_of(job)
    codes_page = reverse("ballots:codes", args=[election.slug])
    assert "4 letters to download" in client.get(codes_page).content.decode()
    CodeLetterBatch.objects.filter(pk=batch.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    page = client.get(codes_page).content.decode()
    assert "letters to download" not in page and "Mail-merge files of your letters" not in page
    assert not letters.sealed_path(batch).exists() and not list(letters._dir(election.pk).glob("*"))
    assert VotingCode.objects.filter(status=CodeStatus.VOID).count() == 4 and active_codes() == 0
    assert AuditEvent.objects.filter(action="codes.letters_expired", data__voided=4).count() == 1
    r = client.post(letters_url(job))
    assert r.status_code == 410 and b"not downloaded in time" in r.content
    # Those voters may be given letters again; the sweep does not run twice.
    assert start(client, election).status == "done" and active_codes() == 4
    client.get(codes_page)
    assert AuditEvent.objects.filter(action="codes.letters_expired").count() == 1


def test_the_worker_voids_expired_letters_on_time_without_any_page(client, election, database_tasks):
    """A finished batch queues its own expiry sweep for when its letters expire (run_after): the codes
    nobody received are voided on time even if no official opens the codes page again."""
    client.force_login(official())
    job = start(client, election)
    with TestCase.captureOnCommitCallbacks(execute=True):
        _run_worker_in_process()
    batch = _batch_of(job)
    assert active_codes() == 4
    sweep = DBTaskResult.objects.get(task_path__endswith="code_letters_sweep_task")
    assert abs(sweep.run_after - (batch.expires_at + dt.timedelta(minutes=1))) < dt.timedelta(seconds=1)
    _run_worker_in_process()  # not due yet: the worker leaves it
    assert DBTaskResult.objects.get(pk=sweep.pk).status == "READY" and active_codes() == 4
    # A day later (the batch expired, the sweep is due), with nobody on any page:
    CodeLetterBatch.objects.filter(pk=batch.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    DBTaskResult.objects.filter(pk=sweep.pk).update(run_after=timezone.now() - dt.timedelta(seconds=1))
    _run_worker_in_process()
    assert DBTaskResult.objects.get(pk=sweep.pk).status == "SUCCESSFUL"
    assert active_codes() == 0 and VotingCode.objects.filter(status=CodeStatus.VOID).count() == 4
    assert not letters.sealed_path(batch).exists()
    assert AuditEvent.objects.filter(action="codes.letters_expired", data__voided=4).count() == 1
