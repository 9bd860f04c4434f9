"""Browser: officials close (two of them), count and sign off; the council certifies and publishes; a voter
finds their receipt on the public results page."""

import re

from playwright.sync_api import expect

from ballots.ballotbox.receipts import receipt_new
from tests.tally.conftest import KEYS, World


def test_close_count_signoff_certify_publish_and_receipt_lookup(browser, base_url, login, settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path / "var"
    settings.PB_SIGNING_KEY_FILE = str(KEYS / "test-council-ed25519.key")
    settings.PB_SIGNING_CERT_FILE = str(KEYS / "test-pades-cert.pem")
    settings.PB_SIGNING_CERT_KEY_FILE = str(KEYS / "test-pades-key.pem")
    settings.PB_SIGNOFF_QUORUM = 2
    world = World(n_online=25, n_paper=0)
    code, digest = receipt_new()
    world.cast(world.north, projects=["N2"], receipt_hash=digest)
    manage = f"{base_url}/results/{world.election.slug}/manage/"

    def as_user(user):
        context = browser.new_context(locale="en-GB")
        context.set_default_timeout(20_000)
        page = context.new_page()
        login(page, user.username)
        page.goto(manage)
        return context, page

    ctx, page = as_user(world.o1)
    page.get_by_role("button", name="Ask to close the vote").click()
    expect(page.locator("#close-pending")).to_contain_text(world.o1.username)
    expect(page.get_by_role("button", name="Confirm: close the vote")).to_have_count(0)  # not by the asker
    ctx.close()

    ctx, page = as_user(world.o2)
    page.get_by_role("button", name="Confirm: close the vote").click()
    expect(page.locator("#phase")).to_have_text("Voting closed")
    ctx.close()

    ctx, page = as_user(world.o1)
    page.get_by_role("button", name="Run the official count").click()
    expect(page.locator("#run-state")).to_have_text("Done")
    expect(page.locator("#phase")).to_have_text("Tallied")
    expect(page.locator("#official-result")).to_contain_text("North")
    ctx.close()

    for official in (world.o2, world.o3):
        ctx, page = as_user(official)
        page.get_by_role("button", name="Re-count from the exported files and sign off").click()
        expect(page.get_by_text("Your re-count matches the official count.")).to_be_visible()
        ctx.close()

    ctx, page = as_user(world.council)
    expect(page.locator("#signoff-status")).to_contain_text("2 of 2")
    page.get_by_role("button", name="Certify and sign the result").click()
    _through_the_job(page, base_url, world.election.slug)
    expect(page.locator("#manifest-hash")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    page.get_by_role("button", name="Publish the results").click()
    _through_the_job(page, base_url, world.election.slug)
    expect(page.locator("#phase")).to_have_text("Published")
    ctx.close()

    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(f"{base_url}/results/{world.election.slug}/")
    expect(page.get_by_role("heading", name="North")).to_be_visible()
    page.get_by_label("Your receipt code").fill(code.lower())
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#receipt-found")).to_be_visible()
    page.get_by_label("Your receipt code").fill("0000-0000-0000-0000")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#receipt-missing")).to_be_visible()
    expect(page.locator("#pdf-link")).to_have_attribute("href", re.compile(r"result-.*\.pdf$"))
    context.close()


def _through_the_job(page, base_url, slug):
    """Certifying and publishing run as jobs: wait for the job's page to say done, then back to the manage
    page."""
    expect(page.locator("#job-state")).to_have_text("Done")
    page.goto(f"{base_url}/results/{slug}/manage/")
