"""Comments: posting, one level of threading, the edit window, plain text with safe links, reports, hiding
with a public reason (audited), rate limits per account; over HTTP as residents and officials use them."""

import datetime as dt

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from pb.core.exceptions import PermissionDenied
from pb.core.models import AuditEvent, Phase
from pb.core.notifications.models import Notification, NotificationKind
from proposals.comments import services
from proposals.comments.models import Comment, CommentReport
from proposals.follows.models import Follow
from proposals.models import ProposalStatus
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, UserFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def election():
    return ElectionFactory(phase=Phase.REVIEW, slug="riverton")


@pytest.fixture
def proposal(election):
    return ProposalFactory(pot=PotFactory(election=election), status=ProposalStatus.SUBMITTED, code="P007")


@pytest.fixture
def resident():
    return UserFactory(username="ana")


@pytest.fixture
def other():
    return UserFactory(username="ben")


@pytest.fixture
def off():
    return official(username="olga")


def detail_url(p):
    return reverse("proposals:detail", args=[p.election.slug, p.code])


# --- services ------------------------------------------------------------------------------------------


def test_post_and_reply_one_level(proposal, resident, other):
    top = services.comment_post(actor=resident, proposal=proposal, body="  Great idea!  ")
    assert top.body == "Great idea!"
    reply = services.comment_post(actor=other, proposal=proposal, body="Agreed", parent=top)
    assert reply.parent_id == top.pk
    # A reply to a reply joins the top-level thread: never more than one level.
    deeper = services.comment_post(actor=resident, proposal=proposal, body="Thanks", parent=reply)
    assert deeper.parent_id == top.pk


def test_reply_to_a_comment_of_another_proposal_is_refused(proposal, resident, election):
    elsewhere = ProposalFactory(pot=proposal.pot, status=ProposalStatus.SUBMITTED, code="P008")
    foreign = services.comment_post(actor=resident, proposal=elsewhere, body="Elsewhere")
    with pytest.raises(services.CommentInvalid):
        services.comment_post(actor=resident, proposal=proposal, body="x", parent=foreign)
    assert not Comment.objects.filter(proposal=proposal).exists()


@pytest.mark.parametrize("body", ["", "   ", "\x00\x01\u202e", None, 12, "x" * 2001])
def test_garbage_bodies_are_refused(proposal, resident, body):
    with pytest.raises(services.CommentInvalid):
        services.comment_post(actor=resident, proposal=proposal, body=body)
    assert not Comment.objects.exists()


def test_control_and_direction_override_characters_are_removed(proposal, resident):
    c = services.comment_post(actor=resident, proposal=proposal, body="a\x00b\u202ec\r\nd")
    assert c.body == "abc\nd"


def test_anonymous_cannot_comment_and_drafts_cannot_be_commented(proposal, resident):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(PermissionDenied):
        services.comment_post(actor=AnonymousUser(), proposal=proposal, body="hi")
    draft = ProposalFactory(pot=proposal.pot, status=ProposalStatus.DRAFT, author=resident, code="P009")
    with pytest.raises(services.CommentNotAllowed):
        services.comment_post(actor=resident, proposal=draft, body="hi")


def test_comments_are_closed_while_the_election_is_a_draft(resident):
    e = ElectionFactory(phase=Phase.DRAFT)
    p = ProposalFactory(pot=PotFactory(election=e), status=ProposalStatus.SUBMITTED)
    with pytest.raises(PermissionDenied):
        services.comment_post(actor=resident, proposal=p, body="hi")


def test_edit_window(proposal, resident, other):
    c = services.comment_post(actor=resident, proposal=proposal, body="Typo hre")
    with pytest.raises(services.CommentNotAllowed):
        services.comment_edit(actor=other, comment=c, body="hijacked")
    c = services.comment_edit(actor=resident, comment=c, body="Typo here")
    assert c.body == "Typo here" and c.edited_at is not None
    Comment.objects.filter(pk=c.pk).update(
        created_at=timezone.now() - services.EDIT_WINDOW - dt.timedelta(seconds=1)
    )
    with pytest.raises(services.CommentNotAllowed):
        services.comment_edit(actor=resident, comment=c, body="Too late")
    assert Comment.objects.get(pk=c.pk).body == "Typo here"


def test_hide_needs_an_official_and_a_reason_and_is_audited(proposal, resident, off):
    c = services.comment_post(actor=resident, proposal=proposal, body="Rude words")
    with pytest.raises(PermissionDenied):
        services.comment_hide(actor=resident, comment=c, reason="mine")
    with pytest.raises(services.CommentInvalid):
        services.comment_hide(actor=off, comment=c, reason="   ")
    assert not Comment.objects.get(pk=c.pk).is_hidden
    c = services.comment_hide(actor=off, comment=c, reason="Insults another resident")
    assert c.is_hidden and c.hidden_by == off
    event = AuditEvent.objects.get(action="comment.hide")
    assert event.actor_id == off.pk
    assert event.data["reason"] == "Insults another resident" and event.data["comment"] == c.pk
    with pytest.raises(services.CommentInvalid):  # hiding twice is refused, not re-audited
        services.comment_hide(actor=off, comment=c, reason="again")
    assert AuditEvent.objects.filter(action="comment.hide").count() == 1
    # A hidden comment can no longer be edited by its author, nor replied to.
    with pytest.raises(services.CommentNotAllowed):
        services.comment_edit(actor=resident, comment=c, body="sneaky")
    with pytest.raises(services.CommentInvalid):
        services.comment_post(actor=resident, proposal=proposal, body="re", parent=c)


def test_official_of_another_election_cannot_hide(proposal, resident):
    from pb.core.models import ElectionRole, Role

    elsewhere = ElectionFactory()
    local = UserFactory(username="local-official")
    ElectionRole.objects.create(user=local, role=Role.OFFICIAL, election=elsewhere)
    c = services.comment_post(actor=resident, proposal=proposal, body="x")
    with pytest.raises(PermissionDenied):
        services.comment_hide(actor=local, comment=c, reason="no")


def test_reports_anyone_once_per_account_audited_privately(proposal, resident, other):
    from django.contrib.auth.models import AnonymousUser

    c = services.comment_post(actor=resident, proposal=proposal, body="Spam spam")
    first = services.comment_report(actor=other, comment=c, reason="spam")
    again = services.comment_report(actor=other, comment=c, reason="spam!!")
    assert first.pk == again.pk
    services.comment_report(actor=AnonymousUser(), comment=c, reason="", client_key="203.0.113.9")
    assert CommentReport.objects.filter(comment=c).count() == 2
    events = list(AuditEvent.objects.filter(action="comment.report"))
    assert len(events) == 2
    # The reporter is not published: the entry is private (actor and reason behind a commitment).
    assert all(e.private is not None for e in events)
    assert all("spam" not in str(e.data) for e in events)


def test_rate_limit_per_account(proposal, resident, other, settings):
    settings.PB_COMMENT_RATES = ((3, 300),)
    for i in range(3):
        services.comment_post(actor=resident, proposal=proposal, body=f"comment {i}")
    with pytest.raises(services.RateLimited):
        services.comment_post(actor=resident, proposal=proposal, body="one too many")
    # Another account is not affected.
    services.comment_post(actor=other, proposal=proposal, body="mine")
    assert Comment.objects.filter(author=resident).count() == 3


def test_anonymous_reports_are_limited_per_address(proposal, resident, settings):
    from django.contrib.auth.models import AnonymousUser

    settings.PB_ANON_REPORT_RATES = ((2, 3600),)
    c = services.comment_post(actor=resident, proposal=proposal, body="x")
    for _i in range(2):
        services.comment_report(actor=AnonymousUser(), comment=c, client_key="198.51.100.1")
    with pytest.raises(services.RateLimited):
        services.comment_report(actor=AnonymousUser(), comment=c, client_key="198.51.100.1")
    services.comment_report(actor=AnonymousUser(), comment=c, client_key="198.51.100.2")
    assert CommentReport.objects.count() == 3


def test_new_comment_notifies_followers_but_not_its_author(proposal, resident, other):
    Follow.objects.create(user=resident, proposal=proposal)
    Follow.objects.create(user=other, proposal=proposal)
    c = services.comment_post(actor=resident, proposal=proposal, body="Hello")
    notes = list(Notification.objects.filter(kind=NotificationKind.COMMENT))
    assert [n.user_id for n in notes] == [other.pk]
    assert notes[0].url.endswith(f"#comment-{c.pk}")
    assert notes[0].emailed_at is None  # comments go out in the daily digest, not one by one


def test_a_hidden_comment_is_no_longer_announced_nor_in_the_next_digest(
    proposal, resident, other, off, django_capture_on_commit_callbacks
):
    from pb.core.notifications.mailing import notifications_digest_send

    Follow.objects.create(user=other, proposal=proposal)
    kept = services.comment_post(actor=resident, proposal=proposal, body="Good idea")
    rude = services.comment_post(actor=resident, proposal=proposal, body="Rude words")
    assert Notification.objects.filter(user=other, kind=NotificationKind.COMMENT).count() == 2
    services.comment_hide(actor=off, comment=rude, reason="Insults another resident")
    (left,) = Notification.objects.filter(user=other, kind=NotificationKind.COMMENT)
    assert left.url.endswith(f"#comment-{kept.pk}")
    other.email = "other@example.org"
    other.save()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_digest_send() == 1
    (digest,) = mail.outbox
    assert f"#comment-{kept.pk}" in digest.body and f"#comment-{rude.pk}" not in digest.body


# --- HTTP ----------------------------------------------------------------------------------------------


def test_page_shows_comments_with_safe_links(client, proposal, resident):
    body = 'See https://example.org/plan?a=1&b=2 and <script>alert(1)</script> javascript:alert(1) "q"'
    services.comment_post(actor=resident, proposal=proposal, body=body)
    html = client.get(detail_url(proposal)).content.decode()
    assert '<a href="https://example.org/plan?a=1&amp;b=2" rel="nofollow">' in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript' not in html
    assert "Sign in to comment" in html


def test_post_over_http_and_redirect_to_the_comment(client, proposal, resident):
    client.force_login(resident)
    url = reverse("proposals:comment_create", args=[proposal.election.slug, proposal.code])
    r = client.post(url, {"body": "From the form"})
    c = Comment.objects.get()
    assert r.status_code == 302 and r["Location"].endswith(f"#comment-{c.pk}")
    r = client.post(url, {"body": "  "})
    assert r.status_code == 400 and Comment.objects.count() == 1
    r = client.post(url, {"body": "Reply", "parent": "not-a-number"})
    assert r.status_code == 400
    r = client.post(url, {"body": "Reply", "parent": "999999"})
    assert r.status_code == 400 and Comment.objects.count() == 1
    # HTMX gets the comments section back: with the new comment, or with the form's error (as a 200, since
    # htmx swaps only successful answers).
    r = client.post(url, {"body": "Via htmx"}, headers={"HX-Request": "true"})
    html = r.content.decode()
    assert r.status_code == 200 and html.startswith('<section id="comments"') and "Via htmx" in html
    assert "Your comment was posted." in html and "<html" not in html
    r = client.post(url, {"body": " "}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'role="alert"' in r.content.decode()
    assert Comment.objects.count() == 2


def test_http_garbage_never_500(client, proposal, resident):
    client.force_login(resident)
    slug, code = proposal.election.slug, proposal.code
    c = services.comment_post(actor=resident, proposal=proposal, body="x")
    for url in (
        reverse("proposals:comment_edit", args=[slug, code, 999999]),
        reverse("proposals:comment_report", args=[slug, code, 999999]),
        reverse("proposals:comment_hide", args=[slug, code, 999999]),
        reverse("proposals:comment_edit", args=[slug, "P404", c.pk]),
    ):
        assert client.get(url).status_code == 404
        assert client.post(url, {"body": "x", "reason": "x"}).status_code == 404
    r = client.post(reverse("proposals:comment_edit", args=[slug, code, c.pk]), {"body": "\x00" * 5})
    assert r.status_code == 400
    r = client.post(reverse("proposals:comment_report", args=[slug, code, c.pk]), {"reason": "r" * 5000})
    assert r.status_code == 400


def test_only_officials_reach_the_hide_page_and_the_moderation_list(client, proposal, resident, off):
    c = services.comment_post(actor=resident, proposal=proposal, body="Bad")
    slug, code = proposal.election.slug, proposal.code
    hide = reverse("proposals:comment_hide", args=[slug, code, c.pk])
    queue = reverse("proposals:comments_moderation", args=[slug])
    client.force_login(resident)
    assert client.post(hide, {"reason": "mine"}).status_code == 403
    assert client.get(queue).status_code == 403
    assert not Comment.objects.get(pk=c.pk).is_hidden
    client.force_login(off)
    services.comment_report(actor=resident, comment=c, reason="bad words")
    page = client.get(queue).content.decode()
    assert "Bad" in page and "Review and hide" in page
    assert client.post(hide, {"reason": ""}).status_code == 400
    r = client.post(hide, {"reason": "Offensive language"})
    assert r.status_code == 302
    html = client.get(detail_url(proposal)).content.decode()
    # The fact of hiding and its reason stay visible; the text does not.
    assert "Hidden by the officials." in html and "Offensive language" in html
    assert ">Bad<" not in html and "Bad</div>" not in html


def test_anonymous_report_over_http(client, proposal, resident):
    c = services.comment_post(actor=resident, proposal=proposal, body="Spam")
    url = reverse("proposals:comment_report", args=[proposal.election.slug, proposal.code, c.pk])
    assert client.get(url).status_code == 200
    r = client.post(url, {"reason": "advertising"})
    assert r.status_code == 302
    assert CommentReport.objects.get().reporter is None


def test_moderation_todo_for_officials(client, proposal, resident, off):
    c = services.comment_post(actor=resident, proposal=proposal, body="Bad")
    services.comment_report(actor=resident, comment=c)
    client.force_login(off)
    html = client.get(reverse("core:election", args=[proposal.election.slug])).content.decode()
    assert "1 reported comment awaits a decision" in html
    services.comment_hide(actor=off, comment=c, reason="r")
    html = client.get(reverse("core:election", args=[proposal.election.slug])).content.decode()
    assert "reported comment" not in html


def test_proposal_page_queries_do_not_grow_with_comments(client, proposal, resident, other, off):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(off)  # the fullest page: report counts and hide links
    url = detail_url(proposal)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    top = services.comment_post(actor=resident, proposal=proposal, body="first")
    services.comment_post(actor=other, proposal=proposal, body="reply", parent=top)
    few = count()
    many_authors = [UserFactory(username=f"u{i}") for i in range(20)]
    for u in many_authors:
        t = services.comment_post(actor=u, proposal=proposal, body=f"by {u.username}")
        services.comment_post(actor=u, proposal=proposal, body="and a reply", parent=t)
        services.comment_report(actor=resident, comment=t)
    assert count() == few
