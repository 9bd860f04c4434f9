"""Voting-code letters made by `manage.py task_worker` processes (PostgreSQL: the workers reach the test
database): 200 letters from the codes page to the download, watched on the job page; a worker killed while
laying them out, and another that makes the batch exactly once."""

from __future__ import annotations

import re
import signal
import subprocess

import pytest
from django.test import Client
from django.urls import reverse

from ballots.models import CodeLetterBatch, CodeStatus, VoterRollEntry, VotingCode
from ballots.roll import entries as roll
from ballots.roll import letters
from pb.core.models import AuditEvent, Job, Phase
from tests.core.test_task_worker import _wait
from tests.core.test_task_worker import database_tasks as database_tasks
from tests.core.test_task_worker import workers as workers
from tests.factories import ElectionFactory, PotFactory, official

pytestmark = pytest.mark.postgres

PUBLIC = "https://pb.example.org"
CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")


@pytest.fixture(autouse=True)
def _site(settings, tmp_path, monkeypatch):
    settings.PB_PUBLIC_URL = PUBLIC
    settings.PB_VAR_DIR = tmp_path / "var"
    monkeypatch.setenv("PB_PUBLIC_URL", PUBLIC)  # the workers read it from the environment, as in production


def _election(n: int):
    e = ElectionFactory(phase=Phase.REVIEW)
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    north = PotFactory(election=e, name="North", slug="north")
    VoterRollEntry.objects.bulk_create(
        VoterRollEntry(
            election=e,
            ref_hash=roll.ref_hash(f"N-{i}"),
            ref_dob_hash=roll.ref_dob_hash(f"N-{i}", "1990-01-01"),
            birth_year=1990,
            district=north,
        )
        for i in range(n)
    )
    return e


def _start(election, n: int) -> tuple[Client, Job]:
    client = Client()
    client.force_login(official())
    r = client.post(
        reverse("ballots:codes_generate", args=[election.slug]), {"limit": n, "output": "pdf", "district": ""}
    )
    assert r.status_code == 302 and r["Location"].startswith("/jobs/"), r.content.decode()[-1000:]
    job = Job.objects.get(pk=r["Location"].removeprefix("/jobs/").strip("/"))
    assert job.status == "queued"  # nothing ran in the request
    return client, job


def _watch(client, job, pool, seen: list, *, timeout=180) -> str:
    url = reverse("core:job", args=[job.pk])

    def finished():
        html = client.get(url, headers={"HX-Request": "true"}).content.decode()
        count = re.search(r'<progress id="job-progress" max="(\d+)" value="(\d+)"', html)
        if count:
            seen.append((int(count.group(2)), int(count.group(1))))
        return html if 'data-status="done"' in html or 'data-status="failed"' in html else None

    try:
        return _wait(finished, timeout=timeout, what="the letters job")
    except AssertionError:
        raise AssertionError(pool.logs()) from None


def _download(client, job, tmp_path) -> list[str]:
    got = client.post(reverse("ballots:codes_letters", args=[job.election.slug, job.pk]))
    assert got.status_code == 200 and got["Content-Type"] == "application/pdf", got.content.decode()[-800:]
    path = tmp_path / "letters.pdf"
    path.write_bytes(got.content)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1))
    codes = CODE.findall(text)
    assert pages == len(codes)
    return codes


def _issued_once(codes: list[str], n: int) -> None:
    assert len(codes) == len(set(codes)) == n
    hashes = {roll.code_hash(roll.normalize_code(c)) for c in codes}
    active = VotingCode.objects.filter(status=CodeStatus.ACTIVE)
    assert set(active.values_list("code_hash", flat=True)) == hashes  # every printed code, nothing else
    assert active.values("voter").distinct().count() == n == VotingCode.objects.count()
    assert AuditEvent.objects.filter(action="codes.generate").count() == 1


def test_two_hundred_letters_made_by_the_worker_and_downloaded_once(workers, tmp_path):
    election = _election(200)
    client, job = _start(election, 200)
    workers.start()
    seen: list = []
    html = _watch(client, job, workers, seen)
    assert 'data-status="done"' in html and "200 letters are ready" in html, html
    assert any(0 < done < total == 200 for done, total in seen), seen  # progress moved on the page
    job.refresh_from_db()
    assert (job.done, job.total) == (200, 200)
    codes = _download(client, job, tmp_path)
    _issued_once(codes, 200)
    batch = CodeLetterBatch.objects.get(job=job)
    assert batch.downloaded_at is not None and not letters.sealed_path(batch).exists()
    again = client.post(reverse("ballots:codes_letters", args=[election.slug, job.pk]))
    assert again.status_code == 410


def test_a_worker_killed_while_laying_out_letters_another_makes_the_batch_once(workers, tmp_path):
    election = _election(200)
    client, job = _start(election, 200)
    first = workers.start()
    _wait(
        lambda: Job.objects.filter(pk=job.pk, status="running", done__gt=0).exists(),
        what="the first worker to lay out some letters",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert not VotingCode.objects.exists()  # nothing of the batch committed
    assert Job.objects.get(pk=job.pk).status == "running"
    workers.start()  # takes the dead worker's task back once its heartbeat has lapsed
    html = _watch(client, job, workers, [])
    assert 'data-status="done"' in html, html
    codes = _download(client, job, tmp_path)
    _issued_once(codes, 200)
    assert not list(letters._dir(election.pk).glob("*.tmp"))  # killed before sealing: nothing half-written


def test_two_officials_batches_for_the_same_voters_at_once_give_each_voter_one_code(workers, tmp_path):
    election = _election(100)
    (a, job_a), (b, job_b) = _start(election, 100), _start(election, 100)
    workers.start()
    workers.start()  # two workers: the two batches are laid out side by side
    _watch(a, job_a, workers, [])
    _watch(b, job_b, workers, [])
    jobs = sorted(Job.objects.filter(pk__in=[job_a.pk, job_b.pk]), key=lambda j: j.status)
    assert [j.status for j in jobs] == ["done", "failed"], [(j.status, j.failure) for j in jobs]
    # Refused whole: raced at the lock, or chosen after the other had committed.
    assert "another batch" in jobs[1].failure or "already has a voting code" in jobs[1].failure
    winner = a if jobs[0].pk == job_a.pk else b
    _issued_once(_download(winner, jobs[0], tmp_path), 100)
    assert not list(letters._dir(election.pk).glob(f"{jobs[1].pk.hex}*"))
