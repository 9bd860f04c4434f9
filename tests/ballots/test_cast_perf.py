"""The cast request's database budget: election day's hot path must not grow queries unnoticed.

Counts the SQL statements of one cast POST through the real view and service (savepoints of the test
transaction excluded; in production the transaction adds BEGIN and COMMIT, and the sealing check after
commit adds one indexed read). If a change needs more, raise the figure here on purpose, with a reason.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ballots.casting import castctx
from ballots.definition import definition_freeze
from ballots.models import CodeStatus, Participation, VotingCode
from tests.ballots.cast_support import build_voting, cast_ballots, identify

pytestmark = pytest.mark.django_db

# The pot with its election, the election's pots and its frozen definition's id and hash in one query (the
# cast context; the pot's projects come from the ballot page's cache, ballots.casting.selectors.ballot_page,
# and K from the frozen bytes once per process; the identification is a signed cookie, no session read),
# the voter row lock (with the election's phase and frozen definition), the voter's participations, then the
# writes: the participation insert and the ballot insert, plus marking the voter's code used after their
# last pot (the count of unsealed ballots runs after the commit). After the last pot also one DELETE of the
# voter's reminder by voter id (ballots.reminders: the address of someone who has voted is not kept), with
# no read before it.
CAST_QUERIES = 5
LAST_CAST_QUERIES = 7


def _sql(logged: str) -> str:
    """Django logs statements bound on the server (PostgreSQL's OPTIONS server_side_binding) as
    "QUERY = '...' - PARAMS = (...)"."""
    if logged.startswith("QUERY = '") and "' - PARAMS = " in logged:
        return logged[len("QUERY = '") : logged.rindex("' - PARAMS = ")]
    return logged


def _statements(ctx) -> list[str]:
    return [_sql(q["sql"]) for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]


def _cast(client, v, pot, data):
    url = reverse("ballots:ballot_cast", args=[v.election.slug, pot.slug])
    # As in production: voting opened through the phase change, which froze the definition.
    definition_freeze(election=v.election)
    assert castctx.pot_context(v.election.slug, pot.slug).freeze is not None
    with CaptureQueriesContext(connection) as ctx:
        r = client.post(url, data)
    return r, _statements(ctx)


def test_cast_request_stays_within_its_query_budget(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    r, sql = _cast(client, v, v.city, {"project": ["C1"]})
    assert r.status_code == 200 and 'id="receipt-code"' in r.content.decode()
    assert len(sql) <= CAST_QUERIES, "\n".join(sql)
    # The voter's roll entry is read once (under its lock), not also before the transaction.
    assert sum("ballots_voterrollentry" in s and s.lstrip().startswith("SELECT") for s in sql) == 1
    assert len(cast_ballots()) == 1 and Participation.objects.count() == 1
    # The receipt says what is left: Mokotów, Green ranked, Youth points (not Wola: another district).
    assert "Vote in your other pots" in r.content.decode()
    assert VotingCode.objects.get(voter=v.voter).status == CodeStatus.ACTIVE


def test_last_pot_marks_the_code_used_within_budget(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    for pot, data in [
        (v.city, {"project": ["C1"]}),
        (v.district, {"project": ["M1"]}),
        (v.ranked, {"rank-G1": "1"}),
    ]:
        r, _sql = _cast(client, v, pot, data)
        assert r.status_code == 200, r.content.decode()[:500]
    r, sql = _cast(client, v, v.points, {"points-Y1": "5", "points-Y2": "5"})
    assert r.status_code == 200 and "Back to your ballots" in r.content.decode()
    assert len(sql) <= LAST_CAST_QUERIES, "\n".join(sql)
    assert VotingCode.objects.get(voter=v.voter).status == CodeStatus.USED
    assert Participation.objects.filter(voter=v.voter).count() == 4 and len(cast_ballots()) == 4


def test_second_cast_in_a_pot_is_refused_cheaply(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    _cast(client, v, v.city, {"project": ["C1"]})
    r, sql = _cast(client, v, v.city, {"project": ["C2"]})
    assert r.status_code == 409 and "already voted in Citywide" in r.content.decode()
    assert not any(s.lstrip().startswith("INSERT") for s in sql)
    assert len(cast_ballots()) == 1


def test_cast_with_a_session_naming_a_vanished_roll_entry_goes_to_identify(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    VotingCode.objects.filter(voter=v.voter).delete()
    v.voter.delete()
    r, _sql = _cast(client, v, v.city, {"project": ["C1"]})
    assert r.status_code == 302 and r.url == reverse("ballots:identify", args=[v.election.slug])
    assert len(cast_ballots()) == 0


def test_a_project_added_after_a_ballot_page_was_cached_is_castable(
    client, django_capture_on_commit_callbacks
):
    """The cast's spec comes from the ballot page's cache, keyed by the election's content version: a project
    added (and committed) after the spec was cached is on the ballot at the next cast (a stale spec would
    refuse it as unknown)."""
    from tests.factories import ProposalFactory

    v = build_voting()
    identify(client, v.election, v.voter)
    definition_freeze(election=v.election)
    kept = castctx.pot_context(v.election.slug, v.city.slug)
    assert "C5" not in {p.code for p in kept.spec.projects}
    with django_capture_on_commit_callbacks(execute=True):
        ProposalFactory(pot=v.city, code="C5", title="City project C5", cost=25_000)
    r = client.post(reverse("ballots:ballot_cast", args=[v.election.slug, v.city.slug]), {"project": ["C5"]})
    assert r.status_code == 200 and 'id="receipt-code"' in r.content.decode()
    assert [b.projects for b in cast_ballots()] == [["C5"]]
