"""The role x phase matrix, cell by cell: any change to MATRIX must be made here too, deliberately."""

import itertools

import pytest
from django.contrib.auth.models import AnonymousUser

from pb.core.exceptions import PermissionDenied
from pb.core.models import PHASE_ORDER
from pb.core.permissions import MATRIX, RESIDENT, allowed, require
from tests.factories import ElectionFactory, UserFactory, council, official

ROLES = ("anonymous", RESIDENT, "official", "council")
ALL = set(PHASE_ORDER)
PRE_VOTE = {"draft", "proposals_open", "supports", "review"}

# action -> {role: set of phases where that role may do it}. Signed-in officials and council members are
# residents too (they may propose and vote like anyone), so RESIDENT rights carry over to them.
EXPECTED: dict[str, dict[str, set[str]]] = {
    "election.advance": {
        "official": {"draft", "proposals_open", "supports", "review", "voting_open", "voting_closed"}
    },
    "election.publish": {"council": {"certified"}},
    "election.edit": {"official": {"draft", "proposals_open"}},
    "election.manage": {"official": ALL},
    "content.translate": {"official": ALL},
    "proposal.submit": {
        RESIDENT: {"proposals_open"},
        "official": {"proposals_open"},
        "council": {"proposals_open"},
    },
    "proposal.support": {RESIDENT: {"supports"}, "official": {"supports"}, "council": {"supports"}},
    "proposal.review": {"official": {"proposals_open", "review"}},
    "proposal.merge": {"official": {"proposals_open", "review"}},
    "proposal.import": {"official": {"proposals_open", "review"}},
    "proposal.export": {"official": ALL},
    "comment.post": {r: ALL - {"draft"} for r in (RESIDENT, "official", "council")},
    "comment.moderate": {"official": ALL},
    "roll.import": {"official": PRE_VOTE},
    "codes.manage": {"official": PRE_VOTE | {"voting_open"}},
    "ballot.cast": {r: {"voting_open"} for r in (RESIDENT, "official", "council")},
    "ballot.booth": {"official": {"voting_open"}},
    "ballot.remind": {"official": {"voting_open"}},
    "paper.enter": {"official": {"voting_open", "voting_closed"}},
    "reconciliation.resolve": {"official": {"voting_open", "voting_closed"}},
    "turnout.view": {"official": ALL - {"draft"}, "council": ALL - {"draft"}},
    "tally.run": {"official": {"voting_closed", "tallied"}},
    "tally.signoff": {"official": {"tallied"}},
    "tally.certify": {"council": {"tallied"}},
    "tally.close": {"official": {"voting_open"}},
    "tracking.edit": {"official": {"published"}},  # registered by tally/apps.py
}


@pytest.fixture
def users():
    return {
        "anonymous": AnonymousUser(),
        RESIDENT: UserFactory(username="matrix-resident"),
        "official": official(username="matrix-official"),
        "council": council(username="matrix-council"),
    }


def test_every_matrix_action_has_an_expectation():
    missing = sorted(set(MATRIX) - set(EXPECTED))
    extra = sorted(set(EXPECTED) - set(MATRIX))
    assert not missing, f"new MATRIX actions {missing}: add their allowed cells to EXPECTED in this file"
    assert not extra, f"EXPECTED lists actions that MATRIX no longer has: {extra}"


@pytest.mark.django_db
@pytest.mark.parametrize("action", sorted(MATRIX))
def test_matrix_cells(action, users):
    election = ElectionFactory.build()
    got = {}
    for role, phase in itertools.product(ROLES, PHASE_ORDER):
        election.phase = phase
        if allowed(users[role], action, election):
            got.setdefault(role, set()).add(phase)
    assert got == EXPECTED.get(action, {})


@pytest.mark.django_db
@pytest.mark.parametrize("action", sorted(MATRIX))
def test_require_agrees_with_allowed_and_explains(action, users):
    election = ElectionFactory.build()
    for role, phase in itertools.product(ROLES, PHASE_ORDER):
        election.phase = phase
        if allowed(users[role], action, election):
            require(users[role], action, election)
        else:
            with pytest.raises(PermissionDenied) as exc:
                require(users[role], action, election)
            assert exc.value.status_code == 403
            assert exc.value.message  # a sentence for the person, not a code
            if role == "anonymous":
                assert "sign in" in exc.value.message.lower()
