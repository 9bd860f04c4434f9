"""Following proposals, and telling followers what happened to them (pb.core.notifications.notify).

Events are raised from proposals.services (reviewed, changed, merged), from the phase hook when voting opens
(on the ballot, registered in proposals.apps) and, at publication, by tally through
`followers_notify_result` (funded or not).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from pb.core.exceptions import DomainError
from pb.core.models import Election, Phase
from pb.core.notifications.models import Notification, NotificationKind
from pb.core.notifications.services import notify
from proposals.follows.models import Follow
from proposals.models import Proposal, ProposalStatus


def _proposal_url(proposal: Proposal) -> str:
    return reverse("proposals:detail", args=[proposal.election.slug, proposal.code])


def _check_followable(actor, proposal: Proposal) -> None:
    from proposals.selectors import proposal_visible

    if not getattr(actor, "is_authenticated", False):
        raise DomainError(_("Please sign in first."))
    if not proposal_visible(proposal, actor):
        raise DomainError(_("This proposal cannot be followed."))


@transaction.atomic
def follow_create(*, actor, proposal: Proposal) -> Follow:
    """Follow a proposal (following twice changes nothing). Personal, so not in the public audit log."""
    _check_followable(actor, proposal)
    follow, _created = Follow.objects.get_or_create(user_id=actor.pk, proposal=proposal)
    return follow


@transaction.atomic
def follow_delete(*, actor, proposal: Proposal) -> int:
    if not getattr(actor, "is_authenticated", False):
        raise DomainError(_("Please sign in first."))
    deleted, _detail = Follow.objects.filter(user_id=actor.pk, proposal=proposal).delete()
    return deleted


def follower_ids(proposal: Proposal) -> list[int]:
    return list(Follow.objects.filter(proposal=proposal).values_list("user_id", flat=True))


def _data(proposal: Proposal, **extra) -> dict:
    return {"code": proposal.code, "title": proposal.title, **extra}


def followers_notify(*, proposal: Proposal, kind: str, actor=None, url: str = "", **extra) -> int:
    """Notify everyone following `proposal` (except `actor`). Call inside the change's transaction."""
    rows = notify(
        users=follower_ids(proposal),
        kind=kind,
        data=_data(proposal, **extra),
        url=url or _proposal_url(proposal),
        election=proposal.election,
        exclude=actor,
    )
    return len(rows)


def followers_move(*, duplicate: Proposal, keep: Proposal) -> None:
    """Whoever followed a merged duplicate now follows the proposal it was merged into."""
    users = Follow.objects.filter(proposal=duplicate).values_list("user_id", flat=True)
    Follow.objects.bulk_create([Follow(user_id=u, proposal=keep) for u in users], ignore_conflicts=True)


def _notify_many(*, proposals: Iterable[Proposal], kind_of, election: Election) -> int:
    proposals = list(proposals)
    by_proposal: dict[int, list[int]] = defaultdict(list)
    for pid, uid in Follow.objects.filter(proposal__in=proposals).values_list("proposal_id", "user_id"):
        by_proposal[pid].append(uid)
    total = 0
    for p in proposals:
        if by_proposal.get(p.pk):
            total += len(
                notify(
                    users=by_proposal[p.pk],
                    kind=kind_of(p),
                    data=_data(p),
                    url=reverse("proposals:detail", args=[election.slug, p.code]),
                    election=election,
                )
            )
    return total


def ballot_opened_hook(*, election: Election, actor, to_phase: str) -> None:
    """Phase hook (pb.core.services.PHASE_HOOKS): when voting opens, the feasible proposals are on the
    ballot; their followers are told, in the phase change's transaction."""
    if to_phase != Phase.VOTING_OPEN:
        return
    feasible = Proposal.objects.filter(election=election, status=ProposalStatus.FEASIBLE)
    _notify_many(proposals=feasible, kind_of=lambda p: NotificationKind.ON_BALLOT, election=election)


@transaction.atomic
def followers_notify_result(*, election: Election, funded_codes: Iterable[str]) -> int:
    """At publication: tell the followers of every project on the ballot whether it was funded.
    `funded_codes`: the public ids (Proposal.code) of the funded projects, all pots together. Called once per
    election; a second call notifies nobody again. Returns how many notifications were written."""
    already = Notification.objects.filter(
        kind__in=(NotificationKind.FUNDED, NotificationKind.NOT_FUNDED), data__election=election.slug
    ).exists()
    if already:
        return 0
    funded = {str(c) for c in funded_codes}
    on_ballot = Proposal.objects.filter(election=election, status=ProposalStatus.FEASIBLE)
    return _notify_many(
        proposals=on_ballot,
        kind_of=lambda p: NotificationKind.FUNDED if p.code in funded else NotificationKind.NOT_FUNDED,
        election=election,
    )
