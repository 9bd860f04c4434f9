"""Officials in headless Chromium: voter-roll upload → preview with row errors → import; codes; booth."""

import datetime as dt

from playwright.sync_api import expect

from ballots.models import VoterRollEntry
from pb.core.models import Phase
from tests.ballots.roll_support import make_voter
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, official


def _election(phase=Phase.REVIEW):
    e = ElectionFactory(phase=phase, min_age=16, age_reference_date=dt.date(2026, 6, 1))
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    wola = PotFactory(election=e, name="Wola", slug="wola")
    ProposalFactory(pot=wola)
    return e


def test_roll_upload_preview_errors_then_import(page, base_url, login, tmp_path):
    election = _election()
    off = official()
    console: list[str] = []  # CSP violations ("Refused to …") and script errors; not the favicon's 404
    page.on(
        "console", lambda m: console.append(m.text) if m.type == "error" and "404" not in m.text else None
    )
    page.on("pageerror", lambda exc: console.append(str(exc)))
    login(page, off.username)
    bad = tmp_path / "bad.csv"
    bad.write_text("reference,date_of_birth,district\nA-1,1990-02-30,wola\nA-2,1990-01-01,praga\n")
    page.goto(f"{base_url}/vote/manage/{election.slug}/roll/")
    page.get_by_label("Voter roll file (CSV or XLSX)").set_input_files(str(bad))
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("#job-errors")).to_contain_text("“1990-02-30” is not a real date")
    expect(page.locator("#job-errors")).to_contain_text("“praga” is not a district of this election")
    expect(page.get_by_role("button", name="Import these voters")).to_have_count(0)

    good = tmp_path / "good.csv"
    good.write_text("reference,date_of_birth,district\nA-1,1990-02-28,wola\nA-2,1990-01-01,Wola\n")
    page.goto(f"{base_url}/vote/manage/{election.slug}/roll/")
    page.get_by_label("Voter roll file (CSV or XLSX)").set_input_files(str(good))
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("#job-ready")).to_contain_text("2 voters can be added")
    page.get_by_role("button", name="Import these voters").click()
    expect(page.locator("#job-done")).to_contain_text("2 voters added to the roll.")
    assert VoterRollEntry.objects.filter(election=election).count() == 2
    assert console == []


def test_booth_identification_without_javascript(page_nojs, base_url, login):
    page = page_nojs
    election = _election(phase=Phase.VOTING_OPEN)
    make_voter(election, election.pots.get(slug="wola"), ref="BOOTH-1", dob=dt.date(1970, 3, 4))
    login(page, official().username)
    page.goto(f"{base_url}/vote/{election.slug}/booth/")
    page.get_by_label("Voter reference").fill("booth-1")
    page.get_by_label("Date of birth").fill("1970-03-04")
    page.get_by_label("Booth").fill("Town hall")
    page.get_by_role("button", name="Identify").click()
    expect(page).to_have_url(f"{base_url}/vote/{election.slug}/")
    expect(page.locator("main")).to_contain_text("Wola")
