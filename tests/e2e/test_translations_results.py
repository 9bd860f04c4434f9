"""Browser: an official gives a pot a Vietnamese name and a resident voting in Vietnamese sees it on the
ballot; the published results page has no serious or critical axe violation at 390 and 1280 px in English,
Vietnamese and Chinese, and its scrolling tables are reachable with Tab."""

import threading

import pytest
from playwright.sync_api import expect

from tests.ballots.cast_support import build_voting
from tests.e2e.a11y import axe_violations
from tests.factories import official
from tests.tally.conftest import KEYS, World

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _context(browser, locale: str, **options):
    context = browser.new_context(locale=locale, **options)
    context.set_default_timeout(20_000)
    return context, context.new_page()


def test_official_translates_a_pot_name_and_a_vietnamese_voter_sees_it(browser, base_url, login):
    v = build_voting()
    o = official()
    slug = v.election.slug

    # The voter opens the ballot first (in Vietnamese): the original name, nothing translated yet.
    voter_ctx, voter = _context(browser, "vi-VN")
    voter.goto(f"{base_url}/vote/{slug}/identify/")
    voter.fill("#id_code-code", v.code)
    voter.locator("#identify-code-form button[type=submit]").click()
    voter.wait_for_url(f"**/vote/{slug}/")
    voter.click("#vote-city")
    expect(voter.locator("h1")).to_contain_text("Citywide")

    official_ctx, page = _context(browser, "en-GB")
    login(page, o.username)
    page.goto(f"{base_url}/elections/{slug}/manage/")
    page.click("#translate-link")
    page.fill("#id_pot-city-vi", "Ngân sách toàn thành phố")
    page.fill("#id_pot-city-zh-hans", "全市预算")
    page.click("#translate-save")
    expect(page.locator("#id_pot-city-vi")).to_have_value("Ngân sách toàn thành phố")
    page.goto(f"{base_url}/proposals/{slug}/C1/")
    page.click("#translate-link")
    page.fill("#id_title-vi", "Công viên bờ sông")
    page.click("#translate-save")
    expect(page.locator("h1")).to_have_text("City project C1")  # the official reads English
    official_ctx.close()

    voter.reload()
    expect(voter.locator("h1")).to_contain_text("Ngân sách toàn thành phố")
    expect(voter.locator("label[for=project-C1]")).to_contain_text("Công viên bờ sông")
    expect(voter.locator("label[for=project-C2]")).to_contain_text("City project C2")  # falls back
    voter.check("#project-C1")
    voter.click("#review-button")
    expect(voter.locator("#review-title")).to_contain_text("Ngân sách toàn thành phố")
    expect(voter.get_by_text("Công viên bờ sông")).to_be_visible()
    voter_ctx.close()


def _axe(page) -> list[dict]:
    return axe_violations(page)


def test_results_page_has_no_serious_axe_violation_and_tables_take_focus(
    browser, base_url, settings, tmp_path
):
    settings.PB_VAR_DIR = tmp_path / "var"
    settings.PB_SIGNING_KEY_FILE = str(KEYS / "test-council-ed25519.key")
    settings.PB_SIGNING_CERT_FILE = str(KEYS / "test-pades-cert.pem")
    settings.PB_SIGNING_CERT_KEY_FILE = str(KEYS / "test-pades-key.pem")
    settings.PB_SIGNOFF_QUORUM = 2

    def publish() -> None:
        world = World(n_online=30, n_paper=0)
        world.close()
        world.tally()
        world.signoffs()
        world.certify()
        world.publish()
        made.append(world)

    # The PAdES signature runs its own event loop: not in this thread, where Playwright's loop runs.
    made: list[World] = []
    worker = threading.Thread(target=publish)
    worker.start()
    worker.join()
    world = made[0]
    url = f"{base_url}/results/{world.election.slug}/"
    found = {}
    for locale in ("en-GB", "vi-VN", "zh-CN"):
        for width in (390, 1280):
            # bypass_csp: only so that the test can inject axe-core into the page.
            ctx, page = _context(browser, locale, viewport={"width": width, "height": 900}, bypass_csp=True)
            page.goto(url)
            found[(locale, width)] = [(v["id"], len(v["nodes"])) for v in _axe(page)]
            if width == 390:
                for _ in range(60):  # a keyboard user reaches the "why not" table's scroll area
                    page.keyboard.press("Tab")
                    if page.evaluate("document.activeElement.classList.contains('table-wrap')"):
                        break
                else:
                    raise AssertionError("no table scroll area takes keyboard focus")
            ctx.close()
    assert all(not v for v in found.values()), found
