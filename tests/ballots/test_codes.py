"""Voting codes: generation (PDF once, hash stored), void, reissue; code format and entropy."""

import datetime as dt
import re
import shutil
import subprocess

import pytest
from django.urls import reverse

from ballots import roll
from ballots.models import CodeStatus, VotingCode
from pb.core.models import AuditEvent, Phase
from tests.ballots.roll_support import make_voter
from tests.factories import ElectionFactory, PotFactory, UserFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.REVIEW)
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    wola = PotFactory(election=e, name="Wola", slug="wola")
    mokotow = PotFactory(election=e, name="Mokotów", slug="mokotow")
    for i in range(3):
        make_voter(e, wola, ref=f"W-{i}")
    make_voter(e, mokotow, ref="M-0")
    make_voter(e, mokotow, ref="KID", dob=dt.date(2015, 1, 1))  # too young: gets no code
    return e


def test_code_format():
    codes = {roll.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for c in list(codes)[:50]:
        parts = c.split("-")
        assert [len(p) for p in parts] == [4, 4, 4]
        assert set(c.replace("-", "")) <= set(roll.CODE_ALPHABET)
        assert not set(c) & set("ILOU")
    assert len(roll.CODE_ALPHABET) ** roll.CODE_LENGTH >= 2**60
    assert roll.normalize_code("abcd efgh jk1m".replace("1", "l")) == "ABCDEFGHJK1M"
    assert roll.normalize_code("ABCD-EFGH-JKU0") is None  # U is not in the alphabet
    assert roll.normalize_code("ABCD") is None


def test_generate_csv_once_and_only_hashes_stored(client, election):
    client.force_login(official())
    r = client.post(
        reverse("ballots:codes_generate", args=[election.slug]),
        {"limit": 10, "output": "csv", "district": ""},
    )
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    lines = r.content.decode().splitlines()[1:]
    assert len(lines) == 4
    codes = [ln.split(",")[3] for ln in lines]
    stored = set(VotingCode.objects.values_list("code_hash", flat=True))
    assert {roll.code_hash(roll.normalize_code(c)) for c in codes} == stored
    assert not any(c in str(list(VotingCode.objects.values())) for c in codes)
    # Everyone has a code now: a second batch makes none.
    again = client.post(
        reverse("ballots:codes_generate", args=[election.slug]),
        {"limit": 10, "output": "csv", "district": ""},
    )
    assert again.status_code == 400
    assert "already has a voting code" in again.content.decode()
    assert AuditEvent.objects.filter(action="codes.generate", data__count=4).exists()


def test_generate_pdf_one_page_per_voter(client, election, tmp_path):
    client.force_login(official())
    wola = election.pots.get(slug="wola")
    r = client.post(
        reverse("ballots:codes_generate", args=[election.slug]),
        {"limit": 10, "output": "pdf", "district": wola.pk},
    )
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert VotingCode.objects.count() == 3
    pdf = tmp_path / "codes.pdf"
    pdf.write_bytes(r.content)
    try:
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        pytest.skip("poppler-utils (pdfinfo) not installed")
    assert re.search(r"^Pages:\s+3$", info, re.M), info
    printed = [w for w in text.split() if len(w) == 14 and w.count("-") == 2]
    assert len(printed) == 3
    assert all(
        VotingCode.objects.filter(code_hash=roll.code_hash(roll.normalize_code(c))).exists() for c in printed
    )
    assert "Wola" in text


def test_void_and_reissue(client, election, tmp_path):
    off = official()
    client.force_login(off)
    r = client.post(
        reverse("ballots:codes_generate", args=[election.slug]),
        {"limit": 10, "output": "csv", "district": ""},
    )
    first = r.content.decode().splitlines()[1].split(",")[3]
    r = client.post(reverse("ballots:codes_void", args=[election.slug]), {"code": first.lower()})
    assert r.status_code == 302
    assert (
        VotingCode.objects.get(code_hash=roll.code_hash(roll.normalize_code(first))).status == CodeStatus.VOID
    )
    r = client.post(reverse("ballots:codes_void", args=[election.slug]), {"code": first})
    assert r.status_code == 400 and "No active voting code matches." in r.content.decode()
    # Reissue W-1: the old code is voided, a new one is returned once as a one-page PDF.
    r = client.post(reverse("ballots:codes_reissue", args=[election.slug]), {"reference": "w-1"})
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    if shutil.which("pdftotext"):  # poppler-utils (installed by CI)
        pdf = tmp_path / "reissued.pdf"
        pdf.write_bytes(r.content)
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "Voter reference: W-1" in text
    statuses = list(
        VotingCode.objects.filter(voter__ref_hash=roll.ref_hash("W-1"))
        .order_by("pk")
        .values_list("status", flat=True)
    )
    assert statuses == [CodeStatus.VOID, CodeStatus.ACTIVE]
    r = client.post(reverse("ballots:codes_reissue", args=[election.slug]), {"reference": "NOBODY"})
    assert r.status_code == 400 and "No voter with this reference" in r.content.decode()
    assert AuditEvent.objects.filter(action="codes.reissue").count() == 1


def test_codes_need_official_and_phase(client, election):
    client.force_login(UserFactory())
    url = reverse("ballots:codes_generate", args=[election.slug])
    assert client.post(url, {"limit": 10, "output": "csv"}).status_code == 403
    client.force_login(official())
    election.phase = Phase.VOTING_CLOSED
    election.save()
    assert client.post(url, {"limit": 10, "output": "csv"}).status_code == 403
    assert not VotingCode.objects.exists()


def test_generate_for_listed_references_prints_them(client, election):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(official())
    url = reverse("ballots:codes_generate", args=[election.slug])
    refs = SimpleUploadedFile("refs.csv", b"name,reference\nAnna,m-0\nBen,W-2\n")
    r = client.post(url, {"limit": 10, "output": "csv", "references": refs})
    assert r.status_code == 200
    lines = r.content.decode().splitlines()
    assert lines[0] == "reference,roll_entry,district,code"
    assert [ln.split(",")[:3:2] for ln in lines[1:]] == [["M-0", "mokotow"], ["W-2", "wola"]]
    assert VotingCode.objects.count() == 2
    # One unknown reference: nothing is made, and the message names it.
    refs = SimpleUploadedFile("refs.txt", b"W-0\nNOPE-1\n")
    r = client.post(url, {"limit": 10, "output": "csv", "references": refs})
    assert (
        r.status_code == 400 and "NOPE-1" in r.content.decode() and "No code was made" in r.content.decode()
    )
    assert VotingCode.objects.count() == 2
