"""The reconciliation page in a real browser, without JavaScript: one official proposes a resolution with
its public reason, a second confirms it; the page fits a phone."""

import pytest

from tests.ballots.reconciliation_support import Box

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_two_officials_resolve_a_missing_paper_sheet_without_javascript(browser, base_url, login):
    box = Box()
    box.paper_voters(2)
    box.close()
    box.accept(box.batch("N1"))
    url = f"{base_url}/vote/{box.election.slug}/officials/reconciliation/"
    for user, step in ((box.anna, "propose"), (box.bart, "confirm")):
        context = browser.new_context(
            locale="en-GB", java_script_enabled=False, viewport={"width": 390, "height": 844}
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        login(page, user.username)
        page.goto(url)
        if step == "propose":
            sync_api.expect(page.locator("#reconciliation-summary")).to_have_text(
                "1 difference is not resolved."
            )
            page.get_by_label("Reason (published with the results)").fill("One sheet was taken home.")
            page.get_by_role("button", name="Propose this resolution").click()
            sync_api.expect(page.get_by_text("a second, different official must confirm it")).to_be_visible()
            assert page.locator(".confirm-resolution").count() == 0  # not offered to the proposer
        else:
            page.locator(".confirm-resolution").click()
            sync_api.expect(page.locator("#reconciliation-summary")).to_have_text("Everything reconciles.")
            sync_api.expect(page.get_by_text("One sheet was taken home.")).to_be_visible()
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, width
        context.close()
