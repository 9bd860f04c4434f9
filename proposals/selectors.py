"""Reads of proposals for the public pages and the official's dashboard."""

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce

from pb.core.models import Election
from pb.core.permissions import allowed
from proposals.models import Proposal, ProposalStatus
from proposals.search import fold

# Registered at start-up by a higher layer (tally): hook(election) -> the project ids funded by the published
# result, or None while there is no published result. Proposals cannot import tally (layers point one way).
FUNDED_HOOKS: list = []


def funded_codes(election: Election) -> set[str] | None:
    for hook in FUNDED_HOOKS:
        codes = hook(election)
        if codes is not None:
            return set(codes)
    return None


def proposals_public(*, election: Election, filters: dict) -> QuerySet[Proposal]:
    """Everything residents may see: all but drafts, filtered by the FilterForm's cleaned data."""
    qs = (
        Proposal.objects.filter(election=election)
        .exclude(status=ProposalStatus.DRAFT)
        .select_related("pot", "category", "merged_into")
        .annotate(effective_cost=Coalesce("adjusted_cost", "cost"))
    )
    if q := (filters.get("q") or "").strip():
        # search_text is folded (no case, accents or diacritics): "den nang luong" finds "Đèn năng lượng".
        # The plain lookups keep finding rows written before the folded column existed.
        plain = Q(title__icontains=q) | Q(description__icontains=q)
        folded = fold(q)  # "" for a query of accents alone: that must not match everything
        qs = qs.filter(Q(search_text__contains=folded) | plain if folded else plain)
    if filters.get("pot"):
        qs = qs.filter(pot=filters["pot"])
    if filters.get("category"):
        qs = qs.filter(category=filters["category"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("cost_min") is not None:
        qs = qs.filter(effective_cost__gte=filters["cost_min"])
    if filters.get("cost_max") is not None:
        qs = qs.filter(effective_cost__lte=filters["cost_max"])
    if filters.get("funded"):
        qs = qs.filter(code__in=funded_codes(election) or ())
    return qs.order_by("code")


def over_pot_budget(proposal: Proposal) -> bool:
    """The cost alone is more than the district's whole budget: it could never be funded as it is."""
    return proposal.final_cost > proposal.pot.budget


def proposal_visible(proposal: Proposal, user) -> bool:
    """Drafts are private to their author (and officials); everything else is public."""
    if proposal.status != ProposalStatus.DRAFT:
        return True
    from pb.core.permissions import is_official

    return (user.is_authenticated and proposal.author_id == user.pk) or is_official(user, proposal.election)


def dashboard_context(user, election: Election) -> dict:
    """The proposals part of the official's dashboard and of the phase-change page (registered with
    pb.core.navigation.DASHBOARD_HOOKS at start-up)."""
    proposals = election.proposals.select_related("pot", "category")
    counts = dict(proposals.values_list("status").annotate(n=Count("id")).order_by())
    return {
        "to_review": proposals.filter(status=ProposalStatus.SUBMITTED).order_by("code"),
        "unreviewed": counts.get(ProposalStatus.SUBMITTED.value, 0),
        "status_counts": [(s.label, counts.get(s.value, 0)) for s in ProposalStatus],
        "can_review": allowed(user, "proposal.review", election),
        "can_import": allowed(user, "proposal.import", election),
        "can_export": allowed(user, "proposal.export", election),
        "can_edit_supports": allowed(user, "election.edit", election),
    }
