"""Officials' uploads (voter roll, lists of references for voting codes) with broken content get a message
naming the problem and the line, never a 500."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from ballots.models import ImportJob, VotingCode
from pb.core.models import Phase
from tests.ballots.roll_support import make_voter
from tests.factories import ElectionFactory, PotFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(settings, tmp_path):
    settings.PB_PUBLIC_URL = "https://pb.example.org"
    settings.PB_VAR_DIR = tmp_path / "var"


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.REVIEW, min_age=16, age_reference_date=dt.date(2026, 6, 1))
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    wola = PotFactory(election=e, name="Wola", slug="wola")
    make_voter(e, wola, ref="W-1")
    return e


@pytest.fixture
def client_off():
    client = Client(raise_request_exception=False)
    client.force_login(official())
    return client


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"reference\nW-1\n" + b"X" * 200_000 + b"\n", "line 3: a field is longer than 1000 characters"),
        (b"reference\nW-1\n" + b"Y" * 1_500 + b"\n", "line 3: a field is longer than 1000 characters"),
        ("reference\nWół\n".encode("cp1250"), "not UTF-8"),
        (b"", "empty"),
        (b"reference\n\n", "lists no voter reference"),
        (b"reference\n" + b"W-1\n" * 400_000, "too large"),
    ],
)
def test_codes_from_a_broken_reference_list(client_off, election, content, says):
    r = client_off.post(
        reverse("ballots:codes_generate", args=[election.slug]),
        {"limit": 10, "output": "csv", "references": SimpleUploadedFile("refs.csv", content)},
    )
    assert r.status_code == 400, r.status_code
    assert says in r.content.decode()
    assert not VotingCode.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        (
            "roll.csv",
            b"reference,date_of_birth,district\nW-2,1990-01-01,wola\n"
            + b"Z" * 200_000
            + b",1990-01-01,wola\n",
            "line 3",
        ),
        ("roll.xlsx", b"PK\x03\x04 not a workbook", "cannot be read"),
        ("roll.xlsx", b"\x00" * 100, "cannot be read"),
    ],
)
def test_roll_import_of_a_broken_file_fails_with_a_reason(client_off, election, name, content, says):
    r = client_off.post(
        reverse("ballots:roll", args=[election.slug]), {"file": SimpleUploadedFile(name, content)}
    )
    assert r.status_code in (302, 400), r.status_code
    job = ImportJob.objects.get()
    assert job.status in (ImportJob.Status.FAILED, ImportJob.Status.INVALID)
    assert says in str(job.errors), job.errors
    page = client_off.get(reverse("ballots:roll_job", args=[election.slug, job.pk]))
    assert page.status_code == 200


def test_roll_upload_over_its_limit_is_413(client_off, election, settings):
    r = client_off.generic(
        "POST",
        reverse("ballots:roll", args=[election.slug]),
        b"x",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(settings.PB_ROLL_IMPORT_MAX_BYTES + 1),
    )
    assert r.status_code == 413 and "roll_import" in r.content.decode()


@pytest.mark.parametrize("job_id", [" ", "{}", "a\x00b", "not-a-uuid"])
def test_roll_upload_with_a_forged_job_id_is_a_form_error(client_off, election, job_id):
    """Found by tests/core/test_fuzz.py: the page used to reverse its polling URL with the forged id."""
    r = client_off.post(
        reverse("ballots:roll", args=[election.slug]),
        {"job_id": job_id, "file": SimpleUploadedFile("roll.txt.pdf", b"x")},
    )
    assert r.status_code == 400
