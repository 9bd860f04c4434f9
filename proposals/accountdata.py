"""What proposals hold about an account, for its data download and its deletion (pb.core.accounts.hooks;
registered in ProposalsConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from proposals.models import Proposal, ProposalImportJob, ProposalStatus


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def proposals_export_for_account(user) -> list[dict[str, Any]]:
    return [
        {
            "election": p.election.slug,
            "code": p.code,
            "title": p.title,
            "description": p.description,
            "status": p.status,
            "district": p.pot.slug,
            "category": p.category.slug if p.category_id else None,
            "cost": p.cost,
            "location": p.location,
            "language": p.language,
            "image": p.image.name or None,
            "created_at": _iso(p.created_at),
            "updated_at": _iso(p.updated_at),
        }
        for p in Proposal.objects.filter(author=user).select_related("election", "pot", "category")
    ]


def proposals_erase_for_account(user) -> dict[str, int]:
    """Drafts are the author's alone and go (with their image files). Submitted proposals belong to the
    election (reviewed, merged, perhaps on the ballot): they stay, with the author removed. A proposal holds
    nothing else about its author."""
    drafts = Proposal.objects.filter(author=user, status=ProposalStatus.DRAFT)
    images = [p.image for p in drafts if p.image]
    deleted = drafts.delete()[1].get(Proposal._meta.label, 0)
    for image in images:
        # Files are not rolled back with the transaction: removed only once the deletion has committed.
        transaction.on_commit(lambda image=image: image.storage.delete(image.name))
    kept = Proposal.objects.filter(author=user).update(author=None)
    ProposalImportJob.objects.filter(created_by=user).update(created_by=None)
    return {"drafts_deleted": deleted, "submitted_kept_anonymous": kept}


def supports_export_for_account(user) -> list[dict[str, Any]]:
    """The proposals the account supports (proposals.supports)."""
    from proposals.supports.models import Support

    return [
        {"election": s.election.slug, "proposal": s.proposal.code, "created_at": _iso(s.created_at)}
        for s in Support.objects.filter(user=user).select_related("election", "proposal")
    ]


def supports_erase_for_account(user) -> dict[str, int]:
    """Supports go with the account (their counts drop; decisions already taken stay as recorded)."""
    from proposals.supports.models import Support, SupportDistrict

    SupportDistrict.objects.filter(user=user).delete()
    return {"supports_deleted": Support.objects.filter(user=user).delete()[1].get(Support._meta.label, 0)}
