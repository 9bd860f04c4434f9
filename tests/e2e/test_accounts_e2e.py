"""A new resident in the browser: sign up, confirm the e-mail (link from the test outbox: the live server runs
in this process), sign in, propose; password reset; deletion keeps the submitted proposal without its author.
Every new page is checked with axe-core at phone and desktop width, in all three languages, by keyboard."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import expect

from pb.core.models import Phase
from proposals.models import Proposal, ProposalStatus
from tests.e2e.a11y import axe_serious
from tests.e2e.journey_helpers import (
    confirm_email,
    fill_proposal,
    fill_sign_up,
    password_reset_ask,
    password_reset_set,
    sign_in,
    sign_up,
)
from tests.factories import CategoryFactory, ElectionFactory, PotFactory

pytestmark = pytest.mark.e2e

PASSWORD = "Correct-Horse-7-Battery"
WIDTHS = (390, 1280)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def election(base_url):
    e = ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="riverton", name="Riverton PB")
    PotFactory(election=e, slug="south", name="Riverside South")
    CategoryFactory(election=e, slug="parks", name="Parks")
    return e


def _serious(page) -> list[str]:
    return axe_serious(page)


def _check_widths(page, where: str):
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert _serious(page) == [], f"{where} at {width}px"
        # Nothing wider than the screen at phone width.
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{where} scrolls sideways at {width}px ({scroll}px)"


def test_new_resident_signs_up_confirms_signs_in_and_proposes(page, base_url, election):
    page.goto(base_url)
    page.get_by_role("link", name="Create an account").click()
    _check_widths(page, "sign-up")
    fill_sign_up(page, "rosa@example.org", PASSWORD, again="not the same")
    expect(page.get_by_role("alert")).to_contain_text("correct the errors")
    _check_widths(page, "sign-up with errors")
    fill_sign_up(page, "rosa@example.org", PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Confirm your e-mail address"))
    _check_widths(page, "verification sent")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["rosa@example.org"]

    confirm_email(page, base_url, mail.outbox[0], on_page=lambda p: _check_widths(p, "confirm e-mail"))

    sign_in(page, base_url, "rosa@example.org", PASSWORD)
    user = get_user_model().objects.get(email="rosa@example.org")
    expect(page.get_by_role("button", name=f"Sign out ({user.username})")).to_be_visible()
    page.goto(f"{base_url}/elections/riverton/")
    page.get_by_role("link", name="Propose a project").click()
    fill_proposal(
        page,
        title="Benches on the towpath",
        description="Ten benches with backrests along the canal towpath.",
        district="Riverside South",
        category="Parks",
        cost="12000",
        location="Canal towpath",
    )
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("#proposal-status")).to_have_text("Submitted")
    p = Proposal.objects.get(title="Benches on the towpath")
    assert (p.author_id, p.status) == (user.pk, ProposalStatus.SUBMITTED)

    # Account pages: overview, e-mail change, password change, deletion (then carried out).
    page.get_by_role("link", name="Your account").click()
    _check_widths(page, "account overview")
    page.get_by_role("link", name="Change your e-mail address").click()
    _check_widths(page, "e-mail change")
    page.go_back()
    page.get_by_role("link", name="Change your password").click()
    _check_widths(page, "password change")
    page.go_back()
    page.get_by_role("link", name="Delete your account").click()
    _check_widths(page, "delete account")
    page.get_by_label("Your password").fill("wrong password")
    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator(".field-error")).to_contain_text("not your password")
    _check_widths(page, "delete account with errors")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("status")).to_contain_text("Your account has been deleted.")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    p.refresh_from_db()
    assert p.author_id is None and p.status == ProposalStatus.SUBMITTED
    assert not get_user_model().objects.filter(pk=user.pk).exists()


def test_password_reset_in_the_browser(page, base_url, election):
    sign_up(page, base_url, "ana@example.org", PASSWORD)
    confirm_email(page, base_url, mail.outbox[-1])
    mail.outbox.clear()
    cache.clear()

    password_reset_ask(page, base_url, "ana@example.org", on_page=lambda p: _check_widths(p, p.url))
    _check_widths(page, "password reset sent")
    new = "Brand-New-Secret-58"
    password_reset_set(page, base_url, mail.outbox[-1], new, on_page=lambda p: _check_widths(p, p.url))
    _check_widths(page, "password changed")
    sign_in(page, base_url, "ana@example.org", new)
    expect(page.get_by_role("link", name="Your account")).to_be_visible()


def test_sign_up_by_keyboard_alone(page, base_url, election):
    page.goto(f"{base_url}/accounts/signup/")
    page.locator("#main").focus()
    for _ in range(10):  # past the links above the form
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "email":
            break
    assert page.evaluate("document.activeElement.name") == "email"
    page.keyboard.type("kim@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Confirm your e-mail address"))
    assert get_user_model().objects.filter(email="kim@example.org").exists()


@pytest.mark.parametrize("lang", ["vi", "zh-hans"])
def test_account_pages_in_vietnamese_and_chinese(browser, base_url, election, lang):
    context = browser.new_context(locale="vi-VN" if lang == "vi" else "zh-CN")
    page = context.new_page()
    try:
        for path in ("/accounts/signup/", "/accounts/login/", "/accounts/password/reset/"):
            page.goto(base_url + path)
            assert page.locator("html").get_attribute("lang") == lang
            _check_widths(page, f"{path} in {lang}")
    finally:
        context.close()


def test_the_axe_check_would_catch_an_unlabelled_field(page, base_url):
    page.goto(f"{base_url}/accounts/signup/")
    page.evaluate("document.querySelector('label[for=id_email]').remove()")
    page.evaluate("document.querySelector('#id_email').removeAttribute('placeholder')")
    assert any(v.startswith("label ") for v in _serious(page))
