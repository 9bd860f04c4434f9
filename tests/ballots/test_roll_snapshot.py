"""The roll is frozen and hashed when voting opens (phase hook); roll changes are refused after."""

import datetime as dt
import hashlib

import pytest

from ballots.exceptions import RollError
from ballots.models import RollSnapshot
from ballots.roll import entries as roll
from ballots.roll.services import roll_import
from pb.core.models import AuditEvent, Phase
from pb.core.services import election_advance
from tests.ballots.roll_support import make_voter
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.REVIEW)
    PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    wola = PotFactory(election=e, name="Wola", slug="wola")
    ProposalFactory(pot=wola)  # voting opens only with a project on the ballot
    make_voter(e, wola, ref="A-1")
    make_voter(e, wola, ref="A-2", dob=dt.date(2012, 1, 1))  # not age-eligible
    return e


def test_snapshot_when_voting_opens_with_documented_format(election, tmp_path):
    off = official()
    election_advance(actor=off, election=election, to_phase=Phase.VOTING_OPEN)
    snap = RollSnapshot.objects.get(election=election)
    # Recompute from the documented byte format, independently of roll_digest.
    lines = sorted(f"{roll.ref_hash(ref)}\twola\t{flag}\n" for ref, flag in (("A-1", 1), ("A-2", 0)))
    assert snap.entries == 2
    assert snap.sha256 == hashlib.sha256("".join(lines).encode()).hexdigest()
    assert AuditEvent.objects.filter(action="roll.snapshot", data__sha256=snap.sha256).exists()
    # Roll changes after voting opened are refused (phase and frozen roll).
    path = tmp_path / "late.csv"
    path.write_text("reference,date_of_birth,district\nLATE-1,1990-01-01,wola\n")
    with pytest.raises(Exception, match="not possible while the election is in the “Voting open” phase"):
        roll_import(actor=off, election=election, path=path)


def test_frozen_roll_refused_even_if_phase_allows(election, tmp_path):
    RollSnapshot.objects.create(election=election, entries=0, sha256="0" * 64, taken_at="2026-06-01T00:00Z")
    path = tmp_path / "x.csv"
    path.write_text("reference,date_of_birth,district\nX-1,1990-01-01,wola\n")
    with pytest.raises(RollError, match="frozen"):
        roll_import(actor=official(), election=election, path=path)


def test_digest_is_deterministic_and_order_independent(election):
    first = roll.roll_digest(election)
    assert first == roll.roll_digest(election)
    wola = election.pots.get(slug="wola")
    make_voter(election, wola, ref="A-0")
    second = roll.roll_digest(election)
    assert second[0] == 3 and second[1] != first[1]
