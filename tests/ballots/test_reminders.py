"""Voting reminders (issue #12): the voter's request over HTTP, deletion with the last cast, the officials'
"send now", exactly one e-mail, nothing after closing, the signed cancel link, and no address in clear
anywhere but the outgoing e-mail."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.apps import apps
from django.core import mail, signing
from django.urls import reverse
from django.utils import timezone

from ballots.casting import services as casting
from ballots.casting.validation import RawBallot
from ballots.exceptions import AlreadyVoted
from ballots.models import BallotReminder, ReminderPlan
from ballots.reminders import links, secret
from ballots.reminders import services as reminders
from ballots.reminders.mailing import reminders_send
from pb.core.models import AuditEvent, Phase
from pb.core.notifications.preferences import unsubscribe_token
from tally.closing import close_confirm, close_request
from tests.ballots.cast_support import build_voting, identify
from tests.factories import UserFactory, official

pytestmark = pytest.mark.django_db

ADDRESS = "ana.remind@example.org"
# The voter's pots (build_voting): citywide knapsack, their district (approval), ranked, points.
MARKS = {
    "city": [("C1", "")],
    "mokotow": [("M1", "")],
    "green": [("G1", "1")],
    "youth": [("Y1", "3")],
}


@pytest.fixture
def v(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    return v


def _url(name, v):
    return reverse(f"ballots:{name}", args=[v.election.slug])


def _ask(client, v, email=ADDRESS):
    return client.post(_url("reminder", v), {"email": email})


def _cast(v, slug, *, actor=None, channel="online"):
    pot = {p.slug: p for p in (v.city, v.district, v.ranked, v.points)}[slug]
    return casting.ballot_cast(
        actor=actor,
        election=v.election,
        pot=pot,
        voter=v.voter,
        raw=RawBallot.of(MARKS[slug]),
        channel=channel,
    )


def _address_of(reminder: BallotReminder) -> str | None:
    return secret.address_open(reminder.id, reminder.email)


# --- Asking -------------------------------------------------------------------------------------------------


def test_pots_and_ballot_pages_offer_the_reminder_with_what_is_kept(client, v):
    html = client.get(_url("pots", v)).content.decode()
    assert 'id="reminder-form"' in html and 'value=""' in html
    assert "it is deleted when you cast your last ballot" in html and "No account needed" in html
    html = client.get(reverse("ballots:ballot", args=[v.election.slug, "city"])).content.decode()
    assert f'href="{_url("reminder", v)}"' in html


def test_signed_in_resident_finds_their_address_filled_in(client, v):
    user = UserFactory(email="signed.in@example.org")
    client.force_login(user)
    identify(client, v.election, v.voter)  # identification is separate from the account
    html = client.get(_url("reminder", v)).content.decode()
    assert 'value="signed.in@example.org"' in html


def test_a_valid_address_is_kept_encrypted_and_asking_again_replaces_it(client, v):
    r = _ask(client, v)
    assert r.status_code == 302 and r.url == _url("pots", v)
    row = BallotReminder.objects.get()
    assert row.voter_id == v.voter.pk and row.sent_at is None and row.language == "en"
    assert ADDRESS.encode() not in bytes(row.email) and _address_of(row) == ADDRESS
    html = client.get(_url("pots", v)).content.decode()
    assert 'id="reminder-state"' in html and "Change the address" in html
    r = _ask(client, v, "  other@example.org ")
    assert r.status_code == 302
    row = BallotReminder.objects.get()
    assert _address_of(row) == "other@example.org"
    # Bound to its row: copied onto another reminder, the ciphertext does not open.
    assert secret.address_open(BallotReminder().id, row.email) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not-an-address"}, "Enter a valid e-mail address"),
        ({"email": "a@b"}, "Enter a valid e-mail address"),
        ({"email": ""}, "Enter your e-mail address."),
        ({}, "Enter your e-mail address."),
        ({"email": "x" * 300 + "@example.org"}, "too long"),
        ({"email": "ana@example.org\r\nBcc: victim@example.org"}, "Enter a valid e-mail address"),
        ({"email": "ana\x00@example.org"}, "Enter a valid e-mail address"),
        ({"email": ["a@example.org", "b@example.org"]}, None),  # two values: the last is checked
    ],
)
def test_bad_addresses_are_refused_with_a_clear_message(client, v, data, message):
    r = client.post(_url("reminder", v), data)
    if message is None:
        assert r.status_code == 302 and _address_of(BallotReminder.objects.get()) == "b@example.org"
        return
    assert r.status_code == 400
    assert message in r.content.decode() and 'aria-invalid="true"' in r.content.decode()
    assert not BallotReminder.objects.exists()


def test_garbage_posts_never_give_a_500(client, v):
    for body, ctype in [
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
        (b'{"email": "a@example.org"}', "application/json"),
        (b"email=" + b"%00" * 5000, "application/x-www-form-urlencoded"),
    ]:
        r = client.generic("POST", _url("reminder", v), body, content_type=ctype)
        assert r.status_code in (400, 302), (body, r.status_code)
    assert BallotReminder.objects.count() <= 1


def test_not_identified_booth_and_voted_everywhere_are_refused(client, v):
    other = type(client)()
    r = other.post(_url("reminder", v), {"email": ADDRESS})
    assert r.status_code == 302 and r.url == _url("identify", v)
    identify(client, v.election, v.voter, method="booth")
    r = _ask(client, v)
    assert r.status_code == 400 and "own device" in r.content.decode()
    assert 'id="reminder-form"' not in client.get(_url("pots", v)).content.decode()
    identify(client, v.election, v.voter)
    for slug in MARKS:
        _cast(v, slug)
    with pytest.raises(AlreadyVoted):
        reminders.reminder_request(election=v.election, voter=v.voter, email=ADDRESS)
    assert not BallotReminder.objects.exists()


def test_asking_is_rate_limited_per_voter(client, v, settings):
    settings.PB_REMINDER_RATES = ((3, 3600),)
    for _ in range(3):
        assert _ask(client, v).status_code == 302
    r = _ask(client, v)
    assert r.status_code == 429 and "too often" in r.content.decode()


def test_asking_is_rate_limited_per_client_address(client, settings):
    settings.PB_REMINDER_ADDRESS_RATES = ((2, 3600),)
    from tests.ballots.roll_support import make_voter

    v = build_voting()
    codes = []
    for i in range(3):
        voter = make_voter(v.election, v.district, ref=f"RL-{i}", dob=dt.date(1980, 1, 1))
        identify(client, v.election, voter)
        codes.append(_ask(client, v).status_code)
    assert codes == [302, 302, 429]


# --- Deleted with the last cast -----------------------------------------------------------------------------


def test_deleted_in_the_transaction_of_the_last_cast_only(client, v):
    _ask(client, v)
    for slug in ("city", "mokotow", "green"):
        _cast(v, slug)
        assert BallotReminder.objects.filter(voter=v.voter).exists(), slug  # pots left: still wanted
    _cast(v, "youth")
    assert not BallotReminder.objects.exists()


def test_a_last_cast_that_fails_keeps_the_reminder(client, v, monkeypatch):
    _ask(client, v)
    for slug in ("city", "mokotow", "green"):
        _cast(v, slug)

    def fail(*a, **kw):  # the last step inside the cast's transaction, after the reminder's DELETE
        raise RuntimeError("disk full")

    monkeypatch.setattr(casting, "_seal_after_commit", fail)
    with pytest.raises(RuntimeError):
        _cast(v, "youth")
    assert _address_of(BallotReminder.objects.get()) == ADDRESS  # the DELETE rolled back with the cast
    monkeypatch.undo()
    _cast(v, "youth")
    assert not BallotReminder.objects.exists()


def test_marked_at_a_booth_as_voting_on_paper_deletes_it(client, v):
    _ask(client, v)
    casting.paper_voter_mark(actor=official(), election=v.election, voter=v.voter, booth="School 3")
    assert not BallotReminder.objects.exists()


def test_the_last_cast_deletes_with_one_statement_by_voter_id(client, v):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for slug in ("city", "mokotow", "green"):
        _cast(v, slug)
    with CaptureQueriesContext(connection) as ctx:
        _cast(v, "youth")
    touching = [q["sql"] for q in ctx.captured_queries if "ballots_ballotreminder" in q["sql"]]
    assert len(touching) == 1 and touching[0].lstrip().startswith("DELETE"), touching


# --- Sending ------------------------------------------------------------------------------------------------


def test_send_now_mails_once_says_nothing_about_ballots_and_erases_the_address(
    client, v, django_capture_on_commit_callbacks
):
    _ask(client, v)
    _cast(v, "city")
    boss = official()
    client.force_login(boss)
    html = client.get(reverse("core:manage", args=[v.election.slug])).content.decode()
    assert 'id="reminders-send"' in html and "1 voter asked to be reminded" in html
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued once the audit entry commits
        r = client.post(_url("reminders_send", v))
    assert r.status_code == 302
    assert len(mail.outbox) == 1
    m = mail.outbox[0]
    assert m.to == [ADDRESS] and v.election.name in m.subject
    text, (html_body, kind) = m.body, m.alternatives[0]
    assert kind == "text/html" and v.election.name in html_body
    assert reverse("ballots:identify", args=[v.election.slug]) in text
    # Nothing about any ballot or pot (the cancel link's random signed token is left out: it may spell "C1").
    token = re.compile(r"/vote/reminder/cancel/[^\s\"<]+")
    plain, html_plain = token.sub("", text), token.sub("", html_body)
    for word in ("Citywide", "Mokotów", "C1", "receipt", "voted in"):
        assert word not in plain and word not in html_plain and word not in m.subject
    assert "/vote/reminder/cancel/" in m.extra_headers["List-Unsubscribe"]
    row = BallotReminder.objects.get()
    assert row.sent_at is not None and bytes(row.email) == b""
    event = AuditEvent.objects.get(action="ballot.reminders_send")
    assert event.data == {"waiting": 1} and event.actor_id == boss.pk
    # Pressed again, or the task delivered again: nobody gets a second one.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url("reminders_send", v))
    assert reminders_send(election_id=v.election.pk) == 0
    assert len(mail.outbox) == 1
    # Asking again after it was sent gets a clear answer, not a second reminder.
    identify(client, v.election, v.voter)
    r = _ask(client, v)
    assert r.status_code == 409 and "already been sent" in r.content.decode()


def test_the_mail_is_in_the_language_the_voter_asked_in(client, v):
    client.cookies["django_language"] = "vi"
    _ask(client, v)
    assert BallotReminder.objects.get().language == "vi"
    assert reminders_send(election_id=v.election.pk) == 1
    assert mail.outbox[0].alternatives[0][0].startswith('<!doctype html>\n<html lang="vi">')


def test_send_now_is_for_officials_only(client, v):
    _ask(client, v)
    client.force_login(UserFactory())
    r = client.post(_url("reminders_send", v))
    assert r.status_code == 403 and not mail.outbox
    assert not AuditEvent.objects.filter(action="ballot.reminders_send").exists()


def test_a_task_delivered_twice_by_the_real_worker_sends_once(client, v, settings, monkeypatch):
    from django.core.management import call_command
    from django_tasks_db.management.commands import db_worker
    from django_tasks_db.models import DBTaskResult

    from ballots.reminders.tasks import reminders_send_task

    _ask(client, v)
    settings.TASKS = {"default": {**settings.TASKS["default"], "BACKEND": "django_tasks_db.DatabaseBackend"}}
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)  # keep the test's transaction
    reminders_send_task.enqueue(election_id=v.election.pk)
    reminders_send_task.enqueue(election_id=v.election.pk)
    assert DBTaskResult.objects.count() == 2
    call_command("task_worker", "--batch", "--no-startup-delay", "--queue-name=default", verbosity=0)
    assert sorted(DBTaskResult.objects.values_list("return_value", flat=True)) == [0, 1]
    assert len(mail.outbox) == 1


# --- Closing ------------------------------------------------------------------------------------------------


def test_closing_deletes_every_reminder_and_nothing_is_sent_after(client, v):
    _ask(client, v)
    a, b = official(), official()
    close_request(actor=a, election=v.election)
    close_confirm(actor=b, election=v.election)
    v.election.refresh_from_db()
    assert v.election.phase == Phase.VOTING_CLOSED
    assert not BallotReminder.objects.exists()
    assert AuditEvent.objects.get(action="ballot.reminders_deleted").data == {"deleted": 1}
    assert reminders_send(election_id=v.election.pk) == 0 and not mail.outbox
    client.force_login(a)
    r = client.post(_url("reminders_send", v))
    assert r.status_code == 403 and "Voting closed" in r.content.decode()


def test_a_reminder_claimed_after_close_is_not_sent(client, v):
    _ask(client, v)
    # As if the close committed between the job's listing and its claim (the phase is read under the lock).
    from pb.core.models import Election

    Election.objects.filter(pk=v.election.pk).update(phase=Phase.VOTING_CLOSED)
    from ballots.reminders import mailing

    assert mailing._claim(BallotReminder.objects.get().pk) is None and not mail.outbox


# --- The signed cancel link ---------------------------------------------------------------------------------


def test_the_cancel_link_works_without_signing_in_and_once(client, v):
    _ask(client, v)
    reminders_send(election_id=v.election.pk)
    link = mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>")
    path = link.removeprefix(settings_public_url())
    anonymous = type(client)()
    r = anonymous.get(path)
    assert r.status_code == 200 and 'id="reminder-cancel-confirm"' in r.content.decode()
    assert BallotReminder.objects.exists()  # a GET (a link scanner) changes nothing
    r = anonymous.post(path, {"List-Unsubscribe": "One-Click"})  # RFC 8058, no CSRF token
    assert r.status_code == 200 and "cancelled" in r.content.decode()
    assert not BallotReminder.objects.exists()
    r = anonymous.post(path)
    assert r.status_code == 200 and "no reminder left" in r.content.decode()


def test_the_cancel_link_before_sending_deletes_the_address(client, v):
    _ask(client, v)
    token = links.cancel_token(BallotReminder.objects.get())
    r = type(client)().post(reverse("ballots:reminder_cancel", args=[token]))
    assert r.status_code == 200 and not BallotReminder.objects.exists()
    assert reminders_send(election_id=v.election.pk) == 0 and not mail.outbox


def test_forged_cancel_links_are_refused(client, v):
    _ask(client, v)
    row = BallotReminder.objects.get()
    good = links.cancel_token(row)
    forged = [
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),  # altered signature
        signing.dumps(str(row.id), salt="another purpose"),
        signing.dumps(str(row.id), salt=links.CANCEL_SALT, key="not the server's key"),
        signing.dumps({"r": str(row.id)}, salt=links.CANCEL_SALT),  # right key, wrong shape
        unsubscribe_token(UserFactory(), "all"),  # a notifications link
        "garbage",
        "x" * 5000,
    ]
    anonymous = type(client)()
    for token in forged:
        r = anonymous.post(reverse("ballots:reminder_cancel", args=[token]))
        assert r.status_code == 400 and "not valid" in r.content.decode(), token
    assert BallotReminder.objects.exists()


def settings_public_url() -> str:
    from django.conf import settings

    return settings.PB_PUBLIC_URL


# --- The plan: sent by themselves before the announced close ------------------------------------------------


def test_the_plan_needs_a_queue_and_says_so(client, v):
    client.force_login(official())
    r = client.get(_url("reminders_plan", v))
    assert r.status_code == 200 and 'id="no-scheduling"' in r.content.decode()
    closes = timezone.now() + dt.timedelta(days=2)
    r = client.post(
        _url("reminders_plan", v), {"closes_at": closes.strftime("%Y-%m-%dT%H:%M"), "hours_before": 24}
    )
    assert r.status_code == 409 and "use “Send reminders now”" in r.content.decode()
    assert not ReminderPlan.objects.exists()


def test_the_plan_queues_a_task_for_later_and_a_new_plan_replaces_it(
    client, v, settings, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {**settings.TASKS["default"], "BACKEND": "django_tasks_db.DatabaseBackend"}}
    _ask(client, v)
    client.force_login(official())
    closes = (timezone.now() + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            _url("reminders_plan", v),
            {"closes_at": timezone.localtime(closes).strftime("%Y-%m-%dT%H:%M"), "hours_before": 24},
        )
    assert r.status_code == 302
    plan = ReminderPlan.objects.get()
    assert plan.closes_at == closes and plan.send_at == closes - dt.timedelta(hours=24)
    task = DBTaskResult.objects.get()
    assert task.run_after == plan.send_at
    first_planned = task.args_kwargs["kwargs"]["planned"]
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            _url("reminders_plan", v),
            {"closes_at": timezone.localtime(closes).strftime("%Y-%m-%dT%H:%M"), "hours_before": 6},
        )
    assert r.status_code == 302 and DBTaskResult.objects.count() == 2
    # The task queued for the old time does nothing; the new one sends (run here as the worker would).
    assert reminders_send(election_id=v.election.pk, planned=first_planned) == 0
    plan.refresh_from_db()
    assert reminders_send(election_id=v.election.pk, planned=plan.send_at.isoformat()) == 1
    assert "Voting closes on" in mail.outbox[0].body
    assert [e.action for e in AuditEvent.objects.filter(action="ballot.reminders_plan")] == [
        "ballot.reminders_plan"
    ] * 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"closes_at": "2001-01-01T10:00", "hours_before": 24}, "must be in the future"),
        ({"closes_at": "not a date", "hours_before": 24}, "Enter a valid date/time"),
        ({"closes_at": "2099-01-01T10:00", "hours_before": 0}, "greater than or equal to 1"),
        ({"closes_at": "2099-01-01T10:00", "hours_before": "x" * 1000}, "Enter a whole number"),
    ],
)
def test_a_bad_plan_is_refused_with_a_clear_message(client, v, settings, data, message):
    settings.TASKS = {"default": {**settings.TASKS["default"], "BACKEND": "django_tasks_db.DatabaseBackend"}}
    client.force_login(official())
    r = client.post(_url("reminders_plan", v), data)
    assert r.status_code in (400, 409) and message in r.content.decode()
    assert not ReminderPlan.objects.exists()


# --- The address in clear: only in the outgoing e-mail ------------------------------------------------------


def test_the_address_is_nowhere_in_the_database_audit_log_or_api(
    client, v, django_capture_on_commit_callbacks
):
    _ask(client, v)
    boss = official()
    client.force_login(boss)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url("reminders_send", v))
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [ADDRESS]
    _ask(client, v)  # refused (already sent): the refusal keeps nothing either
    needle = ADDRESS.encode()
    for model in apps.get_models():
        for row in model.objects.all().values():
            blob = json.dumps(
                row, default=lambda o: bytes(o).hex() if isinstance(o, memoryview | bytes) else str(o)
            )
            assert ADDRESS not in blob and needle.hex() not in blob, model
    for e in AuditEvent.objects.all():
        assert ADDRESS not in json.dumps([e.data, e.private])
    for path in (
        f"/api/v1/elections/{v.election.slug}",
        f"/api/v1/elections/{v.election.slug}/results",
        "/api/v1/elections",
    ):
        body = client.get(path).content.decode(errors="replace")
        assert ADDRESS not in body
