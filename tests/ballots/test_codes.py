"""Voting codes: generation (PDF once, hash stored), void, reissue; code format and entropy."""

import datetime as dt
import re
import shutil
import subprocess

import pytest
from django.urls import reverse

from ballots.models import CodeStatus, VotingCode
from ballots.roll import entries as roll
from pb.core.models import AuditEvent, Phase
from tests.ballots.roll_support import make_voter
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


def letters_download(client, response):
    """Follow a PDF batch from the generate form's answer: the job's page (the immediate backend of the tests
    ran the job in the request), its result link, then the one download. The response of the download."""
    assert response.status_code == 302 and response["Location"].startswith("/jobs/"), response.status_code
    job = client.get(response["Location"]).content.decode()
    assert 'data-status="done"' in job, job[-2000:]
    link = re.search(r'id="job-result-link" href="([^"]+)"', job).group(1)
    assert 'id="letters-download"' in client.get(link).content.decode()
    return client.post(link)


def test_generate_pdf_one_page_per_voter(client, election, tmp_path):
    client.force_login(official())
    wola = election.pots.get(slug="wola")
    r = letters_download(
        client,
        client.post(
            reverse("ballots:codes_generate", args=[election.slug]),
            {"limit": 10, "output": "pdf", "district": wola.pk},
        ),
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
    assert lines[0] == "reference,roll_entry,district,code,letter_reference"
    assert [ln.split(",")[:3:2] for ln in lines[1:]] == [["M-0", "mokotow"], ["W-2", "wola"]]
    assert VotingCode.objects.count() == 2
    # One unknown reference: nothing is made, and the message names it.
    refs = SimpleUploadedFile("refs.txt", b"W-0\nNOPE-1\n")
    r = client.post(url, {"limit": 10, "output": "csv", "references": refs})
    assert (
        r.status_code == 400 and "NOPE-1" in r.content.decode() and "No code was made" in r.content.decode()
    )
    assert VotingCode.objects.count() == 2


# --- Letters: letter reference, the configured public address, the mail-merge file -------------------------


def _pdf_text(tmp_path, content: bytes) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils (pdftotext) not installed")
    pdf = tmp_path / "letters.pdf"
    pdf.write_bytes(content)
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


LETTER = re.compile(r"L-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")


def _generate_pdf(client, election, district=None, **extra):
    r = client.post(
        reverse("ballots:codes_generate", args=[election.slug]),
        {"limit": 10, "output": "pdf", "district": district.pk if district else ""},
        **extra,
    )
    return letters_download(client, r) if r.status_code == 302 else r


def test_letters_print_the_public_url_not_the_host_used(client, election, settings, tmp_path):
    settings.ALLOWED_HOSTS = ["intranet.example.local", "testserver"]
    client.force_login(official())
    r = _generate_pdf(client, election, election.pots.get(slug="wola"), HTTP_HOST="intranet.example.local")
    assert r.status_code == 200
    text = _pdf_text(tmp_path, r.content)
    assert f"{PUBLIC}/vote/{election.slug}/identify/" in text
    assert "intranet" not in text and "testserver" not in text


@pytest.mark.parametrize(
    "value", ["", "pb.example.org", "javascript:alert(1)", "ftp://pb.example.org", "https://"]
)
def test_no_letters_without_a_public_url(client, election, settings, value):
    settings.PB_PUBLIC_URL = value
    off = official()
    client.force_login(off)
    r = _generate_pdf(client, election)
    assert r.status_code == 409
    assert "PB_PUBLIC_URL" in r.content.decode() and "no code was made" in r.content.decode()
    assert not VotingCode.objects.exists()
    # Reissue: the voter's code is not voided for a letter that cannot be printed.
    make_code_for = client.post(
        reverse("ballots:codes_generate", args=[election.slug]),
        {"limit": 10, "output": "csv", "district": ""},
    )
    assert make_code_for.status_code == 200  # CSV output prints no address: allowed
    r = client.post(reverse("ballots:codes_reissue", args=[election.slug]), {"reference": "W-1"})
    assert r.status_code == 409
    assert not VotingCode.objects.filter(status=CodeStatus.VOID).exists()
    assert not AuditEvent.objects.filter(action="codes.reissue").exists()


def test_each_letter_has_its_own_reference_and_no_roll_entry(client, election, tmp_path):
    client.force_login(official())
    r = _generate_pdf(client, election, election.pots.get(slug="wola"))
    text = _pdf_text(tmp_path, r.content)
    letters = LETTER.findall(text)
    assert len(letters) == 3 and len(set(letters)) == 3
    assert "Letter reference:" in text and "Roll entry" not in text


def _mailmerge_dir(settings, election):
    return settings.PB_VAR_DIR / "code_letters" / str(election.pk)


def test_mailmerge_file_matches_letters_to_roll_entries_once(client, election, settings, tmp_path):
    off = official()
    client.force_login(off)
    wola = election.pots.get(slug="wola")
    r = _generate_pdf(client, election, wola)
    letters = LETTER.findall(_pdf_text(tmp_path, r.content))
    # Kept apart from the roll: a file of its own, readable by the server's user only.
    d = _mailmerge_dir(settings, election)
    [csv_path] = d.glob("*.csv")
    assert d.stat().st_mode & 0o777 == 0o700 and csv_path.stat().st_mode & 0o777 == 0o600
    page = client.get(reverse("ballots:codes", args=[election.slug])).content.decode()
    assert "Batch " in page and "3 letters" in page
    url = reverse("ballots:codes_mailmerge", args=[election.slug, csv_path.stem])
    got = client.post(url)
    assert got.status_code == 200 and got["Cache-Control"] == "no-store"
    rows = [ln.split(",") for ln in got.content.decode().splitlines()]
    assert rows[0] == ["letter_reference", "roll_entry", "district"]
    assert sorted(r[0] for r in rows[1:]) == sorted(letters)
    entries = {str(v) for v in VotingCode.objects.values_list("voter_id", flat=True)}
    assert {r[1] for r in rows[1:]} == entries and {r[2] for r in rows[1:]} == {"wola"}
    codes_text = got.content.decode().replace("-", "")
    assert not any(
        VotingCode.objects.filter(code_hash=roll.code_hash(w)).exists()
        for w in re.findall(r"[0-9A-Z]{12}", codes_text)
    )
    # Once: gone from the disk and from the page; a second download is refused with a clear message.
    assert not list(d.glob("*"))
    again = client.post(url)
    assert again.status_code == 400 and "already downloaded" in again.content.decode()
    assert (
        "Mail-merge files of your letters"
        not in client.get(reverse("ballots:codes", args=[election.slug])).content.decode()
    )
    actions = list(
        AuditEvent.objects.filter(action__startswith="codes.mailmerge").values_list("action", flat=True)
    )
    assert actions == ["codes.mailmerge", "codes.mailmerge_download"]


def test_mailmerge_file_is_only_for_the_official_who_made_it(client, election, settings):
    maker, other = official(), official()
    client.force_login(maker)
    _generate_pdf(client, election)
    [csv_path] = _mailmerge_dir(settings, election).glob("*.csv")
    url = reverse("ballots:codes_mailmerge", args=[election.slug, csv_path.stem])
    client.force_login(other)
    assert (
        "Mail-merge files of your letters"
        not in client.get(reverse("ballots:codes", args=[election.slug])).content.decode()
    )
    r = client.post(url)
    assert r.status_code == 400 and "does not exist or was already downloaded" in r.content.decode()
    assert csv_path.exists()  # still there for its owner
    client.force_login(UserFactory())
    assert client.post(url).status_code == 403
    assert client.get(url).status_code == 405  # a download changes state: POST only
    # Another election's URL with this file's name: not found there.
    e2 = ElectionFactory(phase=Phase.REVIEW)
    client.force_login(maker)
    assert client.post(reverse("ballots:codes_mailmerge", args=[e2.slug, csv_path.stem])).status_code == 400
    assert client.post(url).status_code == 200


@pytest.mark.parametrize("name", ["..", "....etc-passwd-x", "a" * 10, "x" * 65, "..%2F..%2Fsecret"])
def test_mailmerge_names_are_not_paths(client, election, name):
    client.force_login(official())
    r = client.post(f"/vote/manage/{election.slug}/codes/mailmerge/{name}/")
    assert r.status_code in (400, 404)


def test_reissued_letter_has_a_reference_and_the_public_url(client, election, tmp_path):
    client.force_login(official())
    client.post(reverse("ballots:codes_generate", args=[election.slug]), {"limit": 10, "output": "csv"})
    r = client.post(reverse("ballots:codes_reissue", args=[election.slug]), {"reference": "W-1"})
    assert r.status_code == 200
    text = _pdf_text(tmp_path, r.content)
    assert len(LETTER.findall(text)) == 1 and f"{PUBLIC}/vote/{election.slug}/identify/" in text


def test_office_matches_letters_to_addresses(client, election, settings, tmp_path):
    """The whole office flow: district letters + mail-merge file + roll_entries on the office's own list of
    references gives letter reference -> reference (-> address), for every letter."""
    import io

    from django.core.management import CommandError, call_command

    off = official(username="clerk-mm")
    client.force_login(off)
    r = _generate_pdf(client, election, election.pots.get(slug="wola"))
    letters = LETTER.findall(_pdf_text(tmp_path, r.content))
    [csv_path] = _mailmerge_dir(settings, election).glob("*.csv")
    merge = client.post(reverse("ballots:codes_mailmerge", args=[election.slug, csv_path.stem]))
    letter_to_entry = {
        row[0]: row[1] for row in (ln.split(",") for ln in merge.content.decode().splitlines()[1:])
    }
    addresses = tmp_path / "addresses.csv"
    addresses.write_text(
        "name,reference,street\nA,w-0,1 Elm St\nB,W-1,2 Elm St\nC,W-2,3 Elm St\nD,NOPE,4 Elm St\n"
    )
    out = io.StringIO()
    call_command("roll_entries", election.slug, str(addresses), "--as", "clerk-mm", stdout=out)
    rows = [ln.split(",") for ln in out.getvalue().splitlines()]
    assert rows[0] == ["reference", "roll_entry"] and rows[-1] == ["NOPE", ""]
    entry_to_ref = {entry: ref for ref, entry in rows[1:] if entry}
    assert sorted(entry_to_ref[letter_to_entry[letter]] for letter in letters) == ["W-0", "W-1", "W-2"]
    assert AuditEvent.objects.filter(action="roll.lookup", data__references=4, data__found=3).exists()
    with pytest.raises(CommandError, match="role"):
        call_command(
            "roll_entries", election.slug, str(addresses), "--as", UserFactory().username, stdout=out
        )


def test_mailmerge_file_never_downloaded_expires(client, election, settings):
    import datetime as dt_
    import json

    from ballots.roll.codes import MAILMERGE_MAX_AGE

    client.force_login(official())
    _generate_pdf(client, election, election.pots.get(slug="wola"))
    d = _mailmerge_dir(settings, election)
    [meta] = d.glob("*.json")
    data = json.loads(meta.read_text())
    old = dt_.datetime.fromisoformat(data["created"]) - MAILMERGE_MAX_AGE - dt_.timedelta(minutes=1)
    meta.write_text(json.dumps({**data, "created": old.isoformat()}))
    page = client.get(reverse("ballots:codes", args=[election.slug])).content.decode()
    assert "Mail-merge files of your letters" not in page
    assert not list(d.glob("*"))
