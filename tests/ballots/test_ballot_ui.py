"""UI fixes found in QA, pinned with the Django client: the ballot shows what each project is, officials'
tables scroll inside their card on a phone instead of widening the page, and warning
text has enough contrast."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from proposals.models import Proposal
from tests.ballots.cast_support import build_voting, identify
from tests.factories import official

pytestmark = pytest.mark.django_db
CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "pb.css"


def _tables_are_wrapped(html: str) -> None:
    tables = re.findall(r"(.{0,40})<table", html)
    assert tables, "no table on the page"
    for before in tables:
        assert before.endswith('<div class="table-wrap">'), before


def test_ballot_shows_each_projects_description_in_a_disclosure(client):
    v = build_voting()
    Proposal.objects.filter(code="C1").update(description="A shaded playground\n\nwith swings.")
    identify(client, v.election, v.voter)
    for data in (None, {"project": ["C1", "C2", "C3"]}):  # the page, and the page re-shown with problems
        url = reverse("ballots:ballot", args=[v.election.slug, v.city.slug])
        r = client.get(url) if data is None else client.post(url, data)
        html = r.content.decode()
        block = re.search(
            r'<details class="project-details">\s*<summary>About C1</summary>(.*?)</details>', html, re.S
        )
        assert block, html
        assert "A shaded playground" in block.group(1) and "with swings." in block.group(1)
        assert html.count('class="project-details"') == 4  # one per project of the pot


def test_official_tables_scroll_inside_a_wrapper(client):
    v = build_voting()
    client.force_login(official())
    for name in ("turnout", "paper_batches"):
        r = client.get(reverse(f"ballots:{name}", args=[v.election.slug]))
        assert r.status_code == 200
        _tables_are_wrapped(r.content.decode())


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_not_official_warning_text_meets_wcag_aa_on_white():
    colour = re.search(r"\.not-official \{ color: (#[0-9a-fA-F]{6})", CSS.read_text()).group(1)
    assert 1.05 / (_luminance(colour) + 0.05) >= 4.5, colour


def test_grid_cards_may_shrink_below_their_content():
    # Without this, the codes page's "Generate codes" card (a file input) was 413px wide on a 390px phone.
    assert re.search(r"\.grid > \* \{ min-width: 0; \}", CSS.read_text())


def test_points_bar_never_says_a_negative_number_left(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    url = reverse("ballots:ballot_check", args=[v.election.slug, v.points.slug])
    html = client.post(url, {"points-Y1": "5", "points-Y2": "5", "points-Y3": "1"}, HTTP_HX_REQUEST="true")
    html = html.content.decode()
    assert "Points given: 11 of 10 (0 left)." in html and "-1 left" not in html
    assert "You gave 11 points; you have 10 to distribute." in html


def test_live_bar_sends_one_request_per_mark(client):
    # A tick fires both `input` and `change`: listening to both sent two requests per click, and htmx
    # logged the aborted one as a console error. Points inputs (typed numbers) listen to `input` only.
    v = build_voting()
    identify(client, v.election, v.voter)
    for pot, trigger in ((v.city, 'hx-trigger="change"'), (v.points, 'hx-trigger="input delay:300ms"')):
        html = client.get(reverse("ballots:ballot", args=[v.election.slug, pot.slug])).content.decode()
        assert trigger in html and 'hx-sync="this:queue last"' in html


def test_paper_accept_refusal_is_shown_next_to_the_accept_button(client):
    from tests.factories import official as make_official

    v = build_voting()
    anna, bart = make_official(username="anna"), make_official(username="bart")
    client.force_login(anna)
    url = reverse("ballots:paper_batches", args=[v.election.slug])
    batch_url = client.post(url, {"pot": v.city.pk, "booth": "School 3", "label": "B-7"}).url
    client.post(batch_url, {"action": "enter", "text": "C1 C2\nC3"})
    client.force_login(bart)
    client.post(batch_url, {"action": "enter", "text": "C1 C2\nC4"})
    r = client.post(batch_url, {"action": "accept", "row_2": "a"})  # no note saying how it was resolved
    html = r.content.decode()
    assert r.status_code >= 400
    form = html.split('id="accept-form"', 1)[1].split("</form>", 1)[0]
    assert 'id="accept-error"' in form and form.index('id="accept-error"') < form.index('id="accept-button"')


def test_approval_rules_do_not_say_tick_every_project_when_there_is_a_maximum(
    client, django_capture_on_commit_callbacks
):
    v = build_voting()  # Mokotów: approval, 1 to 3 projects
    identify(client, v.election, v.voter)
    html = client.get(reverse("ballots:ballot", args=[v.election.slug, v.district.slug])).content.decode()
    rules = html.split('id="ballot-rules"', 1)[1].split("</ul>", 1)[0]
    assert "Choose at least 1 and at most 3 projects." in rules
    assert "Tick every project you support." not in rules
    v.district.max_selections = 0
    with django_capture_on_commit_callbacks(execute=True):  # committed: the cached ballot is read again
        v.district.save(update_fields=["max_selections"])
    html = client.get(reverse("ballots:ballot", args=[v.election.slug, v.district.slug])).content.decode()
    assert "Tick every project you support." in html
