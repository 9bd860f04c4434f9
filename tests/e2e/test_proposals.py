import re

import pytest
from playwright.sync_api import expect

from pb.core.models import Phase
from proposals.models import Proposal, ProposalStatus
from tests.e2e.journey_helpers import fill_proposal, new_page
from tests.factories import (
    CategoryFactory,
    ElectionFactory,
    PotFactory,
    ProposalFactory,
    UserFactory,
    official,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def election(base_url):
    e = ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="riverton", name="Riverton PB")
    north = PotFactory(election=e, slug="north", name="Northbank")
    south = PotFactory(election=e, slug="south", name="Riverside South")
    parks = CategoryFactory(election=e, slug="parks", name="Parks")
    roads = CategoryFactory(election=e, slug="roads", name="Roads")
    ProposalFactory(pot=north, category=parks, title="Playground in Alder Park", cost=90_000)
    ProposalFactory(pot=north, category=roads, title="Crossing at Hill Road", cost=35_000)
    ProposalFactory(
        pot=south, category=parks, title="Community garden", description="Vegetable beds", cost=8_000
    )
    ProposalFactory(pot=south, category=roads, title="Safe route to school", cost=61_000)
    return e


def test_resident_submits_a_proposal(page, base_url, login, election):
    UserFactory(username="rosa")
    login(page, "rosa")
    page.goto(f"{base_url}/elections/riverton/")
    page.get_by_role("link", name="Propose a project").click()
    fill_proposal(
        page,
        title="Benches on the towpath",
        description="Ten benches with backrests along the canal towpath.",
        district="Riverside South",
        category="Parks",
        cost="-40",
        location="Canal towpath",
    )
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("alert")).to_contain_text("correct the errors")
    expect(page.locator(".field-error")).to_contain_text("positive whole number")
    page.get_by_label("Estimated cost").fill("12000")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("#proposal-status")).to_have_text("Submitted")
    expect(page.get_by_role("heading", level=1)).to_have_text("Benches on the towpath")
    p = Proposal.objects.get(title="Benches on the towpath")
    assert (p.author.username, p.pot.slug, p.cost, p.status) == (
        "rosa",
        "south",
        12000,
        ProposalStatus.SUBMITTED,
    )


def test_official_reviews_a_proposal(page, base_url, login, election):
    target = ProposalFactory(
        pot=election.pots.get(slug="north"),
        title="Bike shelter at the station",
        status=ProposalStatus.SUBMITTED,
    )
    official(username="olga")
    login(page, "olga")
    page.goto(f"{base_url}/elections/riverton/manage/")
    row = page.get_by_role("row").filter(has_text="Bike shelter at the station")
    row.get_by_role("link", name="Review").click()
    page.get_by_label("Feasible: goes on the ballot").check()
    page.get_by_label("Adjusted cost (optional)").fill("52000")
    page.get_by_label("Note on the adjusted cost").fill("Includes lighting.")
    page.get_by_role("button", name="Save review").click()
    expect(page.get_by_role("status")).to_contain_text(f"Review of {target.code} saved")
    expect(page.get_by_role("heading", name="Proposals waiting for review")).to_be_visible()
    # Gone from the queue (the audit log below names it now: "proposal.review P0xx Bike shelter ...").
    queue = page.locator("section[aria-labelledby=review-heading]")
    expect(queue.get_by_text("Bike shelter at the station")).to_have_count(0)
    page.goto(f"{base_url}/proposals/riverton/{target.code}/")
    expect(page.locator("#proposal-status")).to_have_text("Feasible")
    expect(page.locator("#proposal-adjusted-cost")).to_contain_text("52,000")
    target.refresh_from_db()
    assert (target.status, target.final_cost) == (ProposalStatus.FEASIBLE, 52000)


def test_public_list_filters_live_with_htmx(page, base_url, election):
    page.goto(f"{base_url}/proposals/riverton/")
    count = page.locator("#results-count")
    expect(count).to_contain_text("4 proposals")
    # A marker on window survives an HTMX swap but not a full page load.
    page.evaluate("window.__sameDocument = true")
    # Screen readers announce changes inside an existing live region, so that element must be kept.
    page.evaluate("document.getElementById('results-live').dataset.kept = 'yes'")
    page.get_by_label("Search").fill("garden")
    expect(count).to_contain_text("1 proposal")
    live = page.locator("#results-live")
    expect(live).to_have_text("1 proposal")
    expect(live).to_have_attribute("data-kept", "yes")
    expect(page.get_by_role("status")).to_have_count(1)
    expect(page.locator("#results .proposal-title")).to_have_text(["Community garden"])
    expect(page).to_have_url(re.compile(r"\?q=garden$"))  # empty filters are left out of the address
    page.get_by_label("Search").fill("")
    page.get_by_text("Filters: district, category, status, cost").click()
    page.get_by_label("District").select_option(label="Northbank")
    expect(count).to_contain_text("2 proposals")
    page.get_by_label("Category").select_option(label="Roads")
    expect(page.locator("#results .proposal-title")).to_have_text(["Crossing at Hill Road"])
    # A bad filter answers 400; its message still appears in the results region.
    page.get_by_label("Cost from").fill("5000")
    page.get_by_label("Cost up to").fill("100")
    expect(page.locator("#filter-errors")).to_contain_text("must not be below")
    assert page.evaluate("window.__sameDocument === true"), "the list was reloaded instead of swapped"


def test_public_list_filters_without_javascript(page_nojs, base_url, election):
    page = page_nojs
    page.goto(f"{base_url}/proposals/riverton/")
    expect(page.locator("#results-count")).to_contain_text("4 proposals")
    page.get_by_text("Filters: district, category, status, cost").click()  # <details>: works without JS
    page.get_by_label("District").select_option(label="Riverside South")
    page.get_by_label("Cost up to").fill("10000")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"pot=south"))
    expect(page.locator("#results .proposal-title")).to_have_text(["Community garden"])
    expect(page.locator("#results-count")).to_contain_text("1 proposal")


def test_language_switcher_shows_vietnamese(page, base_url, election):
    page.goto(f"{base_url}/elections/riverton/")
    page.get_by_label("Language").select_option("vi")
    page.get_by_role("button", name="Change language").click()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("link", name="Xem các đề xuất")).to_be_visible()
    expect(page.get_by_role("link", name="Đăng nhập")).to_be_visible()
    page.get_by_role("link", name="Xem các đề xuất").click()
    expect(page.locator("#results-count")).to_contain_text("4 đề xuất")


def test_keyboard_skip_link_then_the_call_to_action_then_the_search(page, base_url, election):
    page.goto(f"{base_url}/proposals/riverton/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Propose a project")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type("crossing")
    expect(page.locator("#results-count")).to_contain_text("1 proposal")
    expect(page.get_by_label("Search")).to_be_focused()  # the swap does not steal focus


NO_OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"


def test_phone_pages_do_not_overflow_and_log_no_errors(browser, base_url, login, election):
    """A 140-character title without spaces once pushed the detail page and the dashboard sideways."""
    long = ProposalFactory(
        pot=election.pots.first(), title="x" * 140, description="y" * 3000, status=ProposalStatus.SUBMITTED
    )
    official(username="olga")
    context, page = new_page(browser, viewport={"width": 390, "height": 844})
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        paths = ["/", "/elections/riverton/", "/proposals/riverton/", f"/proposals/riverton/{long.code}/"]
        for path in paths:
            page.goto(base_url + path)
            expect(page.locator("h1")).to_be_visible()
            assert page.evaluate(NO_OVERFLOW), path
        login(page, "olga")
        for path in ["/elections/riverton/manage/", f"/proposals/riverton/{long.code}/review/"]:
            page.goto(base_url + path)
            expect(page.locator("h1")).to_be_visible()
            assert page.evaluate(NO_OVERFLOW), path
        # The dashboard table keeps project ids and costs whole instead of breaking them letter by letter.
        page.goto(base_url + "/elections/riverton/manage/")
        lines = page.locator("table tbody tr td").first.evaluate(
            "e => { const r = document.createRange(); r.selectNodeContents(e);"
            " return new Set([...r.getClientRects()].map(c => Math.round(c.top))).size; }"
        )
        assert lines == 1, "project id wrapped"
        assert problems == []
    finally:
        context.close()


def test_keyboard_focus_is_clearly_visible(page, base_url, election):
    page.goto(f"{base_url}/proposals/riverton/")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the skip link, onto "pb"
    focused = page.evaluate(
        "() => { const e = document.activeElement, s = getComputedStyle(e);"
        " return [e.textContent.trim(), s.outlineStyle, s.outlineWidth, s.outlineColor]; }"
    )
    assert focused[0] == "pb"
    assert focused[1] == "solid" and focused[2] == "3px"
    assert focused[3] == "rgb(26, 26, 26)"  # dark ring: at least 3:1 against the light header and white page


def test_phone_header_in_vietnamese_keeps_each_link_on_one_line(browser, base_url, election):
    context, page = new_page(browser, viewport={"width": 390, "height": 844})
    try:
        page.goto(f"{base_url}/elections/riverton/")
        page.get_by_label("Language").select_option("vi")
        page.get_by_role("button", name="Change language").click()
        expect(page.locator("html")).to_have_attribute("lang", "vi")
        # A link squeezed into a narrow column wraps into several line boxes (one client rect per line).
        rects = page.evaluate(
            "() => [...document.querySelectorAll('.nav-links a')].map(a => a.getClientRects().length)"
        )
        assert rects and all(n == 1 for n in rects), rects
        assert page.evaluate(NO_OVERFLOW)
        assert page.evaluate(
            "() => [...document.querySelectorAll('.nav-links a')]"
            ".every(a => a.getBoundingClientRect().right <= window.innerWidth)"
        )
    finally:
        context.close()
