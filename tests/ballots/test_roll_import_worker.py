"""A large voter-roll import through the official's pages with a real `manage.py task_worker` process
(PostgreSQL): upload → job page (the worker checks the file) → confirm → the job page polled as the page's
HTMX does, until done. The progress must move while the import runs (it is written outside the import's
transaction, which is all or nothing), and every row must be on the roll exactly once.

100,000 rows: on the 2-core development machine the whole test takes about 6 s (the check and the import
about 1 s each), well inside its ~90 s budget; the import reports progress every 10,000 rows
(services_roll.PROGRESS_EVERY), and the test polls every 50 ms, so it sees many counts."""

import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count
from django.urls import reverse

from ballots.models import ImportJob, VoterRollEntry
from ballots.roll import entries as roll
from pb.core.models import AuditEvent, Phase
from tests.core.test_task_worker import Workers, database_tasks  # noqa: F401 (a fixture)
from tests.factories import ElectionFactory, PotFactory, official

ROWS = 100_000
PROGRESS_RE = re.compile(r'id="job-progress" max="(\d+)" value="(\d+)"')
DISTRICTS = ("north", "south", "east")


@pytest.fixture
def workers(transactional_db, database_tasks, settings, tmp_path):  # noqa: F811 (database_tasks: a fixture)
    w = Workers(tmp_path, settings)
    yield w
    w.stop()


def _ref(i: int) -> str:
    return f"BIG-{i:07d}"


def _roll_csv(n: int) -> bytes:
    lines = ["reference,date_of_birth,district"]
    lines += [f"{_ref(i)},1980-02-03,{DISTRICTS[i % 3]}" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def _poll(client, url: str, *, until, timeout: float, seen: list[tuple[str, int]]) -> ImportJob:
    """GET the job's panel as the page's HTMX poll does, every 50 ms, recording (status, rows done) of each
    answer, until the job's status is one of `until`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(url, headers={"HX-Request": "true"})
        assert r.status_code == 200
        html = r.content.decode()
        status = re.search(r'id="job-status">[^<]*<strong>([^<]*)<', html).group(1)
        match = PROGRESS_RE.search(html)
        seen.append((status, int(match.group(2)) if match else -1))
        job = ImportJob.objects.get(pk=url.rstrip("/").rsplit("/", 1)[1])
        if job.status in until:
            return job
        time.sleep(0.05)
    raise AssertionError(f"the job did not finish within {timeout} s; seen {seen[-5:]}")


@pytest.mark.postgres
def test_a_large_roll_import_runs_on_the_worker_with_progress(workers, settings, tmp_path, client):
    settings.PB_VAR_DIR = tmp_path / "var"
    election = ElectionFactory(phase=Phase.REVIEW)
    for slug in DISTRICTS:
        PotFactory(election=election, name=slug.title(), slug=slug)
    client.force_login(official())
    workers.start()

    roll_url = reverse("ballots:roll", kwargs={"slug": election.slug})
    assert client.get(roll_url).status_code == 200
    upload = SimpleUploadedFile("roll.csv", _roll_csv(ROWS), content_type="text/csv")
    r = client.post(roll_url, {"file": upload, "job_id": ""})
    assert r.status_code == 302, r.content[:2000]
    job_url = r["Location"]
    assert client.get(job_url).status_code == 200

    checked: list[tuple[str, int]] = []
    job = _poll(
        client,
        job_url,
        until={ImportJob.Status.READY, ImportJob.Status.INVALID, ImportJob.Status.FAILED},
        timeout=60,
        seen=checked,
    )
    assert job.status == ImportJob.Status.READY, f"{job.errors}\n{workers.logs()}"
    assert job.rows_total == ROWS
    assert not VoterRollEntry.objects.filter(election=election).exists()  # the check writes nothing

    r = client.post(reverse("ballots:roll_confirm", kwargs={"slug": election.slug, "job_id": job.pk}))
    assert r.status_code == 302
    imported: list[tuple[str, int]] = []
    started = time.monotonic()
    job = _poll(
        client,
        job_url,
        until={ImportJob.Status.DONE, ImportJob.Status.INVALID, ImportJob.Status.FAILED},
        timeout=90,
        seen=imported,
    )
    seconds = time.monotonic() - started
    assert job.status == ImportJob.Status.DONE, f"{job.errors}\n{workers.logs()}"
    assert job.imported == ROWS

    # The page saw the import move: at least three different counts of rows done while it ran.
    running = [done for _status, done in imported if done > 0]
    changes = sum(1 for a, b in zip([0, *running], running, strict=False) if a != b)
    print(f"import of {ROWS} rows: {seconds:.1f} s, {len(imported)} polls, {changes} saw a new count")
    assert len(set(running)) >= 3, (seconds, imported)
    page = client.get(job_url).content.decode()
    assert 'id="job-done"' in page

    # Every row exactly once: as many entries as rows, and exactly the file's references.
    entries = VoterRollEntry.objects.filter(election=election)
    assert entries.count() == ROWS
    assert set(entries.values_list("ref_hash", flat=True)) == {roll.ref_hash(_ref(i)) for i in range(ROWS)}
    per_district = dict(entries.values_list("district__slug").annotate(n=Count("id")).order_by())
    assert per_district == {slug: ROWS // 3 + (k < ROWS % 3) for k, slug in enumerate(DISTRICTS)}
    assert AuditEvent.objects.filter(action="roll.import").count() == 1
