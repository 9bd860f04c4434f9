"""Follows and the proposal events followers hear about: reviewed, changed, merged, on the ballot, funded or
not (followers_notify_result, which tally calls at publication)."""

import pytest
from django.core import mail
from django.urls import reverse

from pb.core.models import Phase
from pb.core.notifications.models import Notification, NotificationKind
from pb.core.services import election_advance
from proposals import services as proposals
from proposals.follows import services
from proposals.follows.models import Follow
from proposals.models import ProposalStatus
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, UserFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture
def election():
    return ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="riverton")


@pytest.fixture
def pot(election):
    return PotFactory(election=election)


@pytest.fixture
def author():
    return UserFactory(username="ana")


@pytest.fixture
def fan():
    return UserFactory(username="ben")


@pytest.fixture
def off():
    return official(username="olga")


@pytest.fixture
def proposal(election, pot, author):
    return proposals.proposal_create(
        actor=author,
        election=election,
        title="Shade trees",
        description="Trees",
        pot=pot,
        cost=5000,
        submit=True,
    )


def kinds(user):
    return list(Notification.objects.filter(user=user).order_by("pk").values_list("kind", flat=True))


def test_authors_follow_their_own_proposals(proposal, author):
    assert Follow.objects.filter(user=author, proposal=proposal).exists()


def test_follow_is_idempotent_and_unfollow_stops_notifications(proposal, fan, off):
    services.follow_create(actor=fan, proposal=proposal)
    services.follow_create(actor=fan, proposal=proposal)
    assert Follow.objects.filter(user=fan).count() == 1
    services.follow_delete(actor=fan, proposal=proposal)
    proposals.proposal_review(actor=off, proposal=proposal, feasible=True)
    assert kinds(fan) == []


def test_drafts_of_others_cannot_be_followed(election, pot, author, fan):
    draft = proposals.proposal_create(
        actor=author, election=election, title="Draft", description="d", pot=pot, cost=1
    )
    from pb.core.exceptions import DomainError

    with pytest.raises(DomainError):
        services.follow_create(actor=fan, proposal=draft)


def test_review_notifies_followers_and_mails_them_by_task(
    proposal, author, fan, off, settings, django_capture_on_commit_callbacks
):
    settings.PB_PUBLIC_URL = "https://pb.example.org"
    services.follow_create(actor=fan, proposal=proposal)
    with django_capture_on_commit_callbacks(execute=True):
        proposals.proposal_review(actor=off, proposal=proposal, feasible=False, reason="Not city land")
    assert len(mail.outbox) == 2
    assert kinds(author) == kinds(fan) == [NotificationKind.REVIEWED]
    assert kinds(off) == []  # the official who acted is not told about their own action
    # The e-mail went out from the task (the immediate backend runs it after the commit).
    assert sorted(m.to[0] for m in mail.outbox) == ["ana@example.org", "ben@example.org"]
    msg = mail.outbox[0]
    assert "not feasible" in msg.subject and "Not city land" in msg.body
    assert "https://pb.example.org/proposals/riverton/" in msg.body
    assert msg.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.extra_headers["List-Unsubscribe"].startswith(
        "<https://pb.example.org/notifications/unsubscribe/"
    )
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 0


def test_no_mail_inside_a_rolled_back_change(proposal, fan, off, django_capture_on_commit_callbacks):
    from django.db import transaction

    services.follow_create(actor=fan, proposal=proposal)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        proposals.proposal_review(actor=off, proposal=proposal, feasible=True)
        raise RuntimeError("the change fails after the notification was written")
    assert callbacks == []
    assert mail.outbox == [] and Notification.objects.count() == 0


def test_merge_notifies_and_moves_followers(election, pot, proposal, author, fan, off):
    keep = proposals.proposal_create(
        actor=off, election=election, title="Trees", description="t", pot=pot, cost=9000, submit=True
    )
    services.follow_create(actor=fan, proposal=proposal)
    proposals.proposal_merge(actor=off, duplicate=proposal, keep=keep, reason="same")
    assert kinds(fan) == [NotificationKind.MERGED]
    n = Notification.objects.get(user=fan)
    assert n.data["into"] == keep.code
    assert Follow.objects.filter(user=fan, proposal=keep).exists()
    assert Follow.objects.filter(user=author, proposal=keep).exists()


def test_author_edit_of_a_draft_notifies_other_followers_only(election, pot, author):
    draft = proposals.proposal_create(
        actor=author, election=election, title="Draft", description="d", pot=pot, cost=1
    )
    proposals.proposal_update(actor=author, proposal=draft, title="Better title")
    assert kinds(author) == []
    # An official following the draft (officials may see drafts) hears about the change.
    off = official(username="watcher")
    Follow.objects.create(user=off, proposal=draft)
    proposals.proposal_update(actor=author, proposal=draft, cost=2)
    assert kinds(off) == [NotificationKind.CHANGED]


def test_on_the_ballot_when_voting_opens(election, proposal, fan, off):
    services.follow_create(actor=fan, proposal=proposal)
    rejected = ProposalFactory(pot=proposal.pot, status=ProposalStatus.NOT_FEASIBLE, code="P099")
    Follow.objects.create(user=fan, proposal=rejected)
    proposals.proposal_review(actor=off, proposal=proposal, feasible=True)
    election = election_advance(actor=off, election=election, to_phase=Phase.REVIEW)
    election_advance(actor=off, election=election, to_phase=Phase.VOTING_OPEN)
    on_ballot = Notification.objects.filter(user=fan, kind=NotificationKind.ON_BALLOT)
    assert [n.data["code"] for n in on_ballot] == [proposal.code]


def test_followers_notify_result_once(election, pot, author, fan, django_capture_on_commit_callbacks):
    funded = ProposalFactory(pot=pot, status=ProposalStatus.FEASIBLE, code="P101")
    unfunded = ProposalFactory(pot=pot, status=ProposalStatus.FEASIBLE, code="P102")
    ProposalFactory(pot=pot, status=ProposalStatus.NOT_FEASIBLE, code="P103")
    for p in (funded, unfunded):
        Follow.objects.create(user=fan, proposal=p)
    Follow.objects.create(user=author, proposal=funded)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.followers_notify_result(election=election, funded_codes=["P101"]) == 3
    got = {(n.user_id, n.data["code"], n.kind) for n in Notification.objects.all()}
    assert got == {
        (fan.pk, "P101", NotificationKind.FUNDED),
        (fan.pk, "P102", NotificationKind.NOT_FUNDED),
        (author.pk, "P101", NotificationKind.FUNDED),
    }
    assert len(mail.outbox) == 3
    # Publication retried: nobody is told twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.followers_notify_result(election=election, funded_codes=["P101"]) == 0
    assert Notification.objects.count() == 3 and len(mail.outbox) == 3
    # Another election's result is independent.
    other = ElectionFactory(slug="elsewhere")
    p = ProposalFactory(pot=PotFactory(election=other), status=ProposalStatus.FEASIBLE, code="P101")
    Follow.objects.create(user=fan, proposal=p)
    assert services.followers_notify_result(election=other, funded_codes=[]) == 1


def test_follow_over_http(client, proposal, fan):
    url = reverse("proposals:follow", args=[proposal.election.slug, proposal.code])
    assert client.post(url)["Location"].startswith("/accounts/login/")
    client.force_login(fan)
    assert client.get(url).status_code == 405
    assert client.post(url, {"action": "follow"}).status_code == 302
    assert Follow.objects.filter(user=fan, proposal=proposal).exists()
    page = client.get(reverse("proposals:detail", args=[proposal.election.slug, proposal.code]))
    assert "You follow this proposal." in page.content.decode()
    client.post(url, {"action": "unfollow"})
    assert not Follow.objects.filter(user=fan, proposal=proposal).exists()
    assert client.post(url.replace(proposal.code, "P999"), {"action": "follow"}).status_code == 404
