"""Reads of the supports phase: a proposal's support box, and support counts for lists."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from pb.core.models import Phase
from pb.core.permissions import allowed
from proposals.models import Proposal, ProposalStatus
from proposals.supports.models import Support, SupportDistrict

# Phases in which support counts are shown (during the phase and after it, as the record of what decided).
SHOWN_FROM = frozenset(Phase.values) - {Phase.DRAFT, Phase.PROPOSALS_OPEN}


def with_support_counts(qs: QuerySet[Proposal]) -> QuerySet[Proposal]:
    return qs.annotate(support_count=Count("supports", distinct=True))


def support_box(user, proposal: Proposal) -> dict[str, Any]:
    """What the proposal page shows about supports, for this visitor."""
    election = proposal.election
    phase_open = election.supports_enabled and election.phase == Phase.SUPPORTS
    box: dict[str, Any] = {
        "shown": election.supports_enabled and election.phase in SHOWN_FROM,
        "open": phase_open,
        "count": Support.objects.filter(proposal=proposal).count(),
        "decision": proposal.supports_decision,
        "limit": election.supports_per_resident,
        "signed_in": user.is_authenticated,
    }
    if phase_open and user.is_authenticated:
        mine = Support.objects.filter(election=election, user=user)
        district = SupportDistrict.objects.filter(election=election, user=user).select_related("pot").first()
        box.update(
            {
                "supported": mine.filter(proposal=proposal).exists(),
                "used": mine.count(),
                "district": district.pot if district else None,
                "can_support": allowed(user, "proposal.support", election)
                and proposal.status == ProposalStatus.SUBMITTED,
            }
        )
    return box
