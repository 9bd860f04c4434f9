"""The demo's comments: conversations, one hidden comment with its reason visible, idempotent."""

import pytest
from django.urls import reverse

from pb.core.models import Phase
from proposals.comments.demo import HIDDEN_REASON, demo_comments
from proposals.comments.models import Comment
from proposals.models import ProposalStatus
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, UserFactory, official

pytestmark = pytest.mark.django_db


def test_demo_comments(client):
    e = ElectionFactory(phase=Phase.VOTING_OPEN, slug="riverton-2026")
    pot = PotFactory(election=e)
    for i in range(4):
        ProposalFactory(pot=pot, code=f"P00{i + 1}", status=ProposalStatus.FEASIBLE)
    users = {name: UserFactory(username=name) for name in ("resident", "amara", "jonas", "mei", "tuan")}
    users["official"] = official(username="official")
    assert demo_comments(election=e, users=users) == 6
    assert demo_comments(election=e, users=users) == 0  # loading the demo again adds nothing
    hidden = Comment.objects.get(hidden_at__isnull=False)
    assert Comment.objects.filter(parent__isnull=False).count() == 2
    html = client.get(reverse("proposals:detail", args=[e.slug, hidden.proposal.code])).content.decode()
    assert "Hidden by the officials." in html and HIDDEN_REASON in html
    assert "no idea what they are talking about" not in html
    client.force_login(users["resident"])
    html = client.get(reverse("notifications:list")).content.decode()
    assert "New comment by jonas on P001" in html
