"""Every bad ballot is refused by the cast service with its own message, and nothing is stored.

The same validator serves the online, booth and paper paths (ballots.casting.validation); these tests go
through
`ballot_cast` on a real database so that "nothing stored" is checked where it matters."""

import pytest

from ballots.casting.selectors import ballot_spec
from ballots.casting.services import ballot_cast
from ballots.casting.validation import (
    RawBallot,
    ballot_status,
    ballot_validate,
    paper_line_canonical,
    paper_line_parse,
)
from ballots.exceptions import BallotInvalid
from ballots.models import Participation, VotingCode
from tests.ballots.cast_support import build_voting, cast_ballot, cast_ballots

pytestmark = pytest.mark.django_db


@pytest.fixture
def v():
    return build_voting()


def _cast(v, pot, marks):
    return ballot_cast(actor=None, election=v.election, pot=pot, voter=v.voter, raw=RawBallot.of(marks))


def _pot(v, name):
    return getattr(v, name)


# (pot attribute, marks, expected message fragment)
BAD = [
    ("city", [("C9", "")], "“C9” is not a project on this ballot."),
    ("city", [("W1", "")], "Project W1 belongs to “Wola”, not to this ballot (Citywide)."),
    (
        "city",
        [("C1", ""), ("C2", ""), ("C3", "")],
        "Your choices cost 120,000 EUR, over the budget of 100,000 EUR",
    ),
    ("city", [("C4", "")], "choose projects worth at least 20,000 EUR (20% of the budget)"),
    ("city", [], "Choose at least one project."),
    ("city", [("C1", ""), ("c1", "")], "Project C1 is chosen more than once."),
    (
        "district",
        [("M1", ""), ("M2", ""), ("M3", ""), ("M4", "")],
        "Choose at most 3 projects (you chose 4).",
    ),
    ("district", [], "Choose at least one project."),
    ("ranked", [("G1", "1"), ("G2", "1")], "Rank 1 is given to more than one project (G1, G2)."),
    ("ranked", [("G1", "1"), ("G2", "3")], "Rank 2 is missing"),
    ("ranked", [("G1", "4")], "The rank of G1 is 4; ranks go from 1 to 3."),
    ("ranked", [("G1", "x")], "The rank of G1 must be a whole number, not “x”."),
    (
        "ranked",
        [("G1", "1"), ("C1", "2")],
        "Project C1 belongs to “Citywide”, not to this ballot (Green ranked).",
    ),
    ("points", [("Y1", "5"), ("Y2", "5"), ("Y3", "1")], "You gave 11 points; you have 10 to distribute."),
    ("points", [("Y1", "6")], "Y1 has 6 points; at most 5 points per project."),
    ("points", [("Y1", "-1"), ("Y2", "3")], "Points cannot be negative (Y1: -1)."),
    ("points", [("Y1", "2.5")], "The points for Y1 must be a whole number, not “2.5”."),
    ("points", [("Y9", "2")], "“Y9” is not a project on this ballot."),
]


@pytest.mark.parametrize(("pot_name", "marks", "message"), BAD)
def test_bad_ballot_refused_with_message_and_nothing_stored(v, pot_name, marks, message):
    with pytest.raises(BallotInvalid) as exc:
        _cast(v, _pot(v, pot_name), marks)
    assert message in exc.value.message
    assert any(message in p for p in exc.value.problems)
    assert len(cast_ballots()) == 0
    assert Participation.objects.count() == 0
    assert VotingCode.objects.get(voter=v.voter).status == "active"


@pytest.mark.parametrize(("pot_name", "marks", "message"), BAD)
def test_same_messages_on_the_live_bar(v, pot_name, marks, message):
    status = ballot_status(ballot_spec(_pot(v, pot_name)), RawBallot.of(marks))
    assert not status.ok
    assert any(message in p for p in status.problems)


def test_good_ballots_of_each_type_are_cleaned(v):
    assert ballot_validate(ballot_spec(v.city), RawBallot.of([("c3", ""), ("C1", "")])).projects == (
        "C1",
        "C3",
    )
    clean = ballot_validate(ballot_spec(v.ranked), RawBallot.of([("G3", "1"), ("G1", "2")]))
    assert clean.projects == ("G3", "G1")
    clean = ballot_validate(ballot_spec(v.points), RawBallot.of([("Y2", "5"), ("Y1", "3"), ("Y3", "0")]))
    assert clean.points == {"Y1": 3, "Y2": 5} and clean.projects == ("Y1", "Y2")
    # Exactly the budget is allowed; exactly the minimum spend too.
    assert (
        ballot_validate(ballot_spec(v.city), RawBallot.of([("C1", ""), ("C3", ""), ("C4", "")])).cost
        == 100_000
    )


def test_min_spend_boundary(v):
    v.city.min_spend_percent = 10
    v.city.save()
    assert ballot_validate(ballot_spec(v.city), RawBallot.of([("C4", "")])).cost == 10_000


def test_only_feasible_proposals_are_on_the_ballot(v):
    from proposals.models import ProposalStatus
    from tests.factories import ProposalFactory

    ProposalFactory(pot=v.city, code="C8", cost=1000, status=ProposalStatus.NOT_FEASIBLE)
    with pytest.raises(BallotInvalid, match="“C8” is not a project on this ballot"):
        _cast(v, v.city, [("C8", ""), ("C1", "")])


def test_paper_lines_parse_per_ballot_type(v):
    spec = ballot_spec(v.ranked)
    assert ballot_validate(spec, paper_line_parse(spec, "g2, G1")).projects == ("G2", "G1")
    assert ballot_validate(spec, paper_line_parse(spec, "G1:2 G2:1")).projects == ("G2", "G1")
    assert paper_line_canonical(spec, "G2 G1") == paper_line_canonical(spec, "g1:2, g2:1")
    spec = ballot_spec(v.points)
    assert ballot_validate(spec, paper_line_parse(spec, "Y1:3 Y2=2")).points == {"Y1": 3, "Y2": 2}
    assert paper_line_canonical(spec, "Y2:2 Y1:3") == paper_line_canonical(spec, "y1:3;y2:2")
    spec = ballot_spec(v.city)
    assert paper_line_canonical(spec, "C2 C1") == paper_line_canonical(spec, "c1,c2")
    with pytest.raises(BallotInvalid, match="Choose at least one project"):
        ballot_validate(spec, paper_line_parse(spec, "-"))


def test_k_approval_minimum_above_one(v):
    v.district.min_selections = 2
    v.district.save()
    with pytest.raises(BallotInvalid) as exc:
        _cast(v, v.district, [("M1", "")])
    assert exc.value.problems == ["Choose at least 2 projects (you chose 1)."]
    assert len(cast_ballots()) == 0 and Participation.objects.count() == 0
    _cast(v, v.district, [("M1", ""), ("M3", "")])
    assert cast_ballot().projects == ["M1", "M3"]
