"""Paper ballots: marking paper voters at a booth, double entry of batches, diff, accept, reconciliation."""

import uuid

import pytest
from django.urls import reverse

from ballots.casting import selectors
from ballots.casting.services import (
    PaperError,
    ballot_cast,
    paper_batch_accept,
    paper_batch_compare,
    paper_batch_create,
    paper_batch_enter,
    paper_voter_mark,
)
from ballots.casting.validation import RawBallot
from ballots.exceptions import AlreadyVoted
from ballots.models import Channel, CodeStatus, PaperBatchStatus, Participation, VotingCode
from pb.core.exceptions import PermissionDenied
from pb.core.models import AuditEvent
from tests.ballots.cast_support import build_voting, cast_ballots, identify
from tests.ballots.roll_support import make_voter
from tests.factories import UserFactory, official

pytestmark = pytest.mark.django_db

BATCH = "C1 C2\nC3\nC1, C4\nC2 C2\nC9\n-\n"  # 3 valid lines, then a duplicate, an unknown code and a blank


@pytest.fixture
def v():
    return build_voting()


@pytest.fixture
def clerks():
    return official(username="anna"), official(username="bart"), official(username="carl")


def _batch(v, clerk, label="B-1", booth="School 3"):
    return paper_batch_create(actor=clerk, election=v.election, pot=v.city, booth=booth, label=label)


def _mark(v, clerk, n, booth="School 3"):
    """n more residents take a citywide paper ballot at the booth: a batch there may hold n more lines."""
    for _ in range(n):
        voter = make_voter(v.election, v.district, ref=f"PAPER-{uuid.uuid4().hex[:8]}")
        paper_voter_mark(actor=clerk, election=v.election, voter=voter, booth=booth, pots=[v.city])


def test_identical_double_entry_is_accepted_and_rejected_lines_are_listed(v, clerks):
    anna, bart, carl = clerks
    _mark(v, anna, 6)
    batch = _batch(v, anna)
    paper_batch_enter(actor=anna, batch=batch, text=BATCH)
    # Same paper typed in another order within lines and with other separators: the same ballots.
    paper_batch_enter(actor=bart, batch=batch, text="c2 c1\nC3\nC4;C1\nC2 C2\nC9\n-")
    cmp = paper_batch_compare(batch=batch)
    assert cmp.complete and cmp.equal and len(cmp.rows) == 6
    batch = paper_batch_accept(actor=carl, batch=batch)
    assert batch.status == PaperBatchStatus.ACCEPTED
    assert (batch.lines_total, batch.lines_valid) == (6, 3)
    assert [r["line"] for r in batch.rejected] == [4, 5, 6]
    assert batch.rejected[0]["reasons"] == ["Project C2 is chosen more than once."]
    assert batch.rejected[1]["reasons"] == [
        "“C9” is not a project on this ballot.",
        "Choose at least one project.",
    ]
    assert batch.rejected[2]["reasons"] == ["Choose at least one project."]
    ballots = cast_ballots(is_paper=True)
    assert sorted(tuple(b.projects) for b in ballots) == [("C1", "C2"), ("C1", "C4"), ("C3",)]
    assert len({b.receipt_hash for b in ballots}) == 3
    event = AuditEvent.objects.get(action="paper.batch_accept")
    assert event.data["valid"] == 3 and event.data["rejected"] == 3


def test_double_entry_diff_catches_a_changed_line(v, clerks):
    anna, bart, _carl = clerks
    _mark(v, anna, 3)
    batch = _batch(v, anna)
    paper_batch_enter(actor=anna, batch=batch, text="C1 C2\nC3\nC1 C4")
    paper_batch_enter(actor=bart, batch=batch, text="C1 C2\nC3 C4\nC1 C4")
    cmp = paper_batch_compare(batch=batch)
    assert not cmp.equal
    assert [(r.row, r.a, r.b) for r in cmp.differences] == [(2, "C3", "C3 C4")]
    with pytest.raises(PaperError, match="differ on rows 2"):
        paper_batch_accept(actor=anna, batch=batch)
    assert len(cast_ballots()) == 0
    # A missing line is a difference too, not silently aligned away.
    paper_batch_enter(actor=bart, batch=batch, text="C1 C2\nC1 C4")
    cmp = paper_batch_compare(batch=batch)
    assert [(r.a, r.b) for r in cmp.differences] == [("C3", None)]
    # The second official corrects their entry: now they agree and the batch can be accepted.
    paper_batch_enter(actor=bart, batch=batch, text="C1 C2\nC3\nC1 C4")
    assert paper_batch_compare(batch=batch).equal
    paper_batch_accept(actor=anna, batch=batch)
    assert len(cast_ballots(is_paper=True)) == 3


def test_differences_can_be_resolved_with_a_note(v, clerks):
    anna, bart, carl = clerks
    _mark(v, anna, 2)
    batch = _batch(v, anna)
    paper_batch_enter(actor=anna, batch=batch, text="C1 C2\nC3")
    paper_batch_enter(actor=bart, batch=batch, text="C1 C2\nC2")
    with pytest.raises(PaperError, match="Say how the differences were resolved"):
        paper_batch_accept(actor=carl, batch=batch, resolution={2: "b"})
    batch = paper_batch_accept(actor=carl, batch=batch, resolution={2: "b"}, note="checked the paper")
    assert sorted(tuple(b.projects) for b in cast_ballots()) == [("C1", "C2"), ("C2",)]
    assert batch.resolution == {"lines": {"2": "b"}, "note": "checked the paper"}


def test_accept_needs_two_different_officials_and_happens_once(v, clerks):
    anna, bart, _carl = clerks
    _mark(v, anna, 1)
    batch = _batch(v, anna)
    paper_batch_enter(actor=anna, batch=batch, text="C1")
    paper_batch_enter(actor=anna, batch=batch, text="C1")  # typing again replaces one's own entry
    with pytest.raises(PaperError, match="Two different officials"):
        paper_batch_accept(actor=anna, batch=batch)
    paper_batch_enter(actor=bart, batch=batch, text="C1")
    paper_batch_accept(actor=bart, batch=batch)
    with pytest.raises(PaperError, match="already been accepted"):
        paper_batch_accept(actor=bart, batch=batch)
    with pytest.raises(PaperError, match="can no longer change"):
        paper_batch_enter(actor=anna, batch=batch, text="C2")
    assert len(cast_ballots()) == 1


def test_residents_cannot_enter_paper(v, clerks):
    batch = _batch(v, clerks[0])
    with pytest.raises(PermissionDenied):
        paper_batch_enter(actor=UserFactory(), batch=batch, text="C1")


def test_paper_voter_cannot_also_vote_online_and_reconciliation_shows_differences(v, clerks):
    anna, bart, _carl = clerks
    marked = paper_voter_mark(actor=anna, election=v.election, voter=v.voter, booth="School 3")
    assert {p.pot.slug for p in marked} == {"city", "mokotow", "green", "youth"}
    assert all(p.channel == Channel.PAPER and p.booth == "School 3" for p in marked)
    assert VotingCode.objects.get(voter=v.voter).status == CodeStatus.USED
    with pytest.raises(AlreadyVoted, match="You have already voted in Citywide"):
        ballot_cast(
            actor=None, election=v.election, pot=v.city, voter=v.voter, raw=RawBallot.of([("C1", "")])
        )
    # A second paper voter at the same booth, but three paper ballots in the batch: refused, with the numbers.
    other = make_voter(v.election, v.district, ref="CD-456")
    paper_voter_mark(actor=anna, election=v.election, voter=other, booth="School 3", pots=[v.city])
    batch = _batch(v, anna)
    paper_batch_enter(actor=anna, batch=batch, text="C1\nC2\nC9")
    paper_batch_enter(actor=bart, batch=batch, text="C1\nC2\nC9")
    with pytest.raises(
        PaperError,
        match="This batch has 3 paper ballots for Citywide at booth School 3; 2 voters were marked as "
        "voting on paper there and 0 paper ballots are already accepted",
    ):
        paper_batch_accept(actor=anna, batch=batch)
    _mark(v, anna, 1)
    paper_batch_accept(actor=anna, batch=batch)
    listed = selectors.paper_reconciliation(v.election)
    assert [(r.booth, r.pot.name) for r in listed] == sorted((r.booth, r.pot.name) for r in listed)
    rows = {(r.booth, r.pot.slug): r for r in listed}
    city = rows[("School 3", "city")]
    assert (city.marked, city.entered, city.valid, city.rejected, city.difference) == (3, 3, 2, 1, 0)
    assert rows[("School 3", "mokotow")].difference == -1  # marked, no batch entered yet


def test_paper_voter_already_online_is_refused(v, clerks):
    ballot_cast(actor=None, election=v.election, pot=v.city, voter=v.voter, raw=RawBallot.of([("C1", "")]))
    with pytest.raises(AlreadyVoted, match="You have already voted in Citywide"):
        paper_voter_mark(actor=clerks[0], election=v.election, voter=v.voter, booth="B", pots=[v.city])
    assert not Participation.objects.filter(channel=Channel.PAPER).exists()


def test_paper_pages_over_http(client, v, clerks):
    anna, bart, carl = clerks
    client.force_login(anna)
    url = reverse("ballots:paper_batches", args=[v.election.slug])
    r = client.post(url, {"pot": v.city.pk, "booth": "School 3", "label": "B-7"})
    assert r.status_code == 302
    batch_url = r.url
    r = client.post(batch_url, {"action": "enter", "text": "C1 C2\nC3"})
    assert r.status_code == 302
    client.force_login(bart)
    client.post(batch_url, {"action": "enter", "text": "C1 C2\nC4"})
    html = client.get(batch_url).content.decode()
    assert 'id="entries-differ"' in html and 'id="diff-row-2"' in html and "C4" in html
    _mark(v, anna, 2)
    client.force_login(carl)
    r = client.post(batch_url, {"action": "accept"})
    assert r.status_code == 409 and "differ on rows 2" in r.content.decode()
    r = client.post(batch_url, {"action": "accept", "row_2": "a", "note": "paper says C3"})
    assert r.status_code == 302
    html = client.get(batch_url).content.decode()
    assert 'id="accepted-counts"' in html and "2 paper ballots: 2 valid." in html
    assert sorted(tuple(b.projects) for b in cast_ballots()) == [("C1", "C2"), ("C3",)]
    html = client.get(url).content.decode()
    assert 'id="reconciliation"' in html and "School 3" in html
    # Residents do not get these pages.
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403


def test_booth_official_marks_a_paper_voter_over_http(client, v, clerks):
    client.force_login(clerks[0])
    identify(client, v.election, v.voter, method="booth")
    r = client.post(reverse("ballots:paper_mark", args=[v.election.slug]), {"booth": "Library"})
    assert r.status_code == 302
    assert Participation.objects.filter(voter=v.voter, channel=Channel.PAPER, booth="Library").count() == 4
