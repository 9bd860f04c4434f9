"""Home page by phase and date, named audit lines on the dashboard, the sign-in error shown once, the no-JS
receipt text."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from pb.core.models import Election, Phase
from proposals import services
from proposals.models import ProposalStatus
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, UserFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_home_lists_elections_by_phase_then_newest_first(client):
    now = timezone.now()
    made = {}
    for name, phase, days in [
        ("Old published", Phase.PUBLISHED, 400),
        ("New published", Phase.PUBLISHED, 10),
        ("Voting", Phase.VOTING_OPEN, 30),
        ("Ideas", Phase.PROPOSALS_OPEN, 5),
        ("Counting", Phase.TALLIED, 50),
        ("Hidden draft", Phase.DRAFT, 1),
    ]:
        made[name] = ElectionFactory(name=name, phase=phase)
        Election.objects.filter(pk=made[name].pk).update(created_at=now - dt.timedelta(days=days))
    html = client.get(reverse("core:home")).content.decode()
    order = ["Voting", "Ideas", "Counting", "New published", "Old published"]
    positions = [html.index(f">{name}</a>") for name in order]
    assert positions == sorted(positions) and "Hidden draft" not in html
    assert (
        html.index(">Voting open</h2>") < html.index(">Proposals open</h2>") < html.index(">Published</h2>")
    )


def test_dashboard_audit_lines_name_proposals(client):
    election = ElectionFactory(phase=Phase.REVIEW, slug="riverton")
    pot = PotFactory(election=election, name="Eastfield")
    p = ProposalFactory(pot=pot, code="P011", title="Eastfield playground", status=ProposalStatus.SUBMITTED)
    off = official()
    services.proposal_review(actor=off, proposal=p, feasible=True)
    client.force_login(off)
    html = client.get(reverse("core:manage", args=["riverton"])).content.decode()
    audit = html.split('class="audit"')[1].split("</ol>")[0]
    assert "proposal.review P011 Eastfield playground" in audit
    assert f"proposal.review {p.pk}<" not in audit


def test_login_error_appears_once(client):
    UserFactory(username="rosa")
    r = client.post(reverse("login"), {"username": "rosa", "password": "wrong"})
    html = r.content.decode()
    assert html.count("The username or e-mail address, or the password, is not correct.") == 1
