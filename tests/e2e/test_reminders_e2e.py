"""The voting reminder in the browser: a voter leaves an address on their pots page (a wrong one first), an
official sends the reminders from the manage page, the e-mail's link cancels without signing in; axe at 390 px
and 1280 px on each page."""

import pytest
from django.core import mail

from ballots.models import BallotReminder
from tests.ballots.cast_support import build_voting
from tests.factories import official

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_ask_send_and_cancel_a_reminder(page, base_url, login, accessible):
    v = build_voting()
    boss = official(username="reminder-official")
    page.goto(f"{base_url}/vote/{v.election.slug}/identify/")
    page.fill("#id_code-code", v.code)
    page.locator("#identify-code-form button[type=submit]").click()
    page.wait_for_url(f"**/vote/{v.election.slug}/")
    expect(page.locator("#reminder-form")).to_be_visible()
    accessible(page)

    page.get_by_label("Your e-mail address").fill("not an address")
    page.locator("#reminder-submit").click()
    expect(page.locator("#reminder-email-error")).to_contain_text("Enter a valid e-mail address")
    accessible(page)  # the form page with its error
    page.get_by_label("Your e-mail address").fill("voter@example.org")
    page.locator("#reminder-submit").click()
    page.wait_for_url(f"**/vote/{v.election.slug}/")
    expect(page.locator(".message-success")).to_contain_text("We will remind you once")
    expect(page.locator("#reminder-state")).to_be_visible()
    assert BallotReminder.objects.count() == 1

    page.locator("#finish").click()
    login(page, boss.username)
    page.goto(f"{base_url}/elections/{v.election.slug}/manage/")
    expect(page.locator("#reminders-summary")).to_contain_text("1 voter asked to be reminded")
    page.locator("#reminders-send").click()
    expect(page.locator(".message-success")).to_contain_text("1 reminder is being sent")
    page.goto(f"{base_url}/vote/manage/{v.election.slug}/reminders/")
    accessible(page)

    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["voter@example.org"]
    link = mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>")
    path = link[link.index("/vote/") :]
    page.context.clear_cookies()  # no session: the signed link is enough
    page.goto(f"{base_url}{path}")
    accessible(page)
    page.locator("#reminder-cancel-confirm").click()
    expect(page.locator("#reminder-cancelled")).to_contain_text("cancelled")
    assert not BallotReminder.objects.exists()
