"""Reconciliation that binds (issue 9): paper ballots never exceed the paper voters of their booth, and any
other difference between ballots and participations stops closing, the count and certification until two
different officials record a public reason. Through the real services, database and HTTP."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from ballots.ballotbox import pending
from ballots.casting.services import PaperError, paper_batch_enter
from ballots.exceptions import ReconciliationError
from ballots.models import (
    Ballot,
    Channel,
    PaperBatch,
    PaperBatchStatus,
    PaperEntry,
    Participation,
    PendingBallot,
    ReconciliationResolution,
)
from ballots.reconciliation.selectors import reconciliation_manifest, reconciliation_status
from ballots.reconciliation.services import (
    reconciliation_require_resolved,
    reconciliation_resolve_confirm,
    reconciliation_resolve_propose,
    reconciliation_resolve_withdraw,
)
from pb.core.exceptions import PermissionDenied, PhaseError
from pb.core.models import AuditEvent, Phase
from tally.closing import close_confirm, close_request
from tally.counting import tally_start
from tally.models import TallyRun
from tests.ballots.reconciliation_support import Box
from tests.factories import UserFactory

SIX = "N1\nN2\nN1 N3\nN3\nN1 N2\nN2 N3"


@pytest.fixture
def box(db):
    return Box()


def _row(box, channel="paper", booth="Library", pot=None):
    pot = pot or box.north
    return next(
        r
        for r in reconciliation_status(box.election).rows
        if (r.pot.pk, r.channel, r.booth) == (pot.pk, channel, booth)
    )


# --- 1. paper ballots <= paper voters, per booth ----------------------------------------------------------


def test_six_paper_ballots_for_one_marked_voter_are_refused_with_the_numbers(box):
    box.paper_voters(1)
    batch = box.batch(SIX)
    with pytest.raises(PaperError) as exc:
        box.accept(batch)
    assert exc.value.message.startswith(
        "This batch has 6 paper ballots for North at booth Library; 1 voter was marked as voting on paper "
        "there and 0 paper ballots are already accepted."
    )
    batch.refresh_from_db()
    assert batch.status == PaperBatchStatus.OPEN and not Ballot.objects.filter(is_paper=True).exists()
    assert not AuditEvent.objects.filter(action="paper.batch_accept").exists()
    # Voters marked at another booth do not make room here: the rule is per booth.
    box.paper_voters(5, booth="Town hall")
    with pytest.raises(PaperError, match="1 voter was marked"):
        box.accept(batch)
    box.paper_voters(5)
    assert box.accept(batch).status == PaperBatchStatus.ACCEPTED
    assert _row(box).difference == 0


def test_already_accepted_lines_count_rejected_ones_included(box):
    box.paper_voters(3)
    # Line 2 is invalid (unknown code): rejected, but it is a sheet a voter handed in, so it uses a place.
    first = box.accept(box.batch("N1\nN9"))
    assert (first.lines_total, first.lines_valid) == (2, 1)
    second = box.batch("N2\nN3")
    with pytest.raises(PaperError, match=r"3 voters were marked .* and 2 paper ballots are already accepted"):
        box.accept(second)
    third = box.accept(box.batch("N2"))
    assert third.status == PaperBatchStatus.ACCEPTED
    row = _row(box)
    # 3 sheets for 3 voters, but only 2 valid ballots: a difference (the spoiled sheet) to resolve.
    assert (row.participations, row.ballots, row.rejected_lines, row.difference) == (3, 2, 1, -1)


def test_ballots_still_pending_are_counted_in_their_channel(box):
    box.online(3)
    box.paper_voters(1)
    box.accept(box.batch("N2"))
    # While voting is open the ballots wait, encrypted, to be sealed with at least K others of their pot.
    assert PendingBallot.objects.filter(election=box.election).count() == 4
    assert not Ballot.objects.filter(election=box.election).exists()
    online, paper = _row(box, "online", ""), _row(box)
    assert (online.participations, online.ballots) == (3, 3)
    assert (paper.participations, paper.ballots) == (1, 1)
    assert reconciliation_status(box.election).ok


def test_paper_ballots_no_accepted_batch_accounts_for_are_caught(box):
    box.paper_voters(2)
    box.accept(box.batch("N1\nN2"))
    # A paper ballot slipped into the table outside any batch: a row of its own, blocking.
    row = pending.row(
        election_id=box.election.pk,
        pot_id=box.north.pk,
        projects=["N3"],
        points={},
        is_paper=True,
        receipt_hash="f" * 64,
    )
    PendingBallot.objects.create(id=row["id"], election=box.election, pot=box.north, content=row["content"])
    outside = _row(box, booth="")
    assert (outside.participations, outside.ballots, outside.resolved) == (0, 1, False)
    with pytest.raises(PhaseError, match="North, paper outside any batch: 1 ballot for 0 voters recorded"):
        reconciliation_require_resolved(box.election)
    # Two paper ballots of the batch removed: no resolution may cover that.
    PendingBallot.objects.filter(election=box.election).exclude(pk=row["id"]).delete()
    PendingBallot.objects.filter(pk=row["id"]).delete()
    status = reconciliation_status(box.election)
    assert status.integrity == [
        "North: 2 paper ballots of accepted batches are missing from the ballot table"
    ]
    with pytest.raises(PhaseError, match="missing from the ballot table"):
        reconciliation_require_resolved(box.election)


# --- 4. no silently dropped paper lines -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "N1\nN2\nN3\n\nN1 N2\nN2 N3\nN1",
            "7 lines typed, not saved: line 4: empty (type - for a blank ballot).",
        ),
        (
            "\nN1\n   \n,;\n-",
            "5 lines typed, not saved: line 1: empty (type - for a blank ballot); line 3: empty (type - for "
            "a blank ballot); line 4: empty (type - for a blank ballot).",
        ),
        ("N1\nN2\n\n", "3 lines typed, not saved: line 3: empty (type - for a blank ballot)."),
    ],
)
def test_an_empty_line_is_refused_and_named_never_dropped(box, text, message):
    batch = box.batch("N1")
    with pytest.raises(PaperError) as exc:
        paper_batch_enter(actor=box.carl, batch=batch, text=text)
    assert exc.value.message == message
    assert not PaperEntry.objects.filter(batch=batch, entered_by=box.carl).exists()


def test_a_dash_is_a_blank_ballot_line_counted_and_judged_by_the_pot_rules(box):
    box.paper_voters(3)
    batch = box.accept(box.batch("N1\n-\nN2"))
    # This pot asks for at least one project: the blank ballot is listed as rejected, with the reason.
    assert (batch.lines_total, batch.lines_valid) == (3, 2)
    assert batch.rejected == [{"line": 2, "text": "-", "reasons": ["Choose at least one project."]}]


def test_an_empty_line_over_http_is_named_and_the_typing_kept(client, box):
    batch = PaperBatch.objects.create(
        election=box.election, pot=box.north, booth="Library", label="B-9", created_by=box.anna
    )
    client.force_login(box.anna)
    url = reverse("ballots:paper_batch", args=[box.election.slug, batch.pk])
    typed = "\r\nN1\r\nN2\r\nN3\r\n\r\nN1 N2\r\nN2 N3"
    r = client.post(url, {"action": "enter", "text": typed})
    html = r.content.decode()
    assert r.status_code == 409
    assert "7 lines typed, not saved: line 1: empty (type - for a blank ballot); line 5: empty" in html
    assert "N2 N3</textarea>" in html  # what was typed is still there to correct
    assert not PaperEntry.objects.exists()


# --- 2. differences block closing, counting and certification until two officials resolve them ------------


def test_a_paper_voter_without_a_ballot_blocks_the_count_until_two_officials_resolve_it(box):
    box.online(4)
    box.paper_voters(2)
    box.close()  # a paper booth still short of ballots does not stop the close: paper is entered after it
    box.accept(box.batch("N1"))
    with pytest.raises(PhaseError) as exc:
        tally_start(actor=box.anna, election=box.election)
    assert "North, paper at Library: 1 ballot for 2 voters recorded (-1)" in exc.value.message
    assert not TallyRun.objects.exists()

    res = reconciliation_resolve_propose(
        actor=box.anna,
        election=box.election,
        pot=box.north,
        channel="paper",
        booth="Library",
        reason="One voter took the sheet home; the booth log says so.",
    )
    # One official alone cannot: the count is still refused, and the proposer cannot confirm.
    with pytest.raises(PhaseError, match="paper at Library"):
        tally_start(actor=box.anna, election=box.election)
    with pytest.raises(ReconciliationError, match="second, different official"):
        reconciliation_resolve_confirm(actor=box.anna, election=box.election, resolution=res)
    # Nor can they through the database: the check constraint refuses the proposer as confirmer.
    with pytest.raises(IntegrityError), transaction.atomic():
        ReconciliationResolution.objects.filter(pk=res.pk).update(confirmed_by=box.anna)
    res = reconciliation_resolve_confirm(actor=box.bart, election=box.election, resolution=res.pk)
    # The same official cannot confirm twice (nor a third one after them).
    with pytest.raises(ReconciliationError, match="already confirmed"):
        reconciliation_resolve_confirm(actor=box.carl, election=box.election, resolution=res.pk)

    run = tally_start(actor=box.anna, election=box.election)
    assert run.official
    # A resolution changes no ballot.
    assert Participation.objects.filter(channel=Channel.PAPER).count() == 2
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="reconciliation.")] == [
        "reconciliation.propose",
        "reconciliation.confirm",
    ]
    assert AuditEvent.objects.get(action="reconciliation.confirm").data == {
        "pot": "north",
        "channel": "paper",
        "booth": "Library",
        "participations": 2,
        "ballots": 1,
        "reason": "One voter took the sheet home; the booth log says so.",
    }
    assert reconciliation_manifest(box.election)["north"] == {
        "name": "North",
        "participations": {"online": 4, "paper": 2},
        "ballots": {"online": 4, "paper": 1},
        "resolutions": [
            {
                "channel": "paper",
                "booth": "Library",
                "participations": 2,
                "ballots": 1,
                "difference": -1,
                "reason": "One voter took the sheet home; the booth log says so.",
            }
        ],
    }


def test_an_online_difference_blocks_closing(box):
    box.online(3)
    # A participation without its ballot (a forged row, or a cast that lost its ballot).
    Participation.objects.create(
        election=box.election,
        pot=box.north,
        voter=box.voter(),
        channel=Channel.ONLINE,
        day=Participation.objects.first().day,
    )
    close_request(actor=box.anna, election=box.election)
    with pytest.raises(PhaseError) as exc:
        close_confirm(actor=box.bart, election=box.election)
    assert "North, online: 3 ballots for 4 voters recorded (-1)" in exc.value.message
    box.election.refresh_from_db()
    assert box.election.phase == Phase.VOTING_OPEN
    res = reconciliation_resolve_propose(
        actor=box.anna,
        election=box.election,
        pot=box.north,
        channel="online",
        reason="Investigated: see report 7.",
    )
    reconciliation_resolve_confirm(actor=box.carl, election=box.election, resolution=res)
    box.election = close_confirm(actor=box.bart, election=box.election)
    assert box.election.phase == Phase.VOTING_CLOSED


def test_a_resolution_covers_only_the_numbers_it_explains(box):
    box.paper_voters(3)
    box.close()
    box.accept(box.batch("N1"))
    res = reconciliation_resolve_propose(
        actor=box.anna,
        election=box.election,
        pot=box.north,
        channel="paper",
        booth="Library",
        reason="Two lost.",
    )
    reconciliation_resolve_confirm(actor=box.bart, election=box.election, resolution=res)
    reconciliation_require_resolved(box.election)
    # The missing sheets turn up after all: the resolution no longer matches, the difference is open again.
    box.accept(box.batch("N2"))
    row = _row(box)
    assert row.difference == -1 and not row.resolved and row.stale == [res]
    with pytest.raises(PhaseError, match="2 ballots for 3 voters recorded"):
        reconciliation_require_resolved(box.election)
    # A proposal made for numbers that then change cannot be confirmed.
    second = reconciliation_resolve_propose(
        actor=box.anna,
        election=box.election,
        pot=box.north,
        channel="paper",
        booth="Library",
        reason="One lost.",
    )
    box.accept(box.batch("N3"))
    with pytest.raises(ReconciliationError, match="numbers changed since this was proposed"):
        reconciliation_resolve_confirm(actor=box.bart, election=box.election, resolution=second)
    reconciliation_require_resolved(box.election)  # 3 for 3: nothing left to resolve
    with pytest.raises(ReconciliationError, match="no difference to resolve"):
        reconciliation_resolve_propose(
            actor=box.anna, election=box.election, pot=box.north, channel="paper", booth="Library", reason="x"
        )


def test_proposals_refuse_garbage_and_duplicates(box, django_user_model):
    box.paper_voters(1)
    propose = dict(election=box.election, pot=box.north, channel="paper", booth="Library")
    with pytest.raises(ReconciliationError, match="Give the reason"):
        reconciliation_resolve_propose(actor=box.anna, reason="   ", **propose)
    with pytest.raises(ReconciliationError, match="under 2000"):
        reconciliation_resolve_propose(actor=box.anna, reason="x" * 2001, **propose)
    with pytest.raises(ReconciliationError, match="Unknown channel"):
        reconciliation_resolve_propose(actor=box.anna, reason="r", **(propose | {"channel": "fax"}))
    with pytest.raises(ReconciliationError, match="Nothing to reconcile"):
        reconciliation_resolve_propose(actor=box.anna, reason="r", **(propose | {"booth": "Nowhere"}))
    other = Box()
    with pytest.raises(ReconciliationError, match="not part of this election"):
        reconciliation_resolve_propose(actor=box.anna, reason="r", **(propose | {"pot": other.north}))
    with pytest.raises(PermissionDenied):
        reconciliation_resolve_propose(actor=UserFactory(), reason="r", **propose)
    res = reconciliation_resolve_propose(actor=box.anna, reason="r", **propose)
    with pytest.raises(ReconciliationError, match="has already proposed"):
        reconciliation_resolve_propose(actor=box.bart, reason="mine", **propose)
    with pytest.raises(ReconciliationError, match="No such resolution"):
        reconciliation_resolve_confirm(actor=box.bart, election=other.election, resolution=res)
    reconciliation_resolve_withdraw(actor=box.bart, election=box.election, resolution=res)
    with pytest.raises(ReconciliationError, match="withdrawn"):
        reconciliation_resolve_confirm(actor=box.bart, election=box.election, resolution=res)
    # After a withdrawal a new proposal may be made; the database allows one open proposal per difference.
    reconciliation_resolve_propose(actor=box.bart, reason="mine", **propose)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReconciliationResolution.objects.create(
            election=box.election,
            pot=box.north,
            channel="paper",
            booth="Library",
            participations=1,
            ballots=0,
            reason="sneaked in",
            proposed_by=box.carl,
            proposed_at=res.proposed_at,
        )


# --- The officials' page ----------------------------------------------------------------------------------


def test_reconciliation_page_propose_and_confirm_over_http(client, box):
    box.online(2)
    box.paper_voters(2)
    box.close()
    box.accept(box.batch("N1"))
    url = reverse("ballots:reconciliation", args=[box.election.slug])
    client.force_login(box.anna)
    html = client.get(url).content.decode()
    assert "1 difference is not resolved." in html and "Library" in html
    for page in ("ballots:paper_batches", "core:manage", "tally:manage"):  # reachable from the official pages
        assert url in client.get(reverse(page, args=[box.election.slug])).content.decode(), page
    # Garbage: unknown action, a pot id of no election, a non-number: clear errors, never a 500.
    for post in (
        {"action": "explode"},
        {"action": "propose", "pot": "abc", "channel": "paper", "booth": "Library", "reason": "r"},
        {"action": "propose", "pot": "999999", "channel": "paper", "booth": "Library", "reason": "r"},
        {"action": "confirm", "resolution": "999999"},
        {"action": "confirm"},
    ):
        r = client.post(url, post)
        assert r.status_code in (400, 409), (post, r.status_code)
        assert 'id="reconciliation-error"' in r.content.decode()
    r = client.post(
        url,
        {"action": "propose", "pot": box.north.pk, "channel": "paper", "booth": "Library", "reason": "Lost."},
    )
    assert r.status_code == 302
    res = ReconciliationResolution.objects.get()
    r = client.post(url, {"action": "confirm", "resolution": res.pk})
    assert r.status_code == 409 and "second, different official" in r.content.decode()
    client.force_login(box.bart)
    assert client.post(url, {"action": "confirm", "resolution": res.pk}).status_code == 302
    html = client.get(url).content.decode()
    assert "Everything reconciles." in html and "Lost." in html
    # Residents see nothing.
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403


# --- Races (PostgreSQL: real row locks) -------------------------------------------------------------------


def _race(fns):
    barrier = threading.Barrier(len(fns))
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(fn):
        try:
            barrier.wait(timeout=30)
            fn()
            result = "ok"
        except PaperError as exc:
            result = f"refused:{exc.message}"
        except ReconciliationError as exc:
            result = f"refused:{exc.message}"
        except Exception as exc:
            result = f"error:{exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_accepts_of_one_booth_cannot_both_pass():
    box = Box()
    box.paper_voters(3)
    # Each batch fits alone (2 <= 3); both together do not (2 + 2 > 3). Without the pot's row lock both
    # accepts read "0 already accepted" and both pass.
    batches = [box.batch("N1\nN2"), box.batch("N3\nN1")]
    outcomes = _race(
        [lambda b=b, c=c: box.accept(b, actor=c) for b, c in zip(batches, [box.carl, box.anna], strict=True)]
    )
    assert sorted(o.split(":")[0] for o in outcomes) == ["ok", "refused"], outcomes
    assert "2 paper ballots are already accepted" in next(o for o in outcomes if o.startswith("refused"))
    accepted = PaperBatch.objects.filter(status=PaperBatchStatus.ACCEPTED)
    assert sum(b.lines_total for b in accepted) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_confirmations_and_proposals_leave_one_each():
    box = Box()
    box.paper_voters(2)
    propose = dict(election=box.election, pot=box.north, channel="paper", booth="Library")
    outcomes = _race(
        [
            lambda: reconciliation_resolve_propose(actor=box.anna, reason="a", **propose),
            lambda: reconciliation_resolve_propose(actor=box.bart, reason="b", **propose),
        ]
    )
    assert sorted(o.split(":")[0] for o in outcomes) == ["ok", "refused"], outcomes
    res = ReconciliationResolution.objects.get()
    others = [u for u in (box.anna, box.bart, box.carl) if u.pk != res.proposed_by_id]
    outcomes = _race(
        [
            lambda u=u: reconciliation_resolve_confirm(actor=u, election=box.election, resolution=res.pk)
            for u in others
        ]
    )
    assert sorted(o.split(":")[0] for o in outcomes) == ["ok", "refused"], outcomes
    res.refresh_from_db()
    assert res.confirmed_by_id in {u.pk for u in others}
    assert AuditEvent.objects.filter(action="reconciliation.confirm").count() == 1
