"""Notifications: the on-site list, e-mails sent once by tasks, the daily comment digest, and signed
unsubscribe links that work without signing in and cannot be forged or pointed at someone else."""

import datetime as dt

import pytest
from django.core import mail, signing
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pb.core.notifications import services
from pb.core.notifications.mailing import notifications_digest_send
from pb.core.notifications.models import Notification, NotificationKind, NotificationSettings
from pb.core.notifications.preferences import UNSUBSCRIBE_SALT, unsubscribe_token
from pb.core.notifications.tasks import notification_email_task, notifications_digest_task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana():
    return UserFactory(username="ana")


@pytest.fixture
def ben():
    return UserFactory(username="ben")


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PB_PUBLIC_URL = "https://pb.example.org"


def comment_note(user, n=1, **data):
    return [
        Notification.objects.create(
            user=user,
            kind=NotificationKind.COMMENT,
            data={"code": "P001", "title": "Trees", "author": "ben", **data},
            url=f"/proposals/x/P001/#comment-{i}",
        )
        for i in range(n)
    ]


def prefs(user):
    return NotificationSettings.objects.get(user=user)


# --- notify and event e-mails ---------------------------------------------------------------------------


def test_notify_dedupes_excludes_the_actor_and_mails_after_commit(
    ana, ben, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        rows = services.notify(
            users=[ana, ana.pk, ben],
            kind=NotificationKind.CHANGED,
            data={"code": "P1", "title": "T"},
            exclude=ben,
        )
    assert [r.user_id for r in rows] == [ana.pk]
    assert [m.to for m in mail.outbox] == [["ana@example.org"]]


def test_event_email_is_sent_once_however_often_the_task_runs(ana, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        (n,) = services.notify(users=[ana], kind=NotificationKind.FUNDED, data={"code": "P1", "title": "T"})
    notification_email_task.enqueue(notification_ids=[n.pk])  # a second delivery
    notification_email_task.enqueue(notification_ids=[n.pk, 999_999])
    assert len(mail.outbox) == 1
    assert "will be funded" in mail.outbox[0].subject


def test_line_breaks_in_a_title_do_not_break_the_subject(ana, django_capture_on_commit_callbacks):
    title = "Trees\r\nBcc: victim@example.org" + "x" * 300
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(users=[ana], kind=NotificationKind.CHANGED, data={"code": "P1", "title": title})
    (msg,) = mail.outbox
    assert "\n" not in msg.subject and len(msg.subject) <= 150 and msg.to == ["ana@example.org"]
    assert "victim" not in str(msg.message()["Bcc"])


def test_no_email_when_switched_off_or_no_address(ana, ben, django_capture_on_commit_callbacks):
    NotificationSettings.objects.create(user=ana, email_events=False)
    ben.email = ""
    ben.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(users=[ana, ben], kind=NotificationKind.FUNDED, data={"code": "P1", "title": "T"})
    assert mail.outbox == []
    assert Notification.objects.count() == 2  # still listed on the site


def test_comment_notifications_wait_for_the_digest(ana, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.notify(users=[ana], kind=NotificationKind.COMMENT, data={"code": "P1", "title": "T"})
    assert callbacks == [] and mail.outbox == []


# --- digest ---------------------------------------------------------------------------------------------


@pytest.fixture
def digest(django_capture_on_commit_callbacks):
    """Run the digest and deliver what it sends (the mail goes out once its claim has committed)."""

    def run(**kw):
        with django_capture_on_commit_callbacks(execute=True):
            return notifications_digest_send(**kw)

    return run


def test_digest_at_most_daily(ana, ben, digest):
    comment_note(ana, 3)
    comment_note(ben, 1)
    now = timezone.now()
    assert digest(now=now) == 2
    bodies = {m.to[0]: m for m in mail.outbox}
    assert bodies["ana@example.org"].body.count("New comment by ben") == 3
    assert "(3)" in bodies["ana@example.org"].subject
    # New comments an hour later wait for the next day.
    comment_note(ana, 1)
    assert digest(now=now + dt.timedelta(hours=1)) == 0
    assert len(mail.outbox) == 2
    # Running it again changes nothing; a day later the waiting comment goes out, alone.
    assert digest(now=now + dt.timedelta(hours=23, minutes=59)) == 0
    assert digest(now=now + dt.timedelta(days=1)) == 1
    assert mail.outbox[-1].body.count("New comment by") == 1
    assert mail.outbox[-1].extra_headers["List-Unsubscribe"].startswith("<https://pb.example.org/")
    assert digest(now=now + dt.timedelta(days=3)) == 0  # nothing new


def test_digest_switched_off_mails_nothing_and_no_backlog_later(ana, digest):
    NotificationSettings.objects.create(user=ana, email_digest=False)
    comment_note(ana, 2)
    assert digest() == 0
    prefs_ = prefs(ana)
    prefs_.email_digest = True
    prefs_.save()
    assert digest() == 0
    assert mail.outbox == []


def test_digest_task_and_command(ana, django_capture_on_commit_callbacks):
    comment_note(ana, 1)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("notifications_digest", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert len(mail.outbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        notifications_digest_task.enqueue()
    assert len(mail.outbox) == 1


# --- unsubscribe ----------------------------------------------------------------------------------------


def test_unsubscribe_link_in_mail_works_without_signing_in(ana, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(users=[ana], kind=NotificationKind.FUNDED, data={"code": "P1", "title": "T"})
    link = mail.outbox[0].body.strip().splitlines()[-1]
    assert link.startswith("https://pb.example.org/notifications/unsubscribe/")
    path = link.removeprefix("https://pb.example.org")
    anonymous = Client(enforce_csrf_checks=True)
    r = anonymous.get(path)
    assert r.status_code == 200 and "Stop e-mails about the proposals you follow?" in r.content.decode()
    assert not NotificationSettings.objects.filter(user=ana).exists()  # a GET (link preview) changes nothing
    # One-click (RFC 8058): the mail program POSTs, with no session and no CSRF token.
    r = anonymous.post(path, {"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and "no longer receive" in r.content.decode()
    assert prefs(ana).email_events is False and prefs(ana).email_digest is True
    assert anonymous.post(path).status_code == 200  # using it again is harmless
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(users=[ana], kind=NotificationKind.FUNDED, data={"code": "P2", "title": "T"})
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "",
        "a" * 500,
        "%00",
        "..",
    ],
)
def test_bad_unsubscribe_links_are_refused_not_500(client, token, ana):
    url = f"/notifications/unsubscribe/{token}/"
    for method in (client.get, client.post):
        r = method(url)
        assert r.status_code in (400, 404)
    assert not NotificationSettings.objects.exists()


def test_unsubscribe_tokens_cannot_be_forged_or_redirected(client, ana, ben):
    good = unsubscribe_token(ana, "all")
    # Tampering with any part: another user id, another scope, a truncated signature.
    _value, sig = good.rsplit(":", 1)
    other_payload = signing.dumps({"u": ben.pk, "s": "all"}, salt=UNSUBSCRIBE_SALT).rsplit(":", 1)[0]
    wrong_salt = signing.dumps({"u": ben.pk, "s": "all"})  # signed for another purpose
    wrong_scope = signing.dumps({"u": ben.pk, "s": "everything"}, salt=UNSUBSCRIBE_SALT)
    not_an_int = signing.dumps({"u": str(ben.pk), "s": "all"}, salt=UNSUBSCRIBE_SALT)
    for token in (f"{other_payload}:{sig}", good[:-2], wrong_salt, wrong_scope, not_an_int):
        assert client.post(reverse("notifications:unsubscribe", args=[token])).status_code == 400
    assert not NotificationSettings.objects.exists()
    assert client.post(reverse("notifications:unsubscribe", args=[good])).status_code == 200
    assert prefs(ana).email_events is prefs(ana).email_digest is prefs(ana).ballot_reminders is False
    assert not NotificationSettings.objects.filter(user=ben).exists()


def test_unsubscribe_of_a_deleted_account(client, ana):
    token = unsubscribe_token(ana, "digest")
    ana.delete()
    assert client.post(reverse("notifications:unsubscribe", args=[token])).status_code == 400


# --- the page -------------------------------------------------------------------------------------------


def test_list_page_mark_read_and_settings(client, ana, ben):
    url = reverse("notifications:list")
    assert client.get(url)["Location"].startswith("/accounts/login/")
    comment_note(ana, 2)
    comment_note(ben, 1, author="zed")
    client.force_login(ana)
    html = client.get(url).content.decode()
    assert html.count("New comment by ben") == 2 and "zed" not in html
    assert "Mark all as read" in html
    client.post(reverse("notifications:read"))
    assert not Notification.objects.filter(user=ana, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=ben, read_at__isnull=True).exists()
    r = client.post(url, {"email_events": "on", "ballot_reminders": "on"})
    assert r.status_code == 302
    p = prefs(ana)
    # Reminders are not offered on the form yet (ballots does not send them): a posted value is ignored.
    assert (p.email_events, p.email_digest, p.ballot_reminders) == (True, False, False)


def test_notification_links_are_site_paths_only(client, ana):
    # A notification's url is written by our services only; the page shows it as a relative link.
    Notification.objects.create(
        user=ana, kind=NotificationKind.CHANGED, data={"title": "<b>x</b>"}, url="/p/"
    )
    client.force_login(ana)
    html = client.get(reverse("notifications:list")).content.decode()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
