"""Voting reminders against a voter's own last cast, on PostgreSQL (real row locks, one connection per
thread): the reminder job and the cast meet on the reminder's row, so the voter gets no e-mail (the cast came
first) or one (the claim came first), never two, and their address is never kept after they voted."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.core import mail
from django.db import connection, transaction

from ballots.casting.services import ballot_cast
from ballots.casting.validation import RawBallot
from ballots.models import BallotReminder
from ballots.reminders.mailing import reminders_send
from ballots.reminders.services import reminder_request
from tests.ballots.cast_support import build_voting
from tests.ballots.roll_support import make_voter

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FIRST = [("city", [("C1", "")]), ("mokotow", [("M1", "")]), ("green", [("G1", "1")])]
LAST = ("youth", [("Y1", "3")])


def _pots(v):
    return {p.slug: p for p in (v.city, v.district, v.ranked, v.points)}


def _voter_ready(v, i: int):
    """A voter with three of their four pots cast and a reminder asked for."""
    voter = make_voter(v.election, v.district, ref=f"RACE-{i}")
    for slug, marks in FIRST:
        ballot_cast(actor=None, election=v.election, pot=_pots(v)[slug], voter=voter, raw=RawBallot.of(marks))
    reminder_request(election=v.election, voter=voter, email=f"race{i}@example.org")
    return voter


def _in_threads(*jobs):
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job):
        try:
            barrier.wait(timeout=30)
            job()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


def test_job_racing_the_last_cast_sends_at_most_one_mail_and_keeps_no_address():
    v = build_voting()
    slug, marks = LAST
    outcomes = []
    rng = random.Random(12)
    for i in range(16):
        voter = _voter_ready(v, i)
        address = f"race{i}@example.org"
        before = len(mail.outbox)

        # Staggered starts (drawn once, seeded) so that both orders happen: the cast first, the claim first.
        delays = [rng.uniform(0, 0.03) for _ in range(3)]

        def cast(voter=voter, delay=delays[0]):
            time.sleep(delay)
            ballot_cast(
                actor=None, election=v.election, pot=_pots(v)[slug], voter=voter, raw=RawBallot.of(marks)
            )

        def job(delay):
            time.sleep(delay)
            reminders_send(election_id=v.election.pk)

        # Two deliveries of the job and the cast, all at once.
        _in_threads(cast, lambda d=delays[1]: job(d), lambda d=delays[2]: job(d))
        mails = [m for m in mail.outbox[before:] if m.to == [address]]
        assert len(mails) <= 1, (i, len(mails))
        outcomes.append(len(mails))
        assert not BallotReminder.objects.filter(voter=voter).exists()  # voted: the address is gone
    assert set(outcomes) <= {0, 1}
    print("mails per race (0: the cast first, 1: the claim first):", outcomes)


def test_a_cast_that_commits_first_means_no_mail():
    v = build_voting()
    voter = _voter_ready(v, 99)
    slug, marks = LAST
    deleted = threading.Event()
    sent: list[int] = []

    def cast():
        with transaction.atomic():
            ballot_cast(
                actor=None, election=v.election, pot=_pots(v)[slug], voter=voter, raw=RawBallot.of(marks)
            )
            deleted.set()
            time.sleep(0.5)  # the job starts meanwhile and must wait for this transaction's row lock

    def job():
        assert deleted.wait(timeout=30)
        sent.append(reminders_send(election_id=v.election.pk))

    _in_threads(cast, job)
    assert sent == [0] and not mail.outbox
    assert not BallotReminder.objects.exists()


def test_a_claim_that_commits_first_means_one_mail_and_the_cast_still_deletes_the_row():
    v = build_voting()
    voter = _voter_ready(v, 98)
    slug, marks = LAST
    assert reminders_send(election_id=v.election.pk) == 1
    ballot_cast(actor=None, election=v.election, pot=_pots(v)[slug], voter=voter, raw=RawBallot.of(marks))
    assert len(mail.outbox) == 1 and not BallotReminder.objects.exists()


def test_asking_while_the_last_cast_is_in_flight_keeps_no_address():
    """The request takes the voter's row lock, as the cast does: whichever is second sees the first."""
    v = build_voting()
    slug, marks = LAST
    for i in range(8):
        voter = make_voter(v.election, v.district, ref=f"ASK-{i}")
        for s, m in FIRST:
            ballot_cast(actor=None, election=v.election, pot=_pots(v)[s], voter=voter, raw=RawBallot.of(m))
        refused: list[str] = []

        def ask(voter=voter, refused=refused, i=i):
            try:
                reminder_request(election=v.election, voter=voter, email=f"ask{i}@example.org")
            except Exception as exc:
                refused.append(type(exc).__name__)

        def cast(voter=voter):
            ballot_cast(
                actor=None, election=v.election, pot=_pots(v)[slug], voter=voter, raw=RawBallot.of(marks)
            )

        _in_threads(ask, cast)
        assert refused in ([], ["AlreadyVoted"])
        assert not BallotReminder.objects.filter(voter=voter).exists()
