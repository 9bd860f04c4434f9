import csv
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pb.core.models import AuditEvent, Phase
from proposals.models import Proposal, ProposalImportJob, ProposalStatus
from tests.factories import (
    CategoryFactory,
    ElectionFactory,
    PotFactory,
    ProposalFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HEADER = ["title", "description", "pot", "category", "cost", "location"]
GOOD_ROWS = [
    ["Library garden", "Raised beds behind the library", "north", "parks", "15000", "Library"],
    ["Bus shelter", "A shelter at the market stop", "South", "Roads", "42000", "Market"],
]


def csv_file(rows, header=HEADER, name="proposals.csv"):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return SimpleUploadedFile(name, buf.getvalue().encode("utf-8"), content_type="text/csv")


def xlsx_file(rows, header=HEADER):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append([int(c) if c.isdigit() else c for c in r])
    buf = io.BytesIO()
    wb.save(buf)
    return SimpleUploadedFile("proposals.xlsx", buf.getvalue())


def upload(client, election, f):
    """Upload, then follow to the job page: the check ran in the request (tests/conftest.py's
    ImmediateBackend), so the page shows the preview."""
    return client.post(reverse("proposals:import", args=[election.slug]), {"file": f}, follow=True)


def confirm(client, election, job_id, **kw):
    return client.post(reverse("proposals:import_confirm", args=[election.slug]), {"job": str(job_id)}, **kw)


def refused(resp) -> bool:
    """Refused by the upload form (400, no job), or by the background check (the job page: it has errors)."""
    if resp.status_code == 400:
        return not ProposalImportJob.objects.exists()
    return resp.status_code == 200 and resp.context["job"].status == ProposalImportJob.Status.INVALID


@pytest.mark.parametrize("make", [csv_file, xlsx_file])
def test_preview_then_confirm_imports_every_row(client, election, off, make):
    ProposalFactory(pot=election.pots.first(), code="P007")
    resp = upload(client, election, make(GOOD_ROWS))
    assert resp.status_code == 200
    report = resp.context["report"]
    assert [(r.number, r.code, r.ok) for r in report.rows] == [(1, "P008", True), (2, "P009", True)]
    assert Proposal.objects.count() == 1  # the preview imported nothing
    job = resp.context["job"]
    assert job.status == ProposalImportJob.Status.READY
    resp = confirm(client, election, job.pk)
    assert resp.status_code == 302
    assert resp["Location"] == reverse("proposals:import_job", args=[election.slug, job.pk])
    imported = Proposal.objects.exclude(code="P007").order_by("code")
    assert [(p.code, p.title, p.pot.slug, p.category.slug, p.cost, p.status) for p in imported] == [
        ("P008", "Library garden", "north", "parks", 15000, ProposalStatus.SUBMITTED),
        ("P009", "Bus shelter", "south", "roads", 42000, ProposalStatus.SUBMITTED),
    ]
    assert "library garden" in imported[0].search_text  # found by the diacritic-blind search too
    event = AuditEvent.objects.get(action="proposal.import")
    assert event.data["codes"] == ["P008", "P009"] and event.actor_id == off.pk


def test_bad_rows_each_get_a_message_and_nothing_is_imported(client, election, off):
    rows = [
        GOOD_ROWS[0],
        ["Bad cost", "x", "north", "parks", "-5", ""],
        ["Fraction", "x", "north", "parks", "12.5", ""],
        ["Words", "x", "north", "parks", "lots", ""],
        ["Unknown district", "x", "atlantis", "parks", "100", ""],
        ["Unknown category", "x", "north", "space", "100", ""],
        ["T" * 141, "x", "north", "parks", "100", ""],
        ["", "no title", "north", "parks", "100", ""],
        GOOD_ROWS[1],
    ]
    resp = upload(client, election, csv_file(rows))
    assert refused(resp)
    report = resp.context["report"]
    errors = {r.number: " ".join(r.errors) for r in report.rows}
    assert errors[1] == "" and errors[9] == ""
    assert "positive whole number" in errors[2]
    assert "not a whole number" in errors[3] and "not a whole number" in errors[4]
    assert "Unknown district “atlantis”" in errors[5] and "north, south" in errors[5]
    assert "Unknown category “space”" in errors[6]
    assert "at most 140 characters" in errors[7]
    assert "title" in errors[8] and "blank" in errors[8]
    assert "7 of 9 rows are invalid" in resp.content.decode()
    assert "import-confirm-form" not in resp.content.decode()
    assert confirm(client, election, resp.context["job"].pk).status_code == 409
    assert not Proposal.objects.exists() and not AuditEvent.objects.exists()


def test_a_file_that_went_bad_between_preview_and_confirm_imports_nothing(
    client, election, off, settings, tmp_path
):
    settings.PB_VAR_DIR = tmp_path
    resp = upload(client, election, csv_file(GOOD_ROWS))
    job = resp.context["job"]
    path = tmp_path / "imports" / f"{job.pk}.csv"
    # Someone else takes the district away meanwhile: the import task re-validates every row.
    path.write_bytes(path.read_bytes().replace(b"South", b"Nowhere"))
    resp = confirm(client, election, job.pk, follow=True)
    assert resp.context["job"].status == ProposalImportJob.Status.INVALID
    assert "Unknown district" in resp.content.decode()
    assert not Proposal.objects.exists() and not path.exists()


@pytest.mark.parametrize(
    ("f", "message"),
    [
        (
            csv_file([r[:3] for r in GOOD_ROWS], header=["title", "description", "pot"]),
            "Missing columns: cost",
        ),
        (csv_file(GOOD_ROWS, header=[*HEADER[:5], "colour"]), "Unknown columns: colour"),
        (SimpleUploadedFile("p.pdf", b"%PDF-1.4"), "Upload a .csv or .xlsx file"),
        (SimpleUploadedFile("p.xlsx", b"this is not a spreadsheet"), "could not be read as XLSX"),
        (SimpleUploadedFile("p.csv", "title\n".encode("utf-16")), "not UTF-8"),
        (csv_file([]), "no rows"),
    ],
)
def test_bad_files_are_refused_with_a_message(client, election, off, f, message):
    resp = upload(client, election, f)
    assert refused(resp)
    assert message in resp.content.decode()
    assert not Proposal.objects.exists()


def test_confirm_of_an_unknown_job_is_refused(client, election, off):
    assert confirm(client, election, "../../etc/passwd").status_code == 404
    assert confirm(client, election, "6d1f0a4e-1111-4222-8333-944455556666").status_code == 404
    other = ElectionFactory(phase=Phase.REVIEW, slug="elsewhere")
    PotFactory(election=other, slug="north", name="North")
    PotFactory(election=other, slug="south", name="South")
    CategoryFactory(election=other, slug="parks", name="Parks")
    CategoryFactory(election=other, slug="roads", name="Roads")
    job = upload(client, other, csv_file(GOOD_ROWS)).context["job"]
    assert confirm(client, election, job.pk).status_code == 404  # another election's job
    assert not Proposal.objects.exists()


def test_residents_cannot_import_or_export(client, election):
    client.force_login(UserFactory())
    assert upload(client, election, csv_file(GOOD_ROWS)).status_code == 403
    assert client.get(reverse("proposals:export", args=[election.slug, "csv"])).status_code == 403
    assert not Proposal.objects.exists()


def test_import_outside_its_phases_is_refused(client, election, off):
    election.phase = Phase.VOTING_OPEN
    election.save()
    assert upload(client, election, csv_file(GOOD_ROWS)).status_code == 403


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_round_trip(client, election, off, fmt):
    north = election.pots.get(slug="north")
    keep = ProposalFactory(pot=north, title="Kept", cost=1000, adjusted_cost=1500, cost_note="steel")
    ProposalFactory(pot=north, title="Dup", status=ProposalStatus.MERGED, merged_into=keep)
    resp = client.get(reverse("proposals:export", args=[election.slug, fmt]))
    assert resp.status_code == 200
    assert resp["Content-Disposition"].endswith(f'riverton-proposals.{fmt}"')
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8"))))
    else:
        ws = openpyxl.load_workbook(io.BytesIO(resp.content)).active
        values = list(ws.values)
        rows = [dict(zip(values[0], r, strict=True)) for r in values[1:]]
    assert [(r["title"], r["pot"], str(r["final_cost"]), r["merged_into"] or "") for r in rows] == [
        ("Kept", "north", "1500", ""),
        ("Dup", "north", "10000", keep.code),
    ]
    assert AuditEvent.objects.filter(action="proposal.export").count() == 1


def test_the_template_imports_cleanly(client, election, off):
    resp = client.get(reverse("proposals:import_template", args=[election.slug]))
    assert resp.status_code == 200
    f = SimpleUploadedFile("template.csv", resp.content, content_type="text/csv")
    preview = upload(client, election, f)
    assert preview.status_code == 200
    assert [r.ok for r in preview.context["report"].rows] == [True]


def test_one_imported_row_is_reported_in_the_singular(client, election, off):
    resp = upload(client, election, csv_file(GOOD_ROWS[:1]))
    resp = confirm(client, election, resp.context["job"].pk, follow=True)
    page = resp.content.decode()
    assert "1 proposal imported." in page and "1 proposals" not in page


def test_report_numbers_rows_as_a_spreadsheet_does(client, election, off):
    # The header is row 1 in Excel or LibreOffice, so the first data row is row 2 there and in the report.
    resp = upload(client, election, csv_file([GOOD_ROWS[0], ["", "no title", "north", "parks", "100", ""]]))
    assert refused(resp)
    cells = [
        line.strip()
        for line in resp.content.decode().split("<tr")
        if 'class="row-bad"' in line or 'class="row-ok"' in line
    ]
    assert [c.split("<td>")[1].split("</td>")[0] for c in cells] == ["2", "3"]
    assert "Spreadsheet row" in resp.content.decode()


def test_an_unreadable_file_shows_its_message_once(client, election, off):
    resp = upload(client, election, SimpleUploadedFile("p.xlsx", b"garbage\x00\x01"))
    assert refused(resp)
    assert resp.content.decode().count("could not be read as XLSX") == 1


def test_csv_export_opens_in_excel_and_xlsx_costs_are_numbers(client, election, off):
    ProposalFactory(pot=election.pots.get(slug="north"), title="Đèn đường 路灯", cost=1200)
    csv_bytes = client.get(reverse("proposals:export", args=[election.slug, "csv"])).content
    assert csv_bytes.startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to read UTF-8
    assert "Đèn đường 路灯" in csv_bytes.decode("utf-8-sig")
    template = client.get(reverse("proposals:import_template", args=[election.slug])).content
    assert template.startswith(b"\xef\xbb\xbf")
    xlsx = client.get(reverse("proposals:export", args=[election.slug, "xlsx"])).content
    values = list(openpyxl.load_workbook(io.BytesIO(xlsx)).active.values)
    row = dict(zip(values[0], values[1], strict=True))
    assert row["final_cost"] == 1200 and row["cost"] == 1200
