"""Races on PostgreSQL (real row locks): the same account reporting twice at once, a digest run twice at
once, an edit racing a hide, the same notification e-mailed by two deliveries at once."""

import threading

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection

from pb.core.models import Phase
from pb.core.notifications.mailing import notifications_digest_send, notifications_email
from pb.core.notifications.models import Notification, NotificationKind
from proposals.comments import services
from proposals.comments.models import Comment, CommentReport
from proposals.models import ProposalStatus
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, UserFactory, official

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(fn, args_list):
    barrier = threading.Barrier(len(args_list))
    results, errors = [], []

    def run(args):
        try:
            barrier.wait()
            results.append(fn(*args))
        except Exception as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(a,)) for a in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.fixture
def comment():
    cache.clear()
    e = ElectionFactory(phase=Phase.REVIEW)
    p = ProposalFactory(pot=PotFactory(election=e), status=ProposalStatus.SUBMITTED)
    return services.comment_post(actor=UserFactory(username="ana"), proposal=p, body="text")


def test_same_account_reports_twice_at_once(comment):
    ben = UserFactory(username="ben")
    results, errors = race(lambda: services.comment_report(actor=ben, comment=comment, reason="r"), [()] * 6)
    assert errors == []
    assert CommentReport.objects.filter(comment=comment, reporter=ben).count() == 1
    assert len({r.pk for r in results}) == 1


def test_edit_racing_a_hide_never_shows_new_text_on_a_hidden_comment(comment):
    off = official(username="olga")
    ana = comment.author

    def edit():
        return services.comment_edit(actor=ana, comment=comment, body="edited")

    def hide():
        return services.comment_hide(actor=off, comment=comment, reason="rude")

    _results, errors = race(lambda f: f(), [(edit,), (hide,)])
    c = Comment.objects.get(pk=comment.pk)
    assert c.is_hidden
    # Either the edit came first (and the hidden text is the edited one) or it was refused after the hide.
    assert all(isinstance(e, services.CommentNotAllowed) for e in errors)


def test_digest_twice_at_once_sends_one(comment, settings):
    settings.PB_PUBLIC_URL = "https://pb.example.org"
    bob = UserFactory(username="bob")
    for i in range(3):
        Notification.objects.create(
            user=bob, kind=NotificationKind.COMMENT, data={"code": f"P{i}"}, url="/x/"
        )
    results, errors = race(notifications_digest_send, [()] * 4)
    assert errors == [] and sum(results) == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].body.count("New comment") == 3


def test_event_mail_delivered_twice_at_once_is_sent_once(comment):
    bob = UserFactory(username="bob")
    n = Notification.objects.create(user=bob, kind=NotificationKind.FUNDED, data={"code": "P1", "title": "T"})
    results, errors = race(lambda: notifications_email(notification_ids=[n.pk]), [()] * 4)
    assert errors == [] and sum(results) == 1 and len(mail.outbox) == 1
