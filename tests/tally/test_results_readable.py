"""The results page and the PDF read well in every language: official translations of names, decisions in
words, plural-aware counts, one number format per language, keyboard-reachable tables, and a tagged PDF/A-3
whose verify command is never broken. Translations are display only: the signed files never change."""

import io
import re
import subprocess
from html import unescape

import pytest
from django.utils import translation

from ballots.definition import frozen_definition
from pb.core.services import election_names_translate
from proposals.services import proposal_translate
from tally import explain
from tally.certification.pdf import VERIFY_COMMAND, render_result_pdf
from tally.filestore import election_dir
from tally.models import Certification

from .conftest import World

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site_language_afterwards():
    """Requests here ask for vi and zh-hans; the language a response activated must not leak into the
    tests that run next in this thread."""
    yield
    translation.activate("en")


CODES = ("zero_score", "under_threshold", "not_reached", "funded_by_completion", "not_affordable")
# A number as each language writes it (pb/core/formats): grouped by three from four digits on, and its own
# decimal sign; "20,460.10" on a Vietnamese page or an ungrouped "40000" is another convention.
NUMBER = {
    "en": r"(\d{1,3}(,\d{3})+|\d{1,3})(\.\d+)?",
    "vi": r"(\d{1,3}(\.\d{3})+|\d{1,3})(,\d+)?",
    "zh-hans": r"(\d{1,3}(,\d{3})+|\d{1,3})(\.\d+)?",
}


def _cells(html: str) -> list[str]:
    """The text of every figure cell and of every "why not" and round sentence."""
    main = html[html.find("<main") :]
    cells = re.findall(r'<td class="(?:num[^"]*|cell-reason)">(.*?)</td>', main, re.S)
    cells += re.findall(r"<li>([^<]*)</li>", main)
    return [unescape(re.sub(r"<[^>]+>", " ", c)) for c in cells]


def assert_one_number_format(texts: list[str], lang: str) -> None:
    for text in texts:
        for number in re.findall(r"(?<!\w)\d(?:[\d.,]*\d)?(?!\w)", text):
            assert re.fullmatch(NUMBER[lang], number), f"{lang}: {number!r} in {text!r}"


def test_the_number_check_catches_the_other_convention():
    for lang, bad in (
        ("vi", "it needed 1,040,000"),
        ("vi", "20,460.10 left"),
        ("zh-hans", "40.000.000 EUR"),
        ("vi", "40000"),
    ):
        with pytest.raises(AssertionError):
            assert_one_number_format([bad], lang)
    assert_one_number_format(["P012 40.000 EUR, 98,3 %"], "vi")


@pytest.fixture
def published(keys):
    world = World(n_online=30, n_paper=0)
    # A project nobody chose: a round with the "zero_score" decision and an unfunded reason.
    world.close()
    world.tally()
    world.signoffs()
    cert = world.certify()
    world.publish()
    return world, cert


def test_results_in_every_language_with_translated_names_and_unchanged_signed_files(client, published):
    world, cert = published
    election = world.election
    signed = {p.name: p.read_bytes() for p in election_dir(election).rglob("*") if p.is_file()}
    definition = frozen_definition(election)
    election_names_translate(actor=world.o1, election=election, pots={"north": {"vi": "Quận Bắc"}})
    n1 = world.north.proposals.get(code="N1")
    proposal_translate(actor=world.o1, proposal=n1, titles={"zh-hans": "北区公园"}, descriptions={})
    url = f"/results/{election.slug}/"
    for lang in ("en", "vi", "zh-hans"):
        page = client.get(url, HTTP_ACCEPT_LANGUAGE=lang)
        assert page.status_code == 200
        html = page.content.decode()
        text = unescape(re.sub(r"<[^>]+>", " ", html[html.find("<main") :]))
        for code in CODES:
            assert code not in text, (lang, code)
        assert not re.search(r"\b1 (ballots|batches|votes)\b", text)
        # Every sideways-scrolling table is a named keyboard tab stop (axe scrollable-region-focusable).
        wraps = re.findall(r'<div class="table-wrap"[^>]*>', html)
        assert wraps and all(
            'tabindex="0"' in w and 'role="region"' in w and "aria-label" in w for w in wraps
        )
        assert_one_number_format(_cells(html), lang)
        assert ("Quận Bắc" in html) == (lang == "vi")
        assert ("北区公园" in html) == (lang == "zh-hans")
    # Display only: the frozen definition and every signed, published file are byte for byte the same.
    assert frozen_definition(election) == definition
    assert {p.name: p.read_bytes() for p in election_dir(election).rglob("*") if p.is_file()} == signed
    assert "Quận Bắc" not in Certification.objects.get(pk=cert.pk).manifest


def _pdf_pages(pdf: bytes, tmp_path) -> list[str]:
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True)
    return [p for p in out.stdout.split("\f") if p.strip()]


def test_the_pdf_is_tagged_pdfa3_its_command_whole_and_its_last_page_not_near_empty(published, tmp_path):
    world, cert = published
    election = world.election
    election_names_translate(actor=world.o1, election=election, pots={"north": {"vi": "Quận Bắc"}})
    signed = (election_dir(election) / cert.pdf_name).read_bytes()
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature

    reader = PdfFileReader(io.BytesIO(signed))
    root = reader.root
    assert bool(root["/MarkInfo"]["/Marked"]) and "/StructTreeRoot" in root  # tagged for screen readers
    assert "/Lang" in root
    xmp = root["/Metadata"].get_object().data
    assert re.search(rb'pdfaid:conformance(="A"|>A<)', xmp) and re.search(rb'pdfaid:part(="3"|>3<)', xmp)
    assert "/EmbeddedFiles" in root["/Names"]  # the manifest and its signature stay attached
    status = validate_pdf_signature(reader.embedded_signatures[0])
    assert status.intact and status.valid and status.coverage.name == "ENTIRE_FILE"
    (tmp_path / "signed.pdf").write_bytes(signed)
    pdfsig = subprocess.run(["pdfsig", str(tmp_path / "signed.pdf")], capture_output=True, text=True)
    assert "Signature Validation: Signature is Valid." in pdfsig.stdout, pdfsig.stdout
    for lang in ("en", "vi", "zh-hans"):
        with translation.override(lang):
            pages = _pdf_pages(render_result_pdf(election=election, certification=cert, sign=False), tmp_path)
        whole = "\n".join(pages)
        assert VERIFY_COMMAND in whole, lang  # on one line, never hyphenated or broken at a dash
        for code in CODES:
            assert code not in whole
        assert not re.search(r"\(1 ballots|\b1 batches\b", whole)
        assert ("Quận Bắc" in whole) == (lang == "vi")
        # The closing section moves whole: the last page is never a few stray lines.
        assert len(pages[-1].split()) >= 40, (lang, pages[-1])


def test_explain_never_shows_a_code_and_keeps_unknown_reasons():
    with translation.override("vi"):
        assert explain.decision_label("zero_score") != "zero_score"
        assert explain.decision_label("brand_new_code") == "brand new code"
        r = {"decision": "skipped", "score": 3, "cost": 1_200_000, "remaining_before": 5_000, "reason": "x"}
        assert "1.200.000 VND" in explain.round_reason(r, "VND")
        assert (
            explain.unfunded_reason(
                "P1", "its 1,028 supporters had 20,460.10 left in total, it needed 30,000", [], "EUR"
            ).count("1.028")
            == 1
        )
        assert (
            explain.localize_numbers("order (seed '2024'), P012 cost 40,000")
            == "order (seed '2024'), P012 cost 40.000"
        )
        assert explain.round_reason({"decision": "funded", "reason": "MES pick"}, "EUR") == "MES pick"
        assert explain.tie_reason("published order (seed 'x')").endswith("(seed 'x')")


# A number written the other convention's way, or a long one written without grouping (not inside a hash,
# an id or a date).
WRONG = {
    "vi": r"(?<![\w.,:-])(\d{1,3}(,\d{3})+|\d{5,})(?![\w:-]|[.,]\d)",
    "zh-hans": r"(?<![\w.,:-])(\d{1,3}(\.\d{3})+|\d{5,})(?![\w:-]|[.,]\d)",
}


@pytest.mark.slow
def test_riverton_2025_page_and_pdf_in_vi_and_zh_show_one_number_format(keys, client, tmp_path):
    from django.core.management import call_command

    from pb.core.models import Election

    call_command("demo_load")
    election = Election.objects.get(slug="riverton-2025")
    cert = Certification.objects.get(election=election)
    for lang in ("vi", "zh-hans"):
        html = client.get(f"/results/{election.slug}/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()
        assert_one_number_format(_cells(html), lang)
        with translation.override(lang):
            pages = _pdf_pages(render_result_pdf(election=election, certification=cert, sign=False), tmp_path)
        whole = "\n".join(pages)
        wrong = [m.group(0) for m in re.finditer(WRONG[lang], whole)]
        assert not wrong, (lang, wrong[:10])
        assert VERIFY_COMMAND in whole and len(pages[-1].split()) >= 40
