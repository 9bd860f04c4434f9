"""Races of one voter against themselves, on PostgreSQL (real row locks, one connection per thread)."""

import threading

import pytest
from django.db import connection

from ballots.casting.services import ballot_cast
from ballots.casting.validation import RawBallot
from ballots.exceptions import AlreadyVoted
from ballots.models import Participation
from tests.ballots.cast_support import build_voting, cast_ballots

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(v, pots_and_marks):
    barrier = threading.Barrier(len(pots_and_marks))
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(pot, marks):
        try:
            barrier.wait(timeout=30)
            ballot_cast(actor=None, election=v.election, pot=pot, voter=v.voter, raw=RawBallot.of(marks))
            result = f"ok:{pot.slug}"
        except AlreadyVoted as exc:
            result = f"already:{exc.message}"
        except Exception as exc:  # any other outcome is a failure, reported below
            result = f"error:{exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=pm) for pm in pots_and_marks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def test_fifty_concurrent_casts_by_one_voter_store_exactly_one_ballot():
    v = build_voting()
    outcomes = _race(v, [(v.city, [("C1", "")])] * 50)
    assert len(outcomes) == 50
    assert outcomes.count("ok:city") == 1, outcomes
    assert outcomes.count("already:You have already voted in Citywide.") == 49, outcomes
    assert len(cast_ballots()) == 1
    assert Participation.objects.count() == 1


def test_concurrent_casts_in_two_pots_each_get_one_ballot():
    v = build_voting()
    work = [(v.city, [("C1", "")]), (v.district, [("M1", "")])] * 25
    outcomes = _race(v, work)
    assert outcomes.count("ok:city") == 1 and outcomes.count("ok:mokotow") == 1, outcomes
    assert sum(o.startswith("already:") for o in outcomes) == 48, outcomes
    assert sorted(b.pot_slug for b in cast_ballots()) == ["city", "mokotow"]
    assert Participation.objects.count() == 2
