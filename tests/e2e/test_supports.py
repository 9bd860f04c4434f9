"""A resident supports two proposals in the supports phase (HTMX, then without JavaScript), sees the counts
and the limit; the pages pass axe at phone and desktop width."""

import pytest
from playwright.sync_api import expect

from pb.core.models import Phase
from proposals.models import ProposalStatus
from proposals.supports.models import Support
from tests.e2e.journey_helpers import support
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def election(base_url):
    e = ElectionFactory(
        phase=Phase.SUPPORTS,
        slug="youth",
        name="Youth PB",
        supports_enabled=True,
        supports_per_resident=2,
        supports_top_n=1,
    )
    city = PotFactory(election=e, slug="city", name="Citywide", is_citywide=True)
    north = PotFactory(election=e, slug="north", name="Northbank")
    for code, pot, title in (
        ("P001", city, "Open-air cinema"),
        ("P002", north, "Bouldering wall"),
        ("P003", city, "Skate lights"),
    ):
        ProposalFactory(election=e, pot=pot, code=code, title=title, status=ProposalStatus.SUBMITTED)
    return e


def test_a_resident_supports_two_proposals(page, page_nojs, base_url, login, election, accessible):
    UserFactory(username="lan")
    login(page, "lan")
    page.goto(f"{base_url}/proposals/youth/P001/")
    accessible(page)
    support(page, "1 resident supports this proposal.")
    expect(page.locator("#support-box")).to_contain_text("You have used 1 of your 2 supports.")
    page.goto(f"{base_url}/proposals/youth/P002/")
    support(page, "1 resident supports this proposal.")
    expect(page.locator("#support-box")).to_contain_text(
        "You support proposals of Northbank and citywide ones."
    )
    page.goto(f"{base_url}/proposals/youth/P003/")
    page.get_by_role("button", name="Support this proposal").click()
    expect(page.get_by_role("alert")).to_contain_text("You have used all 2 of your supports")
    assert sorted(Support.objects.values_list("proposal__code", flat=True)) == ["P001", "P002"]
    page.goto(f"{base_url}/proposals/youth/")
    expect(page.locator(".proposal-card", has_text="Open-air cinema")).to_contain_text("1 support")
    accessible(page)

    # Without JavaScript the same form posts and the page comes back with a message.
    UserFactory(username="minh")
    login(page_nojs, "minh")
    page_nojs.goto(f"{base_url}/proposals/youth/P001/")
    page_nojs.get_by_role("button", name="Support this proposal").click()
    expect(page_nojs.locator(".messages")).to_contain_text("Your support is counted.")
    expect(page_nojs.locator("#support-count")).to_have_text("2 residents support this proposal.")
