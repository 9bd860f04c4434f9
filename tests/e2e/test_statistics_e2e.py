"""The statistics page and the "what we built" map in a browser: charts with accessible names, readable at
390 px (no page-wide horizontal scroll), the funded projects drawn on the map; axe at 390 and 1280 px."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from proposals.models import Proposal
from tally.tracking.models import ProjectTracking

pytestmark = pytest.mark.e2e


@pytest.fixture
def published(publish_world):
    from tests.tally.test_statistics import StatsWorld

    return publish_world(StatsWorld)


def _no_page_scroll(page, width):
    page.set_viewport_size({"width": width, "height": 844})
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width


def test_statistics_page(page, base_url, published, accessible):
    slug = published.election.slug
    page.goto(f"{base_url}/results/{slug}/")
    page.locator("#statistics-link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Statistics")
    expect(
        page.get_by_role("img", name="Turnout per district (share of the voters on the roll)")
    ).to_be_visible()
    expect(page.get_by_role("img", name="Voters per day in North")).to_be_visible()
    expect(page.locator("#turnout-days tr[data-pot=north] td.stat-hidden")).to_have_count(2)
    page.locator("#f-pot").select_option(label="South")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("img", name="Voters per day in South")).to_be_visible()
    accessible(page)
    _no_page_scroll(page, 390)


def test_what_we_built_map(page, base_url, published, accessible):
    t = ProjectTracking.objects.select_related("proposal").first()
    Proposal.objects.filter(pk=t.proposal_id).update(latitude=Decimal("52.23"), longitude=Decimal("21.01"))
    page.goto(f"{base_url}/projects/")
    expect(page.locator("#built-map .leaflet-interactive")).to_have_count(1)  # the marker, drawn by maps.js
    expect(page.locator("#built-map-list")).to_contain_text(t.proposal.title)
    accessible(page)
    _no_page_scroll(page, 390)
