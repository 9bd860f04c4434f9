"""Voter roll import through HTTP (upload → preview with row errors → confirm) and the service."""

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ballots.models import ImportJob, VoterRollEntry
from ballots.roll import entries as roll
from ballots.roll.services import roll_import
from pb.core.exceptions import PermissionDenied
from pb.core.models import AuditEvent, Phase
from tests.factories import ElectionFactory, PotFactory, UserFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.REVIEW, min_age=16, age_reference_date=dt.date(2026, 6, 1))
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    PotFactory(election=e, name="Mokotów", slug="mokotow")
    PotFactory(election=e, name="Wola", slug="wola")
    return e


def _csv(rows, header=("reference", "date_of_birth", "district", "contact")) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


GOOD = [
    ("PL-001", "1980-02-03", "mokotow", "a@example.org"),
    ("PL-002", "2010-06-02", "Wola", ""),  # 15 on 1 June 2026: on the roll, not age-eligible
    ("PL-003", "2010-06-01", "wola", ""),  # 16 exactly on the reference day
]


def _upload(client, election, content: bytes, name="roll.csv"):
    return client.post(
        reverse("ballots:roll", args=[election.slug]), {"file": SimpleUploadedFile(name, content)}
    )


def test_upload_preview_confirm(client, election, var_dir):
    client.force_login(official())
    r = _upload(client, election, _csv(GOOD))
    assert r.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.READY and job.rows_total == 3
    page = client.get(r.url)
    assert "No problems found" in page.content.decode()
    assert VoterRollEntry.objects.count() == 0  # the preview writes nothing
    r = client.post(reverse("ballots:roll_confirm", args=[election.slug, job.pk]))
    assert r.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.imported == 3
    assert not list(var_dir.glob("roll_uploads/*.csv"))  # the clear-text file is deleted
    entries = {e.ref_hash: e for e in VoterRollEntry.objects.select_related("district")}
    e1 = entries[roll.ref_hash("pl-001")]
    assert e1.district.slug == "mokotow" and e1.birth_year == 1980 and e1.age_eligible
    assert e1.ref_dob_hash == roll.ref_dob_hash("PL-001", "1980-02-03")
    assert e1.contact_hash == roll.contact_hash("A@example.org")
    assert not entries[roll.ref_hash("PL-002")].age_eligible
    assert entries[roll.ref_hash("PL-003")].age_eligible
    # Nothing in clear anywhere in the stored rows.
    stored = str(list(VoterRollEntry.objects.values()))
    assert "PL-001" not in stored and "1980-02-03" not in stored and "example.org" not in stored
    assert AuditEvent.objects.filter(action="roll.import", data__imported=3).exists()


def test_row_errors_reported_and_nothing_imported(client, election):
    client.force_login(official())
    bad = [
        *GOOD,
        ("", "1980-01-01", "wola", ""),
        ("PL-010", "31/02/1990", "wola", ""),
        ("PL-011", "1990-01-01", "Praga", ""),
        ("PL-001", "1990-01-01", "wola", ""),
        ("PL-012", "2999-01-01", "wola", ""),
    ]
    r = _upload(client, election, _csv(bad))
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.INVALID
    html = client.get(r.url).content.decode()
    assert "The voter reference is missing." in html
    assert "“31/02/1990” is not a date" in html
    assert "“Praga” is not a district of this election" in html
    assert "This voter reference is also on row 2 of the file." in html
    assert "impossible" in html
    rows = {(e["row"], e["column"]) for e in job.errors}
    assert rows == {
        (5, "reference"),
        (6, "date_of_birth"),
        (7, "district"),
        (8, "reference"),
        (9, "date_of_birth"),
    }
    assert "Import these voters" not in html
    confirm = client.post(reverse("ballots:roll_confirm", args=[election.slug, job.pk]))
    assert confirm.status_code == 409
    assert VoterRollEntry.objects.count() == 0
    report = client.get(reverse("ballots:roll_errors", args=[election.slug, job.pk]))
    assert report.status_code == 200 and b"Praga" in report.content


def test_duplicate_against_existing_roll(election, tmp_path):
    off = official()
    path = tmp_path / "a.csv"
    path.write_bytes(_csv(GOOD))
    assert roll_import(actor=off, election=election, path=path).imported == 3
    path.write_bytes(_csv([("pl-001", "1980-02-03", "mokotow", ""), ("PL-100", "1970-01-01", "wola", "")]))
    report = roll_import(actor=off, election=election, path=path)
    assert report.imported == 0
    assert [e.message for e in report.errors] == ["This voter reference is already on the roll."]
    assert VoterRollEntry.objects.count() == 3


def test_missing_column_and_semicolon_csv(election, tmp_path):
    off = official()
    path = tmp_path / "b.csv"
    path.write_text("ref;dob;pot\nX1;1990-02-01;Mokotów\n", encoding="utf-8")
    assert roll_import(actor=off, election=election, path=path).imported == 1
    path.write_text("reference,district\nX2,wola\n", encoding="utf-8")
    with pytest.raises(Exception, match="no “date_of_birth” column"):
        roll_import(actor=off, election=election, path=path)


def test_xlsx_upload(client, election):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Voter reference", "Date of birth", "District"])
    ws.append(["X-1", dt.date(1990, 1, 1), "wola"])
    ws.append(["X-2", dt.datetime(2012, 1, 1), "nowhere"])  # noqa: DTZ001 (Excel dates are naive)
    buf = io.BytesIO()
    wb.save(buf)
    client.force_login(official())
    r = _upload(client, election, buf.getvalue(), name="roll.xlsx")
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.INVALID, job.errors
    assert job.errors == [
        {
            "row": 3,
            "column": "district",
            "message": "Line 3: “nowhere” is not a district of this election. Use one of: Mokotów, Wola.",
        }
    ]
    assert "nowhere" in client.get(r.url).content.decode()


@pytest.mark.parametrize(
    ("phase", "allowed"),
    [(p, p in {Phase.DRAFT, Phase.PROPOSALS_OPEN, Phase.SUPPORTS, Phase.REVIEW}) for p in Phase.values],
)
def test_permission_matrix(election, tmp_path, phase, allowed):
    election.phase = phase
    election.save()
    path = tmp_path / "c.csv"
    path.write_bytes(_csv(GOOD))
    for user, role_ok in ((official(), True), (UserFactory(), False)):
        if allowed and role_ok:
            assert roll_import(actor=user, election=election, path=path, dry_run=True).rows == 3
        else:
            with pytest.raises(PermissionDenied):
                roll_import(actor=user, election=election, path=path, dry_run=True)


def test_resident_cannot_open_roll_pages(client, election):
    client.force_login(UserFactory())
    assert client.get(reverse("ballots:roll", args=[election.slug])).status_code == 403
    r = _upload(client, election, _csv(GOOD))
    assert r.status_code == 403
    assert not ImportJob.objects.exists()


def test_progress_partial_polls_while_running(client, election, var_dir):
    from ballots.roll import services as services_roll

    client.force_login(official())
    job = ImportJob.objects.create(election=election, filename="big.csv", status=ImportJob.Status.IMPORTING)
    services_roll._write_progress(job.pk, phase="writing", done=250_000, total=1_000_000)
    url = reverse("ballots:roll_job", args=[election.slug, job.pk])
    r = client.get(url, headers={"HX-Request": "true"})
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html
    assert 'id="job-panel"' in html and 'hx-trigger="every 1s"' in html
    assert 'id="job-progress" max="1000000" value="250000"' in html
    # Finished: the panel stops polling and shows the result.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.DONE, imported=1_000_000)
    html = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in html and 'id="job-done"' in html


def test_progress_reported_in_chunks(election, tmp_path):
    path = tmp_path / "p.csv"
    rows = [(f"R{i}", "1990-01-01", "wola", "") for i in range(25)]
    path.write_bytes(_csv(rows))
    seen = []
    cols, problems, it = roll.open_roll_file(path)
    assert not problems
    report = roll.import_rows(
        election, cols, it, dry_run=False, chunk=10, progress=lambda phase, n: seen.append((phase, n))
    )
    assert report.imported == 25
    assert seen == [("checking", 10), ("checking", 20), ("writing", 10), ("writing", 20), ("writing", 25)]


def test_roll_export_has_hashes_only(client, election, tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(_csv(GOOD))
    off = official()
    roll_import(actor=off, election=election, path=path)
    client.force_login(off)
    r = client.get(reverse("ballots:roll_export", args=[election.slug]))
    text = r.content.decode()
    assert r.status_code == 200
    assert text.splitlines()[0].strip() == "id,district,birth_year,age_eligible,booth,ref_hash"
    assert roll.ref_hash("PL-001") in text and "PL-001" not in text and "1980-02-03" not in text
    xlsx = client.get(reverse("ballots:roll_export", args=[election.slug]) + "?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    client.force_login(UserFactory())
    assert client.get(reverse("ballots:roll_export", args=[election.slug])).status_code == 403


def test_roll_and_codes_pages_for_official(client, election, tmp_path):
    path = tmp_path / "g.csv"
    path.write_bytes(_csv(GOOD))
    off = official()
    roll_import(actor=off, election=election, path=path)
    client.force_login(off)
    html = client.get(reverse("ballots:roll", args=[election.slug])).content.decode()
    assert "3 voters on the roll" in html and "Mokotów" in html and 'id="roll-upload-form"' in html
    html = client.get(reverse("ballots:codes", args=[election.slug])).content.decode()
    assert 'id="codes-generate-form"' in html and "Active: 0" in html
    election.phase = Phase.VOTING_CLOSED
    election.save()
    html = client.get(reverse("ballots:roll", args=[election.slug])).content.decode()
    assert 'id="roll-upload-form"' not in html


def test_bom_and_wrong_encoding(election, tmp_path):
    off = official()
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffreference,date_of_birth,district\nB-1,1990-01-01,Mokotów\n".encode())
    assert roll_import(actor=off, election=election, path=path).imported == 1
    path.write_bytes("reference,date_of_birth,district\nB-2,1990-01-01,Mokotów\n".encode("latin-1"))
    with pytest.raises(Exception, match="not UTF-8"):
        roll_import(actor=off, election=election, path=path)
    assert VoterRollEntry.objects.count() == 1


def test_broken_xlsx_is_a_clear_failure(client, election):
    client.force_login(official())
    r = _upload(client, election, b"not a spreadsheet", name="roll.xlsx")
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    assert "cannot be read as CSV or XLSX" in client.get(r.url).content.decode()


def test_upload_page_chooses_the_job_id_it_polls(client, election):
    import re
    import uuid

    client.force_login(official())
    html = client.get(reverse("ballots:roll", args=[election.slug])).content.decode()
    job_id = re.search(r'name="job_id" value="([0-9a-f-]{36})"', html).group(1)
    assert f'data-progress-url="{reverse("ballots:roll_job", args=[election.slug, job_id])}"' in html
    r = client.post(
        reverse("ballots:roll", args=[election.slug]),
        {"job_id": job_id, "file": SimpleUploadedFile("roll.csv", _csv(GOOD))},
    )
    assert r.url == reverse("ballots:roll_job", args=[election.slug, job_id])
    assert ImportJob.objects.get().pk == uuid.UUID(job_id)
    # The same id again (a resubmitted form) gets a fresh job rather than touching the first.
    client.post(
        reverse("ballots:roll", args=[election.slug]),
        {"job_id": job_id, "file": SimpleUploadedFile("roll.csv", _csv(GOOD))},
    )
    assert ImportJob.objects.count() == 2


# --- Roll data that cannot mislead: one date format, real districts only ------------------------------------


def _import(election, tmp_path, rows, name="r.csv"):
    path = tmp_path / name
    path.write_bytes(_csv(rows))
    return roll_import(actor=official(), election=election, path=path)


@pytest.mark.parametrize("value", ["03/04/1990", "04/03/1990", "3.4.1990", "03-04-1990", "3/4/90"])
def test_ambiguous_dates_are_refused_with_line_and_format(election, tmp_path, value):
    report = _import(election, tmp_path, [GOOD[0], ("PL-050", value, "wola", "")])
    assert report.imported == 0 and VoterRollEntry.objects.count() == 0
    [err] = report.errors
    assert (err.row, err.column) == (3, "date_of_birth")
    assert err.message.startswith(f"Line 3: “{value}” is ambiguous")
    assert "YYYY-MM-DD" in err.message


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("31/02/1990", "is not a date in the expected format YYYY-MM-DD"),
        ("13/04/1990", "is not a date in the expected format YYYY-MM-DD"),  # not ambiguous, still not ISO
        ("1990-02-30", "is not a real date (YYYY-MM-DD)"),
        ("1990-4-3", "is not a date in the expected format YYYY-MM-DD"),
        ("19900403", "is not a date in the expected format YYYY-MM-DD"),  # fromisoformat would take it
        ("1990-04-03T00:00", "is not a date in the expected format YYYY-MM-DD"),
        ("1990-04-03 garbage", "is not a date in the expected format YYYY-MM-DD"),
        ("١٩٩٠-٠٤-٠٣", "is not a date in the expected format YYYY-MM-DD"),  # Arabic-Indic digits
        ("April 3, 1990", "is not a date in the expected format YYYY-MM-DD"),
    ],
)
def test_non_iso_dates_are_refused(election, tmp_path, value, says):
    report = _import(election, tmp_path, [("PL-051", value, "wola", "")])
    assert report.imported == 0
    [err] = report.errors
    assert err.message.startswith(f"Line 2: “{value}” ") and says in err.message, err.message


def test_iso_date_is_read_as_written(election, tmp_path):
    report = _import(election, tmp_path, [("PL-052", "1990-04-03", "wola", "")])
    assert report.imported == 1
    entry = VoterRollEntry.objects.get()
    assert entry.birth_year == 1990
    assert entry.ref_dob_hash == roll.ref_dob_hash("PL-052", "1990-04-03")


def test_ambiguous_date_refused_over_http_with_the_line(client, election):
    client.force_login(official())
    r = _upload(client, election, _csv([*GOOD, ("PL-060", "03/04/1990", "wola", "")]))
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.INVALID
    html = client.get(r.url).content.decode()
    assert "Line 5: “03/04/1990” is ambiguous" in html and "YYYY-MM-DD" in html
    assert "Import these voters" not in html


@pytest.mark.parametrize("district", ["city", "Citywide", " CITYWIDE "])
def test_citywide_pot_is_not_a_home_district(election, tmp_path, district):
    report = _import(election, tmp_path, [GOOD[0], ("PL-070", "1990-01-01", district, "")])
    assert report.imported == 0 and VoterRollEntry.objects.count() == 0
    [err] = report.errors
    assert (err.row, err.column) == (3, "district")
    assert "is the citywide pot, not a home district" in err.message
    assert err.message.endswith("Give the voter's district: Mokotów, Wola.")


def test_unknown_district_names_the_allowed_ones(election, tmp_path):
    report = _import(election, tmp_path, [("PL-071", "1990-01-01", "Praga", "")])
    [err] = report.errors
    assert err.message == "Line 2: “Praga” is not a district of this election. Use one of: Mokotów, Wola."


def test_election_with_only_a_citywide_pot_says_so(tmp_path):
    e = ElectionFactory(phase=Phase.REVIEW)
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    report = _import(e, tmp_path, [("PL-072", "1990-01-01", "city", "")])
    [err] = report.errors
    assert "(this election has no district yet)" in err.message


def test_xlsx_text_dates_follow_the_same_rule(client, election):
    """A date typed as text in a spreadsheet cell is refused like in a CSV; a real date cell is fine."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["reference", "date_of_birth", "district"])
    ws.append(["X-1", dt.date(1990, 4, 3), "wola"])
    ws.append(["X-2", "03/04/1990", "wola"])
    ws.append(["X-3", 32966, "wola"])  # an Excel serial number stored as a plain number
    buf = io.BytesIO()
    wb.save(buf)
    client.force_login(official())
    _upload(client, election, buf.getvalue(), name="roll.xlsx")
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.INVALID
    assert [(e["row"], e["column"]) for e in job.errors] == [(3, "date_of_birth"), (4, "date_of_birth")]
    assert job.errors[0]["message"].startswith("Line 3: “03/04/1990” is ambiguous")
