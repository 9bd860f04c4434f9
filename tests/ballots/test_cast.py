"""ballot_cast: one transaction, one participation and one secret ballot per voter and pot."""

import datetime as dt
import hashlib

import pytest
from django.utils import timezone

from ballots.ballotbox.receipts import receipt_hash, receipt_normalize
from ballots.casting.services import ballot_cast
from ballots.casting.validation import RawBallot
from ballots.exceptions import AlreadyVoted, NotEligible
from ballots.models import Ballot, Channel, CodeStatus, Participation, PendingBallot, VotingCode
from ballots.roll import identity
from pb.core.exceptions import PermissionDenied
from pb.core.models import AuditEvent, Phase
from tests.ballots.cast_support import build_voting, cast_ballot, cast_ballots
from tests.ballots.roll_support import make_voter
from tests.factories import UserFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture
def v():
    return build_voting()


def _cast(v, pot, marks, **kw):
    kw.setdefault("actor", None)
    return ballot_cast(election=v.election, pot=pot, voter=v.voter, raw=RawBallot.of(marks), **kw)


def test_cast_writes_participation_and_ballot_apart(v):
    audit_before = AuditEvent.objects.count()
    result = _cast(v, v.city, [("C2", ""), ("C1", "")])
    p = Participation.objects.get()
    assert (p.voter, p.pot, p.channel, p.day) == (v.voter, v.city, Channel.ONLINE, timezone.localdate())
    b = cast_ballot()
    assert b.projects == ["C1", "C2"] and b.points == {} and b.pot_id == v.city.pk and not b.is_paper
    assert not b.sealed and not Ballot.objects.exists()  # pending (encrypted) until sealed with K others
    # Only the hash of the receipt is stored; the code itself is nowhere in the database.
    assert b.receipt_hash == receipt_hash(result.receipt_code)
    assert (
        b.receipt_hash
        == hashlib.sha256(f"pb-receipt:{receipt_normalize(result.receipt_code)}".encode()).hexdigest()
    )
    stored = list(PendingBallot.objects.values()) + list(Participation.objects.values())
    assert result.receipt_code not in str(stored)
    # Nor the receipt hash or the projects in clear: the pending row is ciphertext. (Not the two bytes "C1"
    # alone: random ciphertext holds them in about one run in 300; a quoted code or the plaintext's list,
    # never.)
    content = bytes(PendingBallot.objects.get().content)
    assert b.receipt_hash.encode() not in content
    assert b'"C1"' not in content and b'"C2"' not in content and b'"p":[' not in content
    # No audit entry for an online cast (see the secrecy note in ballots/services.py).
    assert AuditEvent.objects.count() == audit_before


def test_second_cast_in_same_pot_refused_with_clear_message(v):
    _cast(v, v.city, [("C1", "")])
    with pytest.raises(AlreadyVoted) as exc:
        _cast(v, v.city, [("C2", "")])
    assert exc.value.message == "You have already voted in Citywide."
    assert len(cast_ballots()) == 1 and Participation.objects.count() == 1
    assert cast_ballot().projects == ["C1"]


def test_voter_votes_once_in_each_of_their_pots_and_code_is_used_at_the_end(v):
    _cast(v, v.city, [("C1", "")])
    r = _cast(v, v.district, [("M1", ""), ("M2", "")])
    assert r.pots_left == 2
    assert VotingCode.objects.get(voter=v.voter).status == CodeStatus.ACTIVE
    _cast(v, v.ranked, [("G2", "1"), ("G1", "2")])
    r = _cast(v, v.points, [("Y1", "4"), ("Y3", "5")])
    assert r.pots_left == 0
    assert VotingCode.objects.get(voter=v.voter).status == CodeStatus.USED
    assert cast_ballot(pot=v.ranked).projects == ["G2", "G1"]
    assert cast_ballot(pot=v.points).points == {"Y1": 4, "Y3": 5}
    assert Participation.objects.filter(voter=v.voter).count() == 4


def test_not_eligible_for_another_district(v):
    with pytest.raises(NotEligible) as exc:
        _cast(v, v.other, [("W1", "")])
    assert "This pot is for residents of Wola" in exc.value.message
    assert len(cast_ballots()) == 0 and Participation.objects.count() == 0


def test_too_young_voter_refused(v):
    young = make_voter(v.election, v.district, ref="YOUNG-1", dob=dt.date(2015, 1, 1))
    with pytest.raises(NotEligible, match="You must be 16"):
        ballot_cast(actor=None, election=v.election, pot=v.city, voter=young, raw=RawBallot.of([("C1", "")]))
    assert len(cast_ballots()) == 0


@pytest.mark.parametrize("phase", [Phase.REVIEW, Phase.VOTING_CLOSED, Phase.PUBLISHED])
def test_cast_only_while_voting_is_open(v, phase):
    v.election.phase = phase
    v.election.save()
    with pytest.raises(PermissionDenied):
        _cast(v, v.city, [("C1", "")])
    assert len(cast_ballots()) == 0 and Participation.objects.count() == 0


def test_booth_cast_needs_an_official_and_is_audited_without_the_ballot(v):
    with pytest.raises(PermissionDenied):
        _cast(v, v.city, [("C1", "")], actor=UserFactory(), channel=Channel.BOOTH, booth="B1")
    clerk = official()
    _cast(v, v.city, [("C1", "")], actor=clerk, channel=Channel.BOOTH, booth="B1")
    p = Participation.objects.get()
    assert (p.channel, p.booth) == (Channel.BOOTH, "B1")
    event = AuditEvent.objects.get(action="ballot.booth_cast")
    ballot = cast_ballot()
    assert event.actor_id == clerk.pk and event.object_id == str(p.pk)
    assert ballot.receipt_hash not in str(event.data) and "C1" not in str(event.data)


def test_pots_left_and_identity_contract(v):
    _cast(v, v.city, [("C1", "")])
    left = {p.slug for p in identity.pots_left(v.voter)}
    assert left == {"mokotow", "green", "youth"}


def test_ballots_are_handed_to_sealing_after_commit_in_batches(django_capture_on_commit_callbacks):
    """Casting calls tally's sealing after commit; nothing is sealed until K + max(K, SEAL_AFTER_CAST) of the
    pot are pending, and then all but K (the anonymity set kept back for the next batch)."""
    from ballots.ballotbox.pending import seal_threshold
    from ballots.ballotbox.sealing import SEAL_AFTER_CAST, SEAL_BATCH_MIN
    from pb.core.services import election_advance
    from tests.factories import ElectionFactory, PotFactory, ProposalFactory

    clerk = official()
    election = ElectionFactory(phase=Phase.REVIEW, min_age=None)
    pot = PotFactory(election=election, slug="city", is_citywide=True, budget=100_000)
    ProposalFactory(pot=pot, code="S1", cost=10_000)
    election = election_advance(actor=clerk, election=election, to_phase=Phase.VOTING_OPEN)  # opens the log
    k = SEAL_BATCH_MIN
    size = seal_threshold(k, SEAL_AFTER_CAST)
    assert size - k >= SEAL_AFTER_CAST >= k
    for i in range(size):
        voter = make_voter(election, pot, ref=f"SEAL-{i}")
        with django_capture_on_commit_callbacks(execute=True):
            ballot_cast(actor=None, election=election, pot=pot, voter=voter, raw=RawBallot.of([("S1", "")]))
        sealed = Ballot.objects.count()
        assert sealed == (size - k if i == size - 1 else 0)
    assert PendingBallot.objects.count() == k
