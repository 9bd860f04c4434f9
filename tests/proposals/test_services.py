import pytest

from pb.core.exceptions import PermissionDenied
from pb.core.models import AuditEvent, Phase
from proposals import services
from proposals.exceptions import NotAuthor, NotEditable, ProposalInvalid
from proposals.models import Proposal, ProposalStatus
from tests.factories import (
    CategoryFactory,
    ElectionFactory,
    PotFactory,
    ProposalFactory,
    UserFactory,
    official,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def election():
    return ElectionFactory(phase=Phase.PROPOSALS_OPEN)


@pytest.fixture
def pot(election):
    return PotFactory(election=election)


@pytest.fixture
def category(election):
    return CategoryFactory(election=election)


def create(actor, election, pot, category, **overrides):
    fields = {
        "title": "Benches by the river",
        "description": "Ten benches along the river walk.",
        "pot": pot,
        "category": category,
        "cost": 12_000,
        "location": "River walk",
    }
    fields.update(overrides)
    return services.proposal_create(actor=actor, election=election, **fields)


def test_create_assigns_sequential_codes_language_and_audits(election, pot, category):
    resident = UserFactory()
    first = create(resident, election, pot, category, language="vi")
    second = create(resident, election, pot, category, submit=True)
    assert (first.code, second.code) == ("P001", "P002")
    assert (first.status, second.status) == (ProposalStatus.DRAFT, ProposalStatus.SUBMITTED)
    assert first.language == "vi" and first.author == resident
    events = AuditEvent.objects.filter(action="proposal.create").order_by("seq")
    assert [e.data["code"] for e in events] == ["P001", "P002"]


def test_codes_continue_after_the_highest_existing_one(election, pot, category):
    ProposalFactory(pot=pot, code="P041")
    assert create(UserFactory(), election, pot, category).code == "P042"


@pytest.mark.parametrize(
    ("overrides", "field", "needle"),
    [
        ({"title": "x" * 141}, "title", "at most 140"),
        ({"description": "y" * 5001}, "description", "at most 5000"),
        ({"cost": -5}, "cost", "positive whole number"),
        ({"cost": 0}, "cost", "positive whole number"),
        ({"cost": 12.5}, "cost", "positive whole number"),
        ({"title": ""}, "title", "blank"),
        ({"latitude": 95, "longitude": 10}, "latitude", "between -90 and 90"),
        ({"latitude": 50}, "latitude", "both"),
    ],
)
def test_bad_input_is_refused_with_a_field_message_and_nothing_saved(
    election, pot, category, overrides, field, needle
):
    with pytest.raises(ProposalInvalid) as exc:
        create(UserFactory(), election, pot, category, **overrides)
    assert needle in " ".join(exc.value.errors[field])
    assert exc.value.status_code == 400
    assert not Proposal.objects.exists()
    assert not AuditEvent.objects.exists()


def test_pot_of_another_election_is_refused(election, category):
    with pytest.raises(ProposalInvalid) as exc:
        create(UserFactory(), election, PotFactory(), category)
    assert "pot" in exc.value.errors


def test_outside_proposals_open_nobody_can_propose(pot, category):
    election = pot.election
    election.phase = Phase.REVIEW
    election.save()
    with pytest.raises(PermissionDenied, match="Review"):
        create(UserFactory(), election, pot, category)


def test_author_edits_draft_until_submitted(election, pot, category):
    author = UserFactory()
    p = create(author, election, pot, category)
    services.proposal_update(actor=author, proposal=p, title="Benches and shade", cost=15_000)
    p.refresh_from_db()
    assert (p.title, p.cost) == ("Benches and shade", 15_000)
    services.proposal_submit(actor=author, proposal=p)
    with pytest.raises(NotEditable) as exc:
        services.proposal_update(actor=author, proposal=p, title="Too late")
    assert exc.value.status_code == 409
    p.refresh_from_db()
    assert p.title == "Benches and shade" and p.status == ProposalStatus.SUBMITTED
    assert list(AuditEvent.objects.values_list("action", flat=True)) == [
        "proposal.create",
        "proposal.update",
        "proposal.submit",
    ]


def test_someone_else_cannot_edit_or_submit(election, pot, category):
    p = create(UserFactory(), election, pot, category)
    intruder = UserFactory()
    with pytest.raises(NotAuthor) as exc:
        services.proposal_update(actor=intruder, proposal=p, title="Mine now")
    assert exc.value.status_code == 403 and "Only the author" in exc.value.message
    with pytest.raises(NotAuthor):
        services.proposal_submit(actor=intruder, proposal=p)
    p.refresh_from_db()
    assert p.title == "Benches by the river" and p.status == ProposalStatus.DRAFT


def test_failed_update_changes_nothing(election, pot, category):
    author = UserFactory()
    p = create(author, election, pot, category)
    with pytest.raises(ProposalInvalid):
        services.proposal_update(actor=author, proposal=p, title="Fine title", cost=-1)
    p.refresh_from_db()
    assert (p.title, p.cost) == ("Benches by the river", 12_000)


def test_review_feasible_with_adjusted_cost_and_not_feasible_with_reason(election, pot):
    off = official()
    a = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED, cost=10_000)
    b = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED)
    services.proposal_review(actor=off, proposal=a, feasible=True, adjusted_cost=14_000, cost_note="Lighting")
    a.refresh_from_db()
    assert (a.status, a.final_cost, a.cost_note) == (ProposalStatus.FEASIBLE, 14_000, "Lighting")
    with pytest.raises(ProposalInvalid) as exc:
        services.proposal_review(actor=off, proposal=b, feasible=False, reason="  ")
    assert "reason" in exc.value.errors
    with pytest.raises(ProposalInvalid) as exc:
        services.proposal_review(actor=off, proposal=b, feasible=True, adjusted_cost=5000)
    assert "cost_note" in exc.value.errors
    b.refresh_from_db()
    assert b.status == ProposalStatus.SUBMITTED
    services.proposal_review(actor=off, proposal=b, feasible=False, reason="Private land")
    b.refresh_from_db()
    assert (b.status, b.review_reason) == (ProposalStatus.NOT_FEASIBLE, "Private land")
    assert AuditEvent.objects.filter(action="proposal.review").count() == 2


def test_residents_cannot_review(election, pot):
    p = ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED)
    with pytest.raises(PermissionDenied):
        services.proposal_review(actor=UserFactory(), proposal=p, feasible=True)


def test_merge_points_the_duplicate_and_its_followers_at_the_kept_one(election, pot):
    off = official()
    keep, dup, older = (ProposalFactory(pot=pot, status=ProposalStatus.SUBMITTED) for _ in range(3))
    services.proposal_merge(actor=off, duplicate=older, keep=dup)
    services.proposal_merge(actor=off, duplicate=dup, keep=keep)
    dup.refresh_from_db()
    older.refresh_from_db()
    assert (dup.status, dup.merged_into) == (ProposalStatus.MERGED, keep)
    assert older.merged_into == keep
    with pytest.raises(ProposalInvalid):
        services.proposal_merge(actor=off, duplicate=keep, keep=keep)
    with pytest.raises(ProposalInvalid):
        services.proposal_merge(actor=off, duplicate=keep, keep=dup)  # dup is merged already
    assert AuditEvent.objects.filter(action="proposal.merge").count() == 2
