"""Shared setup of the casting tests: an open election with one pot of each ballot type and a voter."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core import signing

from ballots.models import VoterRollEntry
from ballots.roll import identity
from pb.core.models import BallotType, Election, Phase, Pot
from tests.ballots.roll_support import make_code, make_voter
from tests.factories import ElectionFactory, PotFactory, ProposalFactory


@dataclass
class Voting:
    election: Election
    city: Pot  # knapsack, citywide, budget 100 000, min spend 20 %
    district: Pot  # approval 1..3 (the voter's district)
    other: Pot  # knapsack, another district
    ranked: Pot  # citywide ranked, up to 3
    points: Pot  # citywide points: 10 in total, 5 at most per project
    voter: VoterRollEntry
    code: str


def build_voting(phase: str = Phase.VOTING_OPEN) -> Voting:
    election = ElectionFactory(phase=phase, currency="EUR")
    city = PotFactory(
        election=election,
        name="Citywide",
        slug="city",
        is_citywide=True,
        budget=100_000,
        min_spend_percent=20,
    )
    district = PotFactory(
        election=election,
        name="Mokotów",
        slug="mokotow",
        budget=50_000,
        ballot_type=BallotType.APPROVAL,
        min_selections=1,
        max_selections=3,
    )
    other = PotFactory(election=election, name="Wola", slug="wola", budget=50_000)
    ranked = PotFactory(
        election=election,
        name="Green ranked",
        slug="green",
        is_citywide=True,
        budget=60_000,
        ballot_type=BallotType.RANKED,
        max_selections=3,
    )
    points = PotFactory(
        election=election,
        name="Youth points",
        slug="youth",
        is_citywide=True,
        budget=60_000,
        ballot_type=BallotType.POINTS,
        points_total=10,
        points_max_per_project=5,
    )
    # Citywide knapsack: C1 40k, C2 30k, C3 50k, C4 10k.
    for code, cost in [("C1", 40_000), ("C2", 30_000), ("C3", 50_000), ("C4", 10_000)]:
        ProposalFactory(pot=city, code=code, title=f"City project {code}", cost=cost)
    for code in ["M1", "M2", "M3", "M4"]:
        ProposalFactory(pot=district, code=code, title=f"Mokotów project {code}", cost=10_000)
    for code in ["W1", "W2"]:
        ProposalFactory(pot=other, code=code, title=f"Wola project {code}", cost=10_000)
    for code in ["G1", "G2", "G3", "G4"]:
        ProposalFactory(pot=ranked, code=code, title=f"Green project {code}", cost=15_000)
    for code in ["Y1", "Y2", "Y3"]:
        ProposalFactory(pot=points, code=code, title=f"Youth project {code}", cost=20_000)
    voter = make_voter(election, district, ref="AB-123", dob=dt.date(1990, 5, 17))
    code = make_code(voter)
    return Voting(election, city, district, other, ranked, points, voter, code)


def identification_cookie(data) -> str:
    """A validly signed identification cookie value holding `data` (whatever it is)."""
    return signing.dumps(data, salt=identity.SALT, compress=False)


def identify(client, election: Election, voter: VoterRollEntry, method: str = "code", **extra) -> None:
    """Give the test client the voter's identification cookie, as the identify view does."""
    data = {"election": election.pk, "voter": voter.pk, "version": voter.identity_version, "method": method}
    client.cookies[identity.COOKIE] = identification_cookie({**data, **extra})


def identified(client) -> dict:
    """The identification the test client holds ({} if none or deleted)."""
    morsel = client.cookies.get(identity.COOKIE)
    if morsel is None or not morsel.value:
        return {}
    return signing.loads(morsel.value, salt=identity.SALT)


@dataclass(frozen=True)
class CastBallot:
    """A ballot as the cast stored it: sealed (a `Ballot` row) or still pending (decrypted here)."""

    pot_id: int
    pot_slug: str
    projects: list
    points: dict
    is_paper: bool
    receipt_hash: str
    sealed: bool


def cast_ballots(
    *, election: Election | None = None, pot: Pot | None = None, is_paper=None
) -> list[CastBallot]:
    """Every ballot cast so far: the sealed ones and the pending ones (which only the server key opens)."""
    from ballots.ballotbox import pending
    from ballots.models import Ballot, PendingBallot

    filters = {}
    if election is not None:
        filters["election"] = election
    if pot is not None:
        filters["pot"] = pot
    out = [
        CastBallot(b.pot_id, b.pot.slug, b.projects, b.points, b.is_paper, b.receipt_hash, True)
        for b in Ballot.objects.filter(**filters).select_related("pot")
    ]
    for row in PendingBallot.objects.filter(**filters).select_related("pot"):
        b = pending.decrypt(election_id=row.election_id, pot_id=row.pot_id, content=row.content)
        out.append(
            CastBallot(row.pot_id, row.pot.slug, b.projects, b.points, b.is_paper, b.receipt_hash, False)
        )
    return [b for b in out if is_paper is None or b.is_paper == is_paper]


def cast_ballot(**filters) -> CastBallot:
    """The one ballot cast (matching `filters`); fails if there is not exactly one."""
    found = cast_ballots(**filters)
    assert len(found) == 1, found
    return found[0]
