"""Booth hand-over in headless Chromium: after identifying a resident the official is signed out of the
device; the resident sees a friendly page, not the official's, wherever they click or type."""

import datetime as dt

from playwright.sync_api import expect

from pb.core.models import Phase
from tests.ballots.roll_support import make_voter
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, official


def test_booth_device_is_the_residents_until_the_official_signs_in_again(page, base_url, login, settings):
    settings.DEBUG = True  # as in the demo: the resident still gets our pages, never Django's technical ones
    election = ElectionFactory(phase=Phase.VOTING_OPEN)
    city = PotFactory(election=election, name="Citywide", slug="city", is_citywide=True)
    ProposalFactory(pot=city, code="C1")
    wola = PotFactory(election=election, name="Wola", slug="wola")
    make_voter(election, wola, ref="BOOTH-7", dob=dt.date(1970, 3, 4))
    clerk = official()
    login(page, clerk.username)
    page.goto(f"{base_url}/vote/{election.slug}/booth/")
    expect(page.locator("#handover-note")).to_be_visible()
    page.get_by_label("Voter reference").fill("booth-7")
    page.get_by_label("Date of birth").fill("1970-03-04")
    page.get_by_label("Booth").fill("Library")
    page.get_by_role("button", name="Identify").click()
    expect(page).to_have_url(f"{base_url}/vote/{election.slug}/")
    # Signed out: no "Sign out (clerk)" button; the official's pages ask for a sign-in.
    expect(page.get_by_role("button", name=f"Sign out ({clerk.username})")).to_have_count(0)
    for path in (f"/elections/{election.slug}/manage/", f"/vote/manage/{election.slug}/codes/"):
        page.goto(base_url + path)
        expect(page).to_have_url(f"{base_url}/accounts/login/?next={path}")
    page.goto(f"{base_url}/no/such/page/")
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page.locator("main")).not_to_contain_text("URLconf")
    # The resident's session is still there; ending it brings back the sign-in for the next resident.
    page.goto(f"{base_url}/vote/{election.slug}/booth/")
    expect(page).to_have_url(f"{base_url}/accounts/login/?next=/vote/{election.slug}/booth/")
    login(page, clerk.username)
    page.goto(f"{base_url}/vote/{election.slug}/booth/")
    expect(page.get_by_label("Booth")).to_have_value("Library")
