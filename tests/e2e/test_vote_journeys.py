"""Voter journeys in headless Chromium: identify with a code, build a ballot watching the live bar, review,
cast, get a receipt; a second attempt is refused; the same without JavaScript; ranked and points ballots by
keyboard only (no mouse)."""

import re

import pytest

from ballots.ballotbox.receipts import receipt_hash
from ballots.models import Participation
from tests.ballots.cast_support import build_voting, cast_ballot, cast_ballots

sync_api = pytest.importorskip("playwright.sync_api")

# Fixtures `browser` (Debian chromium, headless) and `base_url` (live server) come from tests/e2e/conftest.py.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RECEIPT = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")


def _page(browser, *, javascript=True):
    context = browser.new_context(java_script_enabled=javascript, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    _watch_csp(page)
    return page


CSP_ERRORS: dict[int, list[str]] = {}


def _watch_csp(page) -> None:
    """Collect Content-Security-Policy violations (an inline script or style would show up here)."""
    errors = CSP_ERRORS.setdefault(id(page), [])
    page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))


def _csp_errors(page) -> list[str]:
    return CSP_ERRORS.get(id(page), [])


def _identify_with_code(page, base_url, v):
    page.goto(f"{base_url}/vote/{v.election.slug}/identify/")
    page.fill("#id_code-code", v.code)
    page.locator("#identify-code-form button[type=submit]").click()
    page.wait_for_url(f"**/vote/{v.election.slug}/")


def _tab_to(page, element_id: str, limit: int = 80) -> None:
    """Press Tab until the element has focus (as a keyboard user would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"could not reach #{element_id} with Tab")


def _receipt(page) -> str:
    code = page.locator("#receipt-code").inner_text().strip()
    assert RECEIPT.match(code), code
    return code


def test_knapsack_journey_with_live_bar_review_cast_receipt_and_second_attempt(browser, base_url):
    v = build_voting()
    page = _page(browser)
    _identify_with_code(page, base_url, v)
    page.click("#vote-city")
    bar = page.locator("#budget-text")
    assert "Chosen: 0 EUR of 100,000 EUR." in bar.inner_text()
    page.check("#project-C1")
    sync_api.expect(page.locator("#budget-text")).to_contain_text("Chosen: 40,000 EUR of 100,000 EUR.")
    page.check("#project-C2")
    sync_api.expect(page.locator("#budget-text")).to_contain_text("Left: 30,000 EUR.")
    page.check("#project-C3")
    sync_api.expect(page.locator("#budget-text")).to_contain_text("Over the budget by 20,000 EUR.")
    sync_api.expect(page.locator("#bar-problems")).to_contain_text("over the budget of 100,000 EUR")
    page.uncheck("#project-C3")
    sync_api.expect(page.locator("#bar-ready")).to_be_visible()
    page.click("#review-button")
    choices = page.locator("#review-choices").inner_text()
    assert "C1" in choices and "C2" in choices and "C3" not in choices
    # A second tab holding the same review page: the double submission a voter could make.
    other = page.context.new_page()
    _watch_csp(other)
    other.goto(page.url.replace("/city/", "/"))  # the pots page; then the same review via the form
    other.click("#vote-city")
    other.check("#project-C4")
    other.check("#project-C2")
    other.click("#review-button")
    page.click("#cast-button")
    sync_api.expect(page.locator("#cast-ok")).to_contain_text("Your ballot in Citywide has been cast.")
    code = _receipt(page)
    sync_api.expect(page.locator("#print-button")).to_be_visible()  # JavaScript shows the print button
    ballot = cast_ballot()
    assert ballot.projects == ["C1", "C2"] and ballot.receipt_hash == receipt_hash(code)
    other.click("#cast-button")
    sync_api.expect(other.locator("#error-message")).to_have_text("You have already voted in Citywide.")
    page.goto(f"{base_url}/vote/{v.election.slug}/city/")
    sync_api.expect(page.locator("#error-message")).to_contain_text("You have already voted in Citywide.")
    sync_api.expect(page.locator("#error-message")).to_contain_text("You may still vote in: Green ranked")
    assert len(cast_ballots()) == 1 and Participation.objects.count() == 1
    assert _csp_errors(page) == [] and _csp_errors(other) == []
    page.context.close()


def test_same_journey_without_javascript(browser, base_url):
    v = build_voting()
    page = _page(browser, javascript=False)
    _identify_with_code(page, base_url, v)
    page.click("#vote-city")
    page.check("#project-C1")
    page.check("#project-C2")
    page.check("#project-C3")
    page.click("#review-button")  # plain POST: the server checks and shows the same message
    sync_api.expect(page.locator("#ballot-problems")).to_contain_text(
        "Your choices cost 120,000 EUR, over the budget of 100,000 EUR by 20,000 EUR."
    )
    sync_api.expect(page.locator("#budget-text")).to_contain_text("Over the budget by 20,000 EUR.")
    assert page.is_checked("#project-C1") and page.is_checked("#project-C3")
    page.uncheck("#project-C3")
    page.click("#review-button")
    sync_api.expect(page.locator("#review-choices")).to_contain_text("C2")
    page.click("#change-button")  # change, then come back to the review
    assert page.is_checked("#project-C1") and page.is_checked("#project-C2")
    page.click("#review-button")
    page.click("#cast-button")
    sync_api.expect(page.locator("#cast-ok")).to_contain_text("Your ballot in Citywide has been cast.")
    code = _receipt(page)
    assert not page.is_visible("#print-button")  # nothing that needs JavaScript is offered
    assert cast_ballot().receipt_hash == receipt_hash(code)
    page.goto(f"{base_url}/vote/{v.election.slug}/city/")
    sync_api.expect(page.locator("#error-message")).to_contain_text("You have already voted in Citywide.")
    sync_api.expect(page.locator("#error-message")).to_contain_text("You may still vote in: Green ranked")
    assert len(cast_ballots()) == 1
    page.context.close()


def test_ranked_ballot_by_keyboard_only(browser, base_url):
    v = build_voting()
    page = _page(browser)
    page.goto(f"{base_url}/vote/{v.election.slug}/identify/")
    _tab_to(page, "id_code-code")
    page.keyboard.type(v.code)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/vote/{v.election.slug}/")
    _tab_to(page, "vote-green")
    page.keyboard.press("Enter")
    page.wait_for_url("**/green/")
    _tab_to(page, "rank-G3")
    page.keyboard.type("1")
    _tab_to(page, "rank-G4")  # the next rank control
    page.keyboard.type("1")  # a duplicate rank: the bar says so
    sync_api.expect(page.locator("#bar-problems")).to_contain_text("Rank 1 is given to more than one project")
    page.keyboard.press("ArrowDown")  # 1 -> 2 on the focused select
    sync_api.expect(page.locator("#count-text")).to_contain_text("2 projects ranked of up to 3.")
    sync_api.expect(page.locator("#bar-ready")).to_be_visible()
    _tab_to(page, "review-button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#review-choices")
    assert page.locator("#review-choices li").all_inner_texts()[0].startswith("G3")
    _tab_to(page, "cast-button")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#cast-ok")).to_contain_text("Green ranked")
    _receipt(page)
    assert cast_ballot(pot=v.ranked).projects == ["G3", "G4"]
    assert _csp_errors(page) == []
    page.context.close()


def test_points_ballot_by_keyboard_only(browser, base_url):
    v = build_voting()
    page = _page(browser)
    page.goto(f"{base_url}/vote/{v.election.slug}/identify/")
    _tab_to(page, "id_code-code")
    page.keyboard.type(v.code)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/vote/{v.election.slug}/")
    _tab_to(page, "vote-youth")
    page.keyboard.press("Enter")
    page.wait_for_url("**/youth/")
    _tab_to(page, "points-Y1")
    page.keyboard.type("6")
    sync_api.expect(page.locator("#bar-problems")).to_contain_text(
        "Y1 has 6 points; at most 5 points per project."
    )
    page.keyboard.press("Backspace")
    page.keyboard.type("4")
    _tab_to(page, "points-Y3")
    page.keyboard.type("5")
    sync_api.expect(page.locator("#points-text")).to_contain_text("Points given: 9 of 10 (1 left).")
    page.keyboard.press("Enter")  # implicit submission of the form: the review page
    page.wait_for_selector("#review-choices")
    _tab_to(page, "cast-button")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#cast-ok")).to_contain_text("Youth points")
    _receipt(page)
    assert cast_ballot(pot=v.points).points == {"Y1": 4, "Y3": 5}
    assert _csp_errors(page) == []
    page.context.close()


# Width of the widest element that sticks out past the viewport, ignoring what scrolls inside a wrapper.
_OVERFLOW = """() => {
  const W = document.documentElement.clientWidth; let worst = 0;
  for (const e of document.querySelectorAll('body *')) {
    const r = e.getBoundingClientRect(); if (r.width === 0 || r.right <= W + 1) continue;
    let x = e, inside = false;
    while ((x = x.parentElement)) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(x).overflowX)) { inside = true; break; }
    }
    if (!inside) worst = Math.max(worst, r.right);
  }
  return [document.documentElement.scrollWidth, worst];
}"""


def test_officials_pages_fit_a_phone(browser, base_url, login):
    from tests.factories import official

    v = build_voting()
    user = official()
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    _watch_csp(page)
    login(page, user.username)
    slug = v.election.slug
    for path in (
        f"/vote/{slug}/officials/turnout/",
        f"/vote/{slug}/officials/paper/",
        f"/vote/manage/{slug}/codes/",
        f"/results/{slug}/manage/",
        "/results/key/",
    ):
        page.goto(base_url + path)
        scroll_width, worst = page.evaluate(_OVERFLOW)
        assert scroll_width <= 390 and worst <= 391, (path, scroll_width, worst)
    assert _csp_errors(page) == []
    context.close()


def test_ballot_shows_a_project_description_without_leaving_the_page(browser, base_url):
    from proposals.models import Proposal

    v = build_voting()
    Proposal.objects.filter(code="C2").update(description="Solar lights along the river path.")
    page = _page(browser)
    _identify_with_code(page, base_url, v)
    page.click("#vote-city")
    text = page.get_by_text("Solar lights along the river path.")
    sync_api.expect(text).to_be_hidden()
    page.get_by_text("About C2").click()
    sync_api.expect(text).to_be_visible()
    page.check("#project-C2")
    sync_api.expect(page.locator("#budget-text")).to_contain_text("Chosen: 30,000 EUR")
    assert page.url.endswith(f"/vote/{v.election.slug}/city/")
