"""Demo comments: a few conversations on an election's proposals, one comment reported and hidden by an
official with its public reason, and the demo resident following a proposal (so their notifications page
has something on it). Idempotent: an election that has comments already is left as it is.

Called by the demo loader with its accounts: `demo_comments(election=..., users=...)`, where `users` maps
the demo usernames ("official", "resident", "amara", "jonas", "mei", "tuan") to accounts.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction

from pb.core.models import Election
from proposals.comments import services
from proposals.comments.models import Comment
from proposals.follows.services import follow_create
from proposals.models import Proposal, ProposalStatus

# (proposal index, author, text, reply to the thread's first comment?) — at most two per account, well
# inside the per-account rate limit.
THREADS = [
    (0, "jonas", "My kids would use this every day. Could it be lit in winter evenings?", False),
    (0, "amara", "Lighting was in the cost estimate, see the note on the adjusted cost.", True),
    (1, "mei", "The pavement there floods after rain; please fix the drainage at the same time.", False),
    (1, "tuan", "Agreed. Photos from last November: https://example.org/riverton/flooding", True),
    (2, "resident", "Good idea, and cheap for what it does.", False),
]
HIDDEN = (2, "tuan", "Whoever wrote this has no idea what they are talking about. Typical.")
HIDDEN_REASON = "Personal attack on another resident (house rule 2: discuss proposals, not people)."


@transaction.atomic
def demo_comments(*, election: Election, users: dict) -> int:
    """Add the demo conversations to `election`; returns how many comments were written (0 if it had some)."""
    if Comment.objects.filter(proposal__election=election).exists():
        return 0
    proposals = list(
        Proposal.objects.filter(election=election)
        .exclude(status__in=(ProposalStatus.DRAFT, ProposalStatus.MERGED))
        .order_by("code")[:3]
    )
    if not proposals:
        return 0
    resident, official = users["resident"], users["official"]
    follow_create(actor=resident, proposal=proposals[0])  # before the comments: they show in their list
    written = 0
    first_of: dict[int, Comment] = {}
    for index, author, text, is_reply in THREADS:
        if index >= len(proposals):
            continue
        parent = first_of.get(index) if is_reply else None
        c = services.comment_post(actor=users[author], proposal=proposals[index], body=text, parent=parent)
        first_of.setdefault(index, c)
        written += 1
    index, author, text = HIDDEN
    target = proposals[min(index, len(proposals) - 1)]
    rude = services.comment_post(actor=users[author], proposal=target, body=text)
    services.comment_report(actor=resident, comment=rude, reason="Insulting the author.")
    services.comment_hide(actor=official, comment=rude, reason=HIDDEN_REASON)
    # The demo's own posts must not use up the demo accounts' rate limits for whoever tries the demo next.
    cache.clear()
    return written + 1
