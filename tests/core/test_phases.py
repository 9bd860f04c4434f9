import itertools

import pytest
from django.core.management import call_command

from pb.core.exceptions import PermissionDenied, PhaseError
from pb.core.models import PHASE_ORDER, AuditEvent, Phase
from pb.core.services import election_advance
from tests.factories import ElectionFactory, UserFactory, council, official

pytestmark = pytest.mark.django_db


def test_officials_and_council_walk_the_whole_machine_one_step_at_a_time(monkeypatch):
    from pb.core import services

    # The machine alone: other apps' hooks (roll snapshot, freeze, tally) need a whole election's data.
    monkeypatch.setattr(services, "PHASE_HOOKS", [])
    election = ElectionFactory(phase=Phase.DRAFT, supports_enabled=True)  # every phase, supports included
    off, coun = official(), council()
    for to_phase in PHASE_ORDER[1:]:
        actor = coun if to_phase in (Phase.CERTIFIED, Phase.PUBLISHED) else off
        election = election_advance(actor=actor, election=election, to_phase=to_phase)
        election.refresh_from_db()
        assert election.phase == to_phase
    events = list(AuditEvent.objects.filter(action="election.phase").order_by("seq"))
    assert [(e.data["from"], e.data["to"]) for e in events] == list(itertools.pairwise(PHASE_ORDER))
    assert [e.actor_name for e in events][-2:] == [coun.username, coun.username]
    call_command("audit_verify")


@pytest.mark.parametrize(
    ("to_phase", "error"),
    [
        (Phase.VOTING_OPEN, PhaseError),  # skips review
        (Phase.DRAFT, PhaseError),  # backwards
        (Phase.PROPOSALS_OPEN, PhaseError),  # standing still
        (Phase.PUBLISHED, PermissionDenied),  # not the official's step at all
    ],
)
def test_anything_but_one_step_forward_is_refused_and_changes_nothing(to_phase, error):
    election = ElectionFactory(phase=Phase.PROPOSALS_OPEN)
    with pytest.raises(error) as exc:
        election_advance(actor=official(), election=election, to_phase=to_phase)
    election.refresh_from_db()
    assert election.phase == Phase.PROPOSALS_OPEN
    assert exc.value.status_code == (409 if error is PhaseError else 403)
    assert not AuditEvent.objects.exists()


def test_out_of_order_message_names_both_phases():
    election = ElectionFactory(phase=Phase.REVIEW)
    with pytest.raises(PhaseError) as exc:
        election_advance(actor=official(), election=election, to_phase=Phase.PROPOSALS_OPEN)
    assert exc.value.status_code == 409
    assert "Review" in exc.value.message and "Proposals open" in exc.value.message
    with pytest.raises(PhaseError):
        election_advance(actor=official(), election=election, to_phase="nonsense")


def test_residents_cannot_advance_and_officials_cannot_certify_or_publish():
    election = ElectionFactory(phase=Phase.DRAFT)
    with pytest.raises(PermissionDenied):
        election_advance(actor=UserFactory(), election=election, to_phase=Phase.PROPOSALS_OPEN)
    election = ElectionFactory(phase=Phase.TALLIED)
    with pytest.raises(PermissionDenied):
        election_advance(actor=official(), election=election, to_phase=Phase.CERTIFIED)
    election = ElectionFactory(phase=Phase.CERTIFIED)
    with pytest.raises(PermissionDenied):
        election_advance(actor=official(), election=election, to_phase=Phase.PUBLISHED)
    assert not AuditEvent.objects.exists()


def test_a_failing_phase_hook_rolls_the_change_back():
    from pb.core import services

    def hook(*, election, actor, to_phase):
        raise PhaseError("roll snapshot failed")

    election = ElectionFactory(phase=Phase.REVIEW)
    services.PHASE_HOOKS.append(hook)
    try:
        with pytest.raises(PhaseError):
            election_advance(actor=official(), election=election, to_phase=Phase.VOTING_OPEN)
    finally:
        services.PHASE_HOOKS.remove(hook)
    election.refresh_from_db()
    assert election.phase == Phase.REVIEW
    assert not AuditEvent.objects.exists()


def test_an_election_without_a_supports_phase_goes_from_proposals_to_review(monkeypatch):
    from pb.core import services

    monkeypatch.setattr(services, "PHASE_HOOKS", [])
    election = ElectionFactory(phase=Phase.PROPOSALS_OPEN)
    assert services.next_phase(election) == Phase.REVIEW
    with pytest.raises(PhaseError):
        election_advance(actor=official(), election=election, to_phase=Phase.SUPPORTS)
    election = election_advance(actor=official(), election=election, to_phase=Phase.REVIEW)
    assert election.phase == Phase.REVIEW
    with_supports = ElectionFactory(phase=Phase.PROPOSALS_OPEN, supports_enabled=True)
    with pytest.raises(PhaseError):  # the supports phase is not skipped when the election has one
        election_advance(actor=official(), election=with_supports, to_phase=Phase.REVIEW)
