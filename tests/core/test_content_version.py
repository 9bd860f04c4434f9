"""Election.content_version (pb.core.content): raised once a change to one of the election's pots or
proposals commits, never for a change that rolls back, and never for another election; the voting pages'
caches are keyed by it, so a committed change shows on the next page view in any process (here: a ballot
viewed, a title translated and committed, the ballot viewed again)."""

import pytest
from django.db import transaction

from pb.core.models import Election
from proposals.services import proposal_translate
from tests.ballots.cast_support import build_voting, identify
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, official

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: the version moves after them


def _version(election) -> int:
    return Election.objects.values_list("content_version", flat=True).get(pk=election.pk)


def test_a_committed_save_or_deletion_raises_it_once_and_only_for_its_election():
    election, other = ElectionFactory(), ElectionFactory()
    start, other_start = _version(election), _version(other)
    pot = PotFactory(election=election)
    assert _version(election) == start + 1
    proposal = ProposalFactory(pot=pot)
    assert _version(election) == start + 2
    with transaction.atomic():  # two saves in one transaction: raised after the commit, per save
        proposal.title = "Renamed"
        proposal.save()
        assert _version(election) == start + 2  # not before the commit
    assert _version(election) == start + 3
    proposal.delete()
    assert _version(election) == start + 4
    assert _version(other) == other_start


def test_a_change_that_rolls_back_leaves_it():
    election = ElectionFactory()
    pot = PotFactory(election=election)
    before = _version(election)
    with pytest.raises(RuntimeError), transaction.atomic():
        pot.name = "Never"
        pot.save()
        raise RuntimeError
    assert _version(election) == before


def test_a_translation_committed_after_the_ballot_was_cached_shows_at_once(client):
    v = build_voting()
    identify(client, v.election, v.voter)
    url = f"/vote/{v.election.slug}/{v.city.slug}/"
    assert "Công viên mới" not in client.get(url, HTTP_ACCEPT_LANGUAGE="vi").text  # cached now
    c1 = v.city.proposals.get(code="C1")
    proposal_translate(actor=official(), proposal=c1, titles={"vi": "Công viên mới"}, descriptions={})
    assert "Công viên mới" in client.get(url, HTTP_ACCEPT_LANGUAGE="vi").text
