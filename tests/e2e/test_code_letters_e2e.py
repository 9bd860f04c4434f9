"""Voting-code letters in headless Chromium: the official asks for PDF letters, follows the job's page to the
letters' page and downloads them once; the browser keeps its half of the key in a cookie scoped to that
page, and a second download says why it is refused. Accessibility checked on both pages."""

from pathlib import Path

from playwright.sync_api import expect

from ballots.models import VotingCode
from pb.core.models import Phase
from tests.ballots.roll_support import make_voter
from tests.factories import ElectionFactory, PotFactory, official


def test_official_downloads_letters_once_from_the_job_page(
    page, base_url, login, settings, tmp_path, accessible
):
    settings.PB_PUBLIC_URL = "https://pb.example.org"
    settings.PB_VAR_DIR = tmp_path / "var"
    election = ElectionFactory(phase=Phase.REVIEW)
    PotFactory(election=election, name="Citywide", slug="city", is_citywide=True)
    wola = PotFactory(election=election, name="Wola", slug="wola")
    for i in range(3):
        make_voter(election, wola, ref=f"W-{i}")
    clerk = official()
    login(page, clerk.username)
    page.goto(f"{base_url}/vote/manage/{election.slug}/codes/")
    page.get_by_label("Output").select_option("pdf")
    page.locator("#codes-generate-form").get_by_role("button", name="Generate").click()
    expect(page.locator("#job-status")).to_have_attribute("data-status", "done")
    expect(page.locator("#job-result")).to_contain_text("3 letters are ready")
    accessible(page)
    page.locator("#job-result-link").click()
    expect(page.locator("#letters-state")).to_contain_text("3 letters are ready")
    expect(page.locator("#letters-nokey")).to_have_count(0)  # the browser sends its scoped cookie here
    accessible(page)
    cookies = [c for c in page.context.cookies() if c["name"].startswith("pb_letters_")]
    assert len(cookies) == 1 and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert cookies[0]["path"].startswith(f"/vote/manage/{election.slug}/codes/letters/")
    with page.expect_download() as info:
        page.locator("#letters-download").click()
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and VotingCode.objects.filter(status="active").count() == 3
    assert not [c for c in page.context.cookies() if c["name"].startswith("pb_letters_")]
    page.reload()
    expect(page.locator("#letters-state")).to_contain_text("Downloaded at")
