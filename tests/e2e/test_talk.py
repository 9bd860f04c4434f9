"""A resident comments on and follows a proposal; another resident's rude comment is reported and an
official hides it with a public reason, then reviews the proposal; the resident sees the notifications,
receives the e-mails (the review at once, comments in the daily digest) and unsubscribes from a link in one
of them without signing in. Every new page passes axe at 390 and 1280 px."""

import pytest
from django.core import mail
from playwright.sync_api import expect

from pb.core.models import AuditEvent, Phase
from pb.core.notifications.mailing import notifications_digest_send
from proposals.comments.models import Comment
from proposals.comments.services import comment_post
from proposals.models import ProposalStatus
from tests.e2e.a11y import assert_accessible
from tests.e2e.journey_helpers import (
    follow,
    hide_comment,
    new_page,
    open_hide_comment,
    post_comment,
    report_comment,
    review_feasible,
)
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, UserFactory, official

pytestmark = pytest.mark.e2e


@pytest.fixture
def proposal(base_url, settings):
    from django.core.cache import cache

    cache.clear()  # rate limits of earlier tests
    settings.PB_PUBLIC_URL = base_url
    e = ElectionFactory(phase=Phase.REVIEW, slug="riverton", name="Riverton PB")
    pot = PotFactory(election=e, slug="north", name="Northbank")
    return ProposalFactory(
        pot=pot,
        code="P001",
        title="Benches on the towpath",
        status=ProposalStatus.SUBMITTED,
        author=UserFactory(username="amara"),
    )


def test_comment_moderate_notify_unsubscribe(browser, page, base_url, login, proposal):
    rosa = UserFactory(username="rosa")
    UserFactory(username="troll")
    official(username="olga")
    detail = f"{base_url}/proposals/riverton/P001/"

    # Rosa follows and comments; a web address in her comment becomes a safe link.
    login(page, "rosa")
    page.goto(detail)
    follow(page)
    post_comment(page, "I walk here daily. Map: https://example.org/towpath")
    first = page.locator("article.comment").first
    expect(first).to_contain_text("I walk here daily.")
    expect(first.get_by_role("link", name="https://example.org/towpath")).to_have_attribute("rel", "nofollow")
    assert_accessible(page, "proposal page with comments")
    page.get_by_role("link", name="Edit your comment").click()
    assert_accessible(page, "edit comment")
    page.get_by_label("Your comment").fill("I walk here every day. Map: https://example.org/towpath")
    page.get_by_role("button", name="Save").click()
    expect(first).to_contain_text("every day")
    expect(first).to_contain_text("edited")

    # Another resident is rude; Rosa reports it (and replies under her own comment).
    troll, tpage = new_page(browser)
    login(tpage, "troll")
    tpage.goto(detail)
    post_comment(tpage, "Only idiots sit on benches.")
    expect(tpage.locator("article.comment")).to_have_count(2)
    troll.close()
    rude = Comment.objects.get(author__username="troll")
    # A third resident comments kindly (through the service: the browser part of commenting is above).
    comment_post(
        actor=UserFactory(username="sam"), proposal=rude.proposal, body="A bench by the lock too, please."
    )

    page.goto(detail)
    report_comment(page, "troll", "Insulting", on_page=lambda p: assert_accessible(p, "report comment"))

    # The official finds the report, hides the comment with a public reason, and reviews the proposal.
    off, opage = new_page(browser)
    login(opage, "olga")
    open_hide_comment(
        opage, base_url, "riverton", rude.pk, on_page=lambda p: assert_accessible(p, "reported comments")
    )
    expect(opage.get_by_text("Insulting")).to_be_visible()
    assert_accessible(opage, "hide comment")
    opage.get_by_role("button", name="Hide comment").click()  # no reason: refused
    expect(opage.get_by_role("alert")).to_be_visible()
    hide_comment(opage, rude.pk, "Insults other residents (house rule 2).")
    review_feasible(opage, base_url, "riverton", "P001")
    off.close()
    assert AuditEvent.objects.filter(action="comment.hide", data__comment=rude.pk).exists()
    assert AuditEvent.objects.filter(action="comment.report").count() == 1

    # Everyone sees that a comment was hidden and why; nobody sees its text.
    page.goto(detail)
    hidden = page.locator(f"#comment-{rude.pk}")
    expect(hidden).to_contain_text("Insults other residents (house rule 2).")
    expect(hidden).not_to_contain_text("idiots")

    # Rosa's notifications: the review and the new comment that still stands.
    page.get_by_role("link", name="Notifications").click()
    expect(page.locator("#notifications")).to_contain_text(
        "P001 “Benches on the towpath” was reviewed: feasible"
    )
    # One comment announced: the hidden one's notification was withdrawn when it was hidden.
    expect(page.locator("#notifications")).to_contain_text("New comment by sam on P001")
    expect(page.locator("#notifications")).not_to_contain_text("troll")
    assert_accessible(page, "notifications")
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator(".notification.unread")).to_have_count(0)

    # The e-mails: the review at once (by a task), the comment in the digest.
    review_mail = [m for m in mail.outbox if m.to == [rosa.email]]
    assert len(review_mail) == 1 and "reviewed: feasible" in review_mail[0].subject
    assert notifications_digest_send() >= 1
    digest = [m for m in mail.outbox if m.to == [rosa.email] and "New comments" in m.subject]
    assert len(digest) == 1 and "New comment by sam" in digest[0].body and "troll" not in digest[0].body
    assert f"#comment-{rude.pk}" not in digest[0].body

    # The unsubscribe link works without signing in (a fresh browser; axe itself needs JavaScript).
    link = digest[0].body.strip().splitlines()[-1]
    anon, apage = new_page(browser)
    apage.goto(link)
    expect(apage.get_by_role("button", name="Sign in")).to_have_count(0)
    assert_accessible(apage, "unsubscribe")
    apage.get_by_role("button", name="Unsubscribe").click()
    expect(apage.locator("#unsubscribed")).to_contain_text("no longer receive the daily digest")
    assert_accessible(apage, "unsubscribed")
    anon.close()
    rosa.notification_settings.refresh_from_db()
    assert rosa.notification_settings.email_digest is False
    assert rosa.notification_settings.email_events is True
