"""The public verify page does bounded work: the body is refused from CONTENT_LENGTH before it is read
(413), each client may verify PB_VERIFY_RATE_COUNT times per window (429 + Retry-After, also before the body
is read), and at most PB_VERIFY_CONCURRENCY verifications are queued or running at once on the whole site.
The tests run tasks immediately: a POST's redirect (followed) leads to the finished report."""

import datetime as dt
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ballots.models import ThrottleBucket
from tally.models import VerifyJob
from tally.verification import limits as verify_limits

URL = "/results/verify/"
ADDR = "203.0.113.5"  # not a trusted proxy: its X-Forwarded-For is ignored


def _pdf(size: int = 200) -> SimpleUploadedFile:
    return SimpleUploadedFile("r.pdf", b"%PDF-1.7\n" + b"0" * size, content_type="application/pdf")


def _claimed(client, length: int, *, addr: str = ADDR, **extra):
    """A POST that claims `length` bytes but carries ten: any attempt to read the body would fail the
    test client's payload ("Cannot read more than ..."), so a refusal proves nothing was read."""
    return client.generic(
        "POST",
        URL,
        b"0123456789",
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(length),
        REMOTE_ADDR=addr,
        **extra,
    )


def test_url_is_the_verify_page():
    assert reverse("tally:verify") == URL


@pytest.mark.django_db
def test_over_the_limit_is_413_before_the_body_is_read(keys, settings):
    client = Client(raise_request_exception=True)
    r = _claimed(client, settings.PB_VERIFY_MAX_BYTES + 1)
    assert r.status_code == 413
    text = r.content.decode()
    assert "at most 8 MB" in text and "python -m tally verify" in text
    # 58 MB, as in the report that took the site down: refused the same way, nothing counted.
    assert _claimed(client, 58 * 1024 * 1024).status_code == 413
    assert not ThrottleBucket.objects.filter(key__startswith="verify:").exists()


@pytest.mark.django_db
def test_a_real_oversized_upload_is_413_and_under_the_limit_is_verified(keys, settings, client):
    settings.PB_UPLOAD_LIMITS = {**settings.PB_UPLOAD_LIMITS, "tally:verify": 64 * 1024}
    settings.PB_REQUEST_MAX_BYTES = 16 * 1024
    r = client.post(URL, {"pdf": _pdf(100 * 1024)}, REMOTE_ADDR=ADDR, follow=True)
    assert r.status_code == 413
    # over the general limit, under the page's
    r = client.post(URL, {"pdf": _pdf(30 * 1024)}, REMOTE_ADDR=ADDR, follow=True)
    assert r.status_code == 422 and b"FAIL" in r.content  # verified (and the garbage PDF fails)


@pytest.mark.django_db
def test_other_endpoints_take_only_the_general_limit(client, settings):
    r = client.generic(
        "POST",
        "/proposals/some-election/new/",
        b"x",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(settings.PB_REQUEST_MAX_BYTES + 1),
    )
    assert r.status_code == 413
    r = client.generic(
        "POST", "/nowhere/at/all/", b"x", content_type="text/plain", CONTENT_LENGTH="99999999999"
    )
    assert r.status_code == 413
    r = client.generic("POST", URL, b"x", content_type="text/plain", CONTENT_LENGTH="12abc")
    assert r.status_code == 400


@pytest.mark.django_db
def test_rate_limit_per_client_with_retry_after(keys, settings):
    settings.PB_VERIFY_RATE_COUNT = 3
    settings.PB_VERIFY_RATE_WINDOW = 600
    client = Client(raise_request_exception=True)
    for _ in range(3):
        assert client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR, follow=True).status_code == 422
    r = client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR, follow=True)
    assert r.status_code == 429 and 0 < int(r["Retry-After"]) <= 600
    assert "verified 3 times" in r.content.decode()
    # Refused before the body is read (a claimed megabyte that is not there is never asked for).
    assert _claimed(client, 1024 * 1024).status_code == 429
    # A forged X-Forwarded-For from a client that is not a trusted proxy changes nothing.
    r = client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR, HTTP_X_FORWARDED_FOR="198.51.100.77", follow=True)
    assert r.status_code == 429
    # Another address (and the same /64 of IPv6 counts as one) is not affected.
    assert client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR="198.51.100.1", follow=True).status_code == 422
    # The window passes: allowed again.
    ThrottleBucket.objects.filter(key__startswith="verify:").update(
        window_start=timezone.now() - dt.timedelta(seconds=601)
    )
    assert client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR, follow=True).status_code == 422


@pytest.mark.django_db
def test_ipv6_clients_are_counted_per_64(keys, settings):
    settings.PB_VERIFY_RATE_COUNT = 2
    client = Client()
    assert client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR="2001:db8:1:2::1", follow=True).status_code == 422
    assert client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR="2001:db8:1:2::2", follow=True).status_code == 422
    assert (
        client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR="2001:db8:1:2:ffff::9", follow=True).status_code == 429
    )


@pytest.mark.django_db
def test_site_wide_slots_bound_queued_and_running_verifications(keys, settings):
    settings.PB_VERIFY_CONCURRENCY = 2
    client = Client(raise_request_exception=True)
    now = timezone.now()
    jobs = [  # two verifications waiting for, or running in, the public workers
        VerifyJob.objects.create(status=status, created_at=now) for status in ("queued", "running")
    ]
    r = _claimed(client, 1024 * 1024)
    assert r.status_code == 429 and "Other verifications are running" in r.content.decode()
    assert r["Retry-After"] == "30"
    assert VerifyJob.objects.count() == 2  # the refused request reserved nothing
    # A job lost by a killed request or worker stops holding its slot after STALE.
    VerifyJob.objects.filter(pk=jobs[1].pk).update(created_at=now - verify_limits.STALE)
    assert client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR, follow=True).status_code == 422
    # ... and a finished job frees its slot: the one just checked is done, its upload dropped.
    done = VerifyJob.objects.exclude(pk__in=[j.pk for j in jobs]).get()
    assert done.status == "done" and bytes(done.upload) == b""
    VerifyJob.objects.filter(pk=jobs[0].pk).update(status="done")
    VerifyJob.objects.filter(pk=jobs[1].pk).update(created_at=now)
    assert client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR, follow=True).status_code == 422


@pytest.mark.django_db
def test_csrf_is_still_checked_after_the_limits(keys):
    client = Client(enforce_csrf_checks=True)
    r = client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR, follow=True)
    assert r.status_code == 403
    page = client.get(URL)
    assert page.status_code == 200 and 'id="verify-limit"' in page.content.decode()
    token = page.cookies["csrftoken"].value
    r = client.post(URL, {"pdf": _pdf(), "csrfmiddlewaretoken": token}, REMOTE_ADDR=ADDR, follow=True)
    assert r.status_code == 422


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_from_one_client_each_count(keys, settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://…")
    settings.PB_VERIFY_RATE_COUNT = 3
    settings.PB_VERIFY_CONCURRENCY = 20
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def one():
        client = Client()
        barrier.wait()
        try:
            statuses.append(client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR, follow=True).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [422] * 3 + [429] * 5


@pytest.mark.django_db
def test_ballot_files_are_recounted_only_for_a_document_the_council_signed(world, settings):
    """An unsigned (or altered) document could ask the server for any amount of counting: the page checks
    the signatures first and re-counts only a signed document's files."""
    from tally.filestore import election_dir

    settings.PB_VERIFY_RATE_COUNT = 100
    cert = world.through_certify()
    world.publish()
    folder = election_dir(world.election)
    files = [
        SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.suffix != ".pdf"
    ]
    genuine = (folder / cert.pdf_name).read_bytes()
    client = Client(raise_request_exception=True)
    page = client.post(URL, {"pdf": _named("r.pdf", genuine), "files": files}, REMOTE_ADDR=ADDR, follow=True)
    assert page.status_code == 200 and b"re-run greedy" in page.content
    # The same files with the document altered after signing (an incremental update): no re-count.
    for f in files:
        f.seek(0)
    altered = genuine + b"\n% a forged revision\n"
    page = client.post(URL, {"pdf": _named("r.pdf", altered), "files": files}, REMOTE_ADDR=ADDR, follow=True)
    text = page.content.decode()
    assert page.status_code == 422
    assert "re-run" not in text and "not run here: the document&#x27;s signatures did not verify" in text


def _named(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/pdf")


@pytest.mark.django_db
def test_too_many_files_or_fields_is_400_and_frees_the_slot(keys, settings):
    settings.PB_VERIFY_CONCURRENCY = 1
    client = Client(raise_request_exception=False)
    files = [
        SimpleUploadedFile(f"f{i}.jsonl", b"{}") for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)
    ]
    r = client.post(URL, {"pdf": _pdf(), "files": files}, REMOTE_ADDR=ADDR, follow=True)
    assert r.status_code == 400
    assert not VerifyJob.objects.exists()  # the slot is given back
    assert client.post(URL, {"pdf": _pdf()}, REMOTE_ADDR=ADDR, follow=True).status_code == 422
