"""The one place that says who may do what in which phase. Every service calls `require()` first.

The matrix is tested exhaustively (role x phase) in tests/core/test_permissions.py.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from pb.core.exceptions import PermissionDenied
from pb.core.models import Election, Phase, Role, user_roles, user_roles_anywhere

RESIDENT = "resident"
ANY = frozenset(Phase.values)

# action -> (roles allowed, phases in which it is allowed)
MATRIX: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # Officials move the election forward up to "tallied"; certifying and publishing are the council's.
    "election.advance": (
        frozenset({Role.OFFICIAL}),
        ANY - {Phase.TALLIED, Phase.CERTIFIED, Phase.PUBLISHED},
    ),
    "election.publish": (frozenset({Role.COUNCIL}), frozenset({Phase.CERTIFIED})),
    # Closing the vote: one official asks, a different one confirms (tally.services).
    "tally.close": (frozenset({Role.OFFICIAL}), frozenset({Phase.VOTING_OPEN})),
    "election.edit": (frozenset({Role.OFFICIAL}), frozenset({Phase.DRAFT, Phase.PROPOSALS_OPEN})),
    "election.manage": (frozenset({Role.OFFICIAL}), ANY),
    # Translations of pot, category and project names are display only (never in the frozen definition or
    # the count), so officials may correct them in any phase.
    "content.translate": (frozenset({Role.OFFICIAL}), ANY),
    "proposal.submit": (frozenset({RESIDENT, Role.OFFICIAL}), frozenset({Phase.PROPOSALS_OPEN})),
    # Residents support submitted proposals in the supports phase (proposals.supports).
    "proposal.support": (frozenset({RESIDENT}), frozenset({Phase.SUPPORTS})),
    "proposal.review": (
        frozenset({Role.OFFICIAL}),
        frozenset({Phase.PROPOSALS_OPEN, Phase.REVIEW}),
    ),
    "proposal.merge": (
        frozenset({Role.OFFICIAL}),
        frozenset({Phase.PROPOSALS_OPEN, Phase.REVIEW}),
    ),
    "proposal.import": (
        frozenset({Role.OFFICIAL}),
        frozenset({Phase.PROPOSALS_OPEN, Phase.REVIEW}),
    ),
    "proposal.export": (frozenset({Role.OFFICIAL}), ANY),
    # Comments on proposals (proposals.comments): any signed-in person comments once proposals exist;
    # officials hide comments, with a public reason, at any time.
    "comment.post": (frozenset({RESIDENT, Role.OFFICIAL, Role.COUNCIL}), ANY - {Phase.DRAFT}),
    "comment.moderate": (frozenset({Role.OFFICIAL}), ANY),
    "roll.import": (
        frozenset({Role.OFFICIAL}),
        frozenset({Phase.DRAFT, Phase.PROPOSALS_OPEN, Phase.SUPPORTS, Phase.REVIEW}),
    ),
    "codes.manage": (
        frozenset({Role.OFFICIAL}),
        frozenset({Phase.DRAFT, Phase.PROPOSALS_OPEN, Phase.SUPPORTS, Phase.REVIEW, Phase.VOTING_OPEN}),
    ),
    "ballot.cast": (
        frozenset({RESIDENT, Role.OFFICIAL, Role.COUNCIL}),
        frozenset({Phase.VOTING_OPEN}),
    ),
    "ballot.booth": (frozenset({Role.OFFICIAL}), frozenset({Phase.VOTING_OPEN})),
    # Voting reminders (ballots.reminders): officials send them now, or plan when they go out (voting open).
    "ballot.remind": (frozenset({Role.OFFICIAL}), frozenset({Phase.VOTING_OPEN})),
    "paper.enter": (
        frozenset({Role.OFFICIAL}),
        frozenset({Phase.VOTING_OPEN, Phase.VOTING_CLOSED}),
    ),
    # Two officials explain a difference between ballots and participations (ballots.reconciliation).
    "reconciliation.resolve": (
        frozenset({Role.OFFICIAL}),
        frozenset({Phase.VOTING_OPEN, Phase.VOTING_CLOSED}),
    ),
    "turnout.view": (frozenset({Role.OFFICIAL, Role.COUNCIL}), ANY - {Phase.DRAFT}),
    "tally.run": (frozenset({Role.OFFICIAL}), frozenset({Phase.VOTING_CLOSED, Phase.TALLIED})),
    "tally.signoff": (frozenset({Role.OFFICIAL}), frozenset({Phase.TALLIED})),
    "tally.certify": (frozenset({Role.COUNCIL}), frozenset({Phase.TALLIED})),
    # After publication officials record what happens to the funded projects (tally.tracking).
    "tracking.edit": (frozenset({Role.OFFICIAL}), frozenset({Phase.PUBLISHED})),
}


def roles_of(user, election: Election | None = None) -> set[str]:
    """The user's roles on `election` (granted on it or on all elections), plus RESIDENT when signed in."""
    roles = set(user_roles(user, election))
    if getattr(user, "is_authenticated", False):
        roles.add(RESIDENT)
    return roles


def _has_role(user, roles: frozenset[str], election: Election) -> bool:
    if RESIDENT in roles and getattr(user, "is_authenticated", False):
        return True  # any signed-in user: no need to read their grants (the casting path stays query-free)
    return bool(roles_of(user, election) & roles)


def allowed(user, action: str, election: Election) -> bool:
    roles, phases = MATRIX[action]
    return election.phase in phases and _has_role(user, roles, election)


def require(user, action: str, election: Election) -> None:
    """Raise PermissionDenied with a message that says which of role or phase is missing.

    The role must be held on this election: granted on it, or on all elections (`ElectionRole` without an
    election, or the Django group of the role's name)."""
    roles, phases = MATRIX[action]
    if not _has_role(user, roles, election):
        if not getattr(user, "is_authenticated", False):
            raise PermissionDenied(_("Please sign in first."))
        if user_roles_anywhere(user) & roles:
            raise PermissionDenied(
                _("Your account does not have the role needed for this action in this election.")
            )
        raise PermissionDenied(_("Your account does not have the role needed for this action."))
    if election.phase not in phases:
        raise PermissionDenied(
            _("This is not possible while the election is in the “%(phase)s” phase.")
            % {"phase": Phase(election.phase).label}
        )


def is_official(user, election: Election | None = None) -> bool:
    """An official of `election` (without one: an official of every election)."""
    return Role.OFFICIAL in user_roles(user, election)


def is_council(user, election: Election | None = None) -> bool:
    """A council member for `election` (without one: for every election)."""
    return Role.COUNCIL in user_roles(user, election)
