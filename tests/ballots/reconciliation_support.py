"""A small election opened through the phase services, voted in through the casting and paper services:
the setup shared by the reconciliation tests (tests/ballots/test_reconciliation.py, tests/tally/...)."""

from __future__ import annotations

import uuid

from ballots.casting.services import (
    ballot_cast,
    paper_batch_accept,
    paper_batch_create,
    paper_batch_enter,
    paper_voter_mark,
)
from ballots.casting.validation import RawBallot
from pb.core.models import Phase
from pb.core.services import election_advance
from tally.closing import close_confirm, close_request
from tests.ballots.roll_support import make_voter
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, council, official


class Box:
    """North (citywide, knapsack N1 40k, N2 30k, N3 20k) and South (a district); voting open."""

    def __init__(self, voters: int = 24):
        self.anna = official(username=f"anna-{uuid.uuid4().hex[:6]}")
        self.bart = official(username=f"bart-{uuid.uuid4().hex[:6]}")
        self.carl = official(username=f"carl-{uuid.uuid4().hex[:6]}")
        self.council = council()
        self.election = ElectionFactory(rule="greedy")
        self.north = PotFactory(election=self.election, slug="north", name="North", is_citywide=True)
        self.south = PotFactory(election=self.election, slug="south", name="South", budget=60_000)
        for i, cost in enumerate([40_000, 30_000, 20_000], start=1):
            ProposalFactory(pot=self.north, election=self.election, code=f"N{i}", cost=cost)
        ProposalFactory(pot=self.south, election=self.election, code="S1", cost=20_000)
        # The roll is complete before voting opens (its snapshot is frozen then and certified later).
        self.roll = [make_voter(self.election, self.south, ref=f"R-{k:04d}") for k in range(voters)]
        for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN):
            self.election = election_advance(actor=self.anna, election=self.election, to_phase=phase)

    def voter(self):
        """The next roll entry nobody has used yet."""
        return self.roll.pop()

    def online(self, n: int, pot=None) -> None:
        pot = pot or self.north
        code = "N1" if pot == self.north else "S1"
        for _ in range(n):
            ballot_cast(
                actor=None,
                election=self.election,
                pot=pot,
                voter=self.voter(),
                raw=RawBallot.of([(code, "")]),
            )

    def paper_voters(self, n: int, booth: str = "Library") -> None:
        for _ in range(n):
            paper_voter_mark(
                actor=self.anna, election=self.election, voter=self.voter(), booth=booth, pots=[self.north]
            )

    def batch(self, text: str, booth: str = "Library", label: str | None = None):
        batch = paper_batch_create(
            actor=self.anna,
            election=self.election,
            pot=self.north,
            booth=booth,
            label=label or uuid.uuid4().hex[:8],
        )
        paper_batch_enter(actor=self.anna, batch=batch, text=text)
        paper_batch_enter(actor=self.bart, batch=batch, text=text)
        return batch

    def accept(self, batch, actor=None):
        return paper_batch_accept(actor=actor or self.carl, batch=batch)

    def close(self) -> None:
        close_request(actor=self.anna, election=self.election)
        self.election = close_confirm(actor=self.bart, election=self.election)
