"""UI fixes found in QA on the officials' count page."""

import re

import pytest
from django.urls import reverse

from tally.counting import tally_run_execute
from tests.ballots.cast_support import build_voting
from tests.factories import official

pytestmark = pytest.mark.django_db


def test_count_card_says_what_is_needed_while_voting_is_open(client):
    v = build_voting()
    client.force_login(official())
    html = client.get(reverse("tally:manage", args=[v.election.slug])).content.decode()
    card = html.split('id="h-count"', 1)[1].split("</section>", 1)[0]
    assert 'id="count-pending"' in card and "once the vote is closed" in card
    assert "exports the anonymised ballots" in card
    assert 'id="count-start"' not in card


def test_results_page_shows_amounts_percentages_channels_and_pot_names_readably(world, client):
    world.election.currency = "EUR"
    world.election.save(update_fields=["currency"])
    world.through_certify()
    world.publish()
    html = client.get(reverse("tally:results", args=[world.election.slug])).content.decode()
    assert "Budget 100,000 EUR, funded " in html and "Budget 100000" not in html
    assert re.search(r"<td class=\"num cell-nowrap\">\d{1,3}(,\d{3})* EUR</td>", html)
    share = re.search(r"Share of voters with at least one funded project: ([^<]*)", html).group(1)
    assert re.fullmatch(r"\d+\.\d % · budget used: \d+\.\d %", share.strip()), share
    assert "<td>paper</td>" not in html and "<td>online</td>" not in html  # labels, not stored values
    # The 6 paper voters, split between the two pots, are cells under K: merged, not shown on their own.
    assert "<td>Paper ballot</td>" not in html and "Other channels and booths, merged" in html
    if 'id="h-compare"' in html:
        assert "<td>North</td>" in html


def test_result_pdf_shows_amounts_percentages_and_channel_labels(world):
    import shutil
    import subprocess

    from tally.filestore import election_dir

    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (Debian poppler-utils) is not installed")
    world.election.currency = "EUR"
    world.election.save(update_fields=["currency"])
    cert = world.through_certify()
    pdf = election_dir(world.election) / cert.pdf_name
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    text = " ".join(text.split())  # lines wrap anywhere in the PDF
    assert "Budget 100,000 EUR, funded" in text and "Budget 100000" not in text
    assert re.search(r"Share of voters with at least one funded project: \d+\.\d %", text)
    assert "Paper ballot" in text


def test_result_pdf_keeps_table_rows_on_one_page():
    # A row split over a page break left a project's name on one page and its "why not" on the next.
    from pathlib import Path

    template = Path(__file__).resolve().parents[2] / "templates" / "tally" / "result_pdf.html"
    assert "tr { break-inside: avoid; }" in template.read_text()


def test_what_if_table_has_column_headers(world, client):
    pass

    world.close()
    world.tally()
    client.force_login(world.o1)
    client.post(reverse("tally:action", args=[world.election.slug, "whatif"]), {"rule": "greedy-no-skip"})
    run = world.election.tally_runs.filter(official=False).first()
    tally_run_execute(run_id=run.pk)
    html = client.get(reverse("tally:manage", args=[world.election.slug])).content.decode()
    table = html.split('<table class="whatif">', 1)[1].split("</table>", 1)[0]
    assert "<thead><tr><th>Pot</th><th>Funded</th><th>Cost</th></tr></thead>" in table


def test_chart_is_hidden_from_screen_readers_because_the_tables_carry_the_figures():
    from tally.certification.pdf import bar_chart_svg

    svg = bar_chart_svg([("P1", 10, True), ("P2", 4, False)])
    assert 'aria-hidden="true"' in svg and 'role="img"' not in svg
    assert 'font-size="12"' in svg  # readable when drawn at phone width
