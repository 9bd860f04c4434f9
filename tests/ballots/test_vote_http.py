"""The voter's journey over HTTP with the Django client: pots, ballot, live bar, review, cast, receipt."""

import re

import pytest
from django.urls import reverse

from ballots.ballotbox.receipts import receipt_hash
from ballots.models import Channel, Participation
from pb.core.models import Phase
from tests.ballots.cast_support import build_voting, cast_ballot, cast_ballots, identify
from tests.factories import UserFactory, council, official

pytestmark = pytest.mark.django_db


@pytest.fixture
def v(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    return v


def _url(name, v, pot=None):
    args = [v.election.slug] + ([pot.slug] if pot else [])
    return reverse(f"ballots:{name}", args=args)


def test_unidentified_visitor_is_sent_to_identify(client):
    v = build_voting()
    for url in (_url("pots", v), _url("ballot", v, v.city)):
        r = client.get(url)
        assert r.status_code == 302 and r.url == reverse("ballots:identify", args=[v.election.slug])
    r = client.post(_url("ballot_cast", v, v.city), {"project": ["C1"]})
    assert r.status_code == 302 and len(cast_ballots()) == 0


def test_pots_page_lists_eligible_pots_with_done_state(client, v):
    html = client.get(_url("pots", v)).content.decode()
    for slug in ("city", "mokotow", "green", "youth"):
        assert f'id="vote-{slug}"' in html
    assert "vote-wola" not in html  # another district
    client.post(_url("ballot_cast", v, v.city), {"project": ["C1"]})
    html = client.get(_url("pots", v)).content.decode()
    assert 'id="pot-city-done"' in html and 'id="vote-city"' not in html


def test_ballot_page_shows_constraints_and_the_bar(client, v):
    html = client.get(_url("ballot", v, v.city)).content.decode()
    assert "up to a total cost of 100,000 EUR" in html
    assert "Spend at least 20,000 EUR (20% of the budget)." in html
    assert 'id="budget-bar"' in html and 'aria-live="polite"' in html
    assert 'hx-post="' + _url("ballot_check", v, v.city) + '"' in html
    for code in ("C1", "C2", "C3", "C4"):
        assert f'value="{code}"' in html
    html = client.get(_url("ballot", v, v.ranked)).content.decode()
    assert 'name="rank-G1"' in html and "Rank up to 3 projects" in html
    html = client.get(_url("ballot", v, v.points)).content.decode()
    assert 'name="points-Y1"' in html and "At most 5 points per project" in html


def test_live_bar_is_a_partial_with_the_validator_messages(client, v):
    r = client.post(_url("ballot_check", v, v.city), {"project": ["C1", "C2", "C3"]}, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200
    assert html.strip().startswith('<div id="budget-bar"') and "<html" not in html
    assert "Chosen: 120,000 EUR of 100,000 EUR." in html and "Over the budget by 20,000 EUR." in html
    r = client.post(_url("ballot_check", v, v.city), {"project": ["C1", "C2"]}, HTTP_HX_REQUEST="true")
    assert "Left: 30,000 EUR." in r.content.decode() and 'id="bar-ready"' in r.content.decode()
    r = client.post(
        _url("ballot_check", v, v.points), {"points-Y1": "4", "points-Y2": "3"}, HTTP_HX_REQUEST="true"
    )
    assert "Points given: 7 of 10 (3 left)." in r.content.decode()
    assert len(cast_ballots()) == 0 and Participation.objects.count() == 0


def test_review_then_change_then_cast_gives_a_receipt_once(client, v):
    r = client.post(_url("ballot", v, v.city), {"project": ["C2", "C1"]})
    html = r.content.decode()
    assert r.status_code == 200 and 'id="review-choices"' in html and 'id="cast-button"' in html
    assert "Total: 70,000 EUR of 100,000 EUR." in html
    assert len(cast_ballots()) == 0  # reviewing stores nothing
    # "Change" brings back the ballot with the choices ticked.
    r = client.post(_url("ballot", v, v.city), {"edit": "1", "project": ["C1", "C2"]})
    html = r.content.decode()
    assert 'value="C1" id="project-C1" checked' in html and 'value="C3" id="project-C3">' in html
    r = client.post(_url("ballot_cast", v, v.city), {"project": ["C1", "C4"]})
    html = r.content.decode()
    assert r.status_code == 200 and "Your ballot in Citywide has been cast." in html
    assert "no-store" in r["Cache-Control"]
    code = re.search(r'id="receipt-code">([0-9A-Z-]+)<', html).group(1)
    b = cast_ballot()
    assert b.projects == ["C1", "C4"] and b.receipt_hash == receipt_hash(code)
    assert "pb_receipt" not in str(dict(client.session))  # the code is not kept in the session
    # A second attempt: refused with a clear message, nothing new stored.
    r = client.post(_url("ballot_cast", v, v.city), {"project": ["C2"]})
    assert r.status_code == 409 and "You have already voted in Citywide." in r.content.decode()
    r = client.get(_url("ballot", v, v.city))
    assert r.status_code == 409 and "You have already voted in Citywide." in r.content.decode()
    assert len(cast_ballots()) == 1 and Participation.objects.count() == 1


@pytest.mark.parametrize(
    ("pot_name", "data", "message"),
    [
        ("city", {"project": ["C1", "C2", "C3"]}, "over the budget of 100,000 EUR by 20,000 EUR"),
        ("city", {"project": ["C1", "Z9"]}, "“Z9” is not a project on this ballot."),
        (
            "city",
            {"project": ["C1", "M1"]},
            "Project M1 belongs to “Mokotów”, not to this ballot (Citywide).",
        ),
        ("ranked", {"rank-G1": "1", "rank-G2": "1"}, "Rank 1 is given to more than one project (G1, G2)."),
        ("points", {"points-Y1": "6"}, "Y1 has 6 points; at most 5 points per project."),
        ("points", {"points-Y1": "-2", "points-Y2": "1"}, "Points cannot be negative (Y1: -2)."),
        ("district", {"project": ["M1", "M2", "M3", "M4"]}, "Choose at most 3 projects (you chose 4)."),
    ],
)
def test_bad_ballot_posted_to_cast_is_refused_and_nothing_stored(client, v, pot_name, data, message):
    pot = getattr(v, pot_name)
    for name in ("ballot", "ballot_cast"):  # the review step and the cast step both refuse it
        r = client.post(_url(name, v, pot), data)
        html = r.content.decode()
        assert r.status_code == 400
        assert 'id="ballot-problems"' in html and message in html
    assert len(cast_ballots()) == 0 and Participation.objects.count() == 0


def test_ineligible_pot_is_refused_with_the_reason(client, v):
    r = client.get(_url("ballot", v, v.other))
    assert r.status_code == 403 and "This pot is for residents of Wola" in r.content.decode()
    r = client.post(_url("ballot_cast", v, v.other), {"project": ["W1"]})
    assert r.status_code == 403 and len(cast_ballots()) == 0


def test_closed_election_refuses(client, v):
    v.election.phase = Phase.VOTING_CLOSED
    v.election.save()
    r = client.get(_url("ballot", v, v.city))
    assert r.status_code == 409 and "Voting is not open" in r.content.decode()
    r = client.post(_url("ballot_cast", v, v.city), {"project": ["C1"]})
    assert r.status_code == 403 and len(cast_ballots()) == 0


def test_booth_session_casts_with_channel_booth(client):
    v = build_voting()
    clerk = official()
    client.force_login(clerk)
    identify(client, v.election, v.voter, method="booth", official=clerk.pk, booth="School 3")
    r = client.post(_url("ballot_cast", v, v.city), {"project": ["C1"]})
    assert r.status_code == 200
    p = Participation.objects.get()
    assert (p.channel, p.booth) == (Channel.BOOTH, "School 3")


def test_turnout_for_officials_only_and_without_results(client, v):
    client.post(_url("ballot_cast", v, v.city), {"project": ["C1"]})
    url = _url("turnout", v)
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403
    for user in (official(), council()):
        client.force_login(user)
        r = client.get(url)
        html = r.content.decode()
        assert r.status_code == 200
        row = re.search(r'<tr id="turnout-city">(.*?)</tr>', html, re.S).group(1)
        # One voter: the channel count is under K (20) and not shown as such; the total stays exact, flagged.
        cells = re.findall(r'<td class="num[^"]*">([^<]*)<', row)[:4]
        assert cells == ["fewer than 20", "0", "0", "1 "] and "under-k" in row
        # No project (so no per-project count) anywhere on the page.
        for code in ("C1", "C2", "C3", "C4"):
            assert f"City project {code}" not in html and f">{code}<" not in html
