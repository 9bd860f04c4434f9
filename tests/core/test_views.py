import pytest
from django.urls import reverse

from pb.core.models import Phase
from tests.factories import ElectionFactory, PotFactory, official

pytestmark = pytest.mark.django_db


def test_home_lists_elections_but_not_drafts(client):
    ElectionFactory(name="Open PB", phase=Phase.PROPOSALS_OPEN)
    ElectionFactory(name="Hidden draft", phase=Phase.DRAFT)
    html = client.get(reverse("core:home")).content.decode()
    assert "Open PB" in html and "Hidden draft" not in html


def test_election_page_shows_phase_budgets_and_the_right_links(client):
    election = ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="rv")
    PotFactory(election=election, name="Old Town", budget=180_000)
    html = client.get(reverse("core:election", args=["rv"])).content.decode()
    assert 'aria-current="step">Proposals open' in html
    assert "Old Town" in html and "180,000" in html
    assert reverse("proposals:create", args=["rv"]) in html  # leads anonymous visitors to sign in
    assert reverse("core:manage", args=["rv"]) not in html
    client.force_login(official())
    html = client.get(reverse("core:election", args=["rv"])).content.decode()
    assert reverse("core:manage", args=["rv"]) in html


def test_unknown_election_is_404(client):
    assert client.get(reverse("core:election", args=["nope"])).status_code == 404


def test_election_page_leads_to_the_vote_then_to_the_results(client):
    election = ElectionFactory(phase=Phase.VOTING_OPEN)
    page = client.get(reverse("core:election", args=[election.slug])).content.decode()
    assert f'href="{reverse("ballots:pots", args=[election.slug])}"' in page
    assert f'href="{reverse("tally:log", args=[election.slug])}"' in page
    assert f'href="{reverse("tally:results", args=[election.slug])}"' not in page
    client.force_login(official())
    dash = client.get(reverse("core:manage", args=[election.slug])).content.decode()
    for name in ("tally:manage", "ballots:turnout", "ballots:paper_batches"):
        assert f'href="{reverse(name, args=[election.slug])}"' in dash
    election.phase = Phase.PUBLISHED
    election.save()
    page = client.get(reverse("core:election", args=[election.slug])).content.decode()
    assert f'href="{reverse("tally:results", args=[election.slug])}"' in page
    assert f'href="{reverse("ballots:pots", args=[election.slug])}"' not in page


def test_home_puts_what_a_visitor_can_do_now_first_with_its_button(client):
    done = ElectionFactory(name="PB 2025", phase=Phase.PUBLISHED)
    ideas = ElectionFactory(name="PB 2027", phase=Phase.PROPOSALS_OPEN)
    vote = ElectionFactory(name="PB 2026", phase=Phase.VOTING_OPEN)
    resp = client.get(reverse("core:home"))
    assert [e.name for e in resp.context["elections"]] == ["PB 2026", "PB 2027", "PB 2025"]
    html = resp.content.decode()
    assert f'href="{reverse("ballots:pots", args=[vote.slug])}"' in html
    assert f'href="{reverse("proposals:create", args=[ideas.slug])}"' in html
    assert f'href="{reverse("tally:results", args=[done.slug])}"' in html


@pytest.mark.parametrize(
    ("language", "amount"), [("en", "180,000"), ("vi", "180.000"), ("zh-hans", "180,000")]
)
def test_budgets_are_grouped_in_every_language(client, language, amount):
    election = ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="rv")
    PotFactory(election=election, name="Old Town", budget=180_000)
    client.cookies["django_language"] = language
    html = client.get(reverse("core:election", args=["rv"])).content.decode()
    assert f"{amount} {election.currency}" in html
