"""The cast context (ballots.casting.castctx) never lets a cast use stale facts: the phase and the frozen
definition
are re-read under the voter's lock on every cast, and a context that no longer matches is read again."""

import dataclasses

import pytest
from django.urls import reverse

from ballots.casting import castctx, services
from ballots.casting.validation import RawBallot
from ballots.definition import definition_freeze
from ballots.models import Participation
from pb.core.models import Election, Phase
from tests.ballots.cast_support import build_voting, cast_ballots, identify

pytestmark = pytest.mark.django_db


def _setup(client):
    v = build_voting()
    definition_freeze(election=v.election)
    identify(client, v.election, v.voter)
    ctx = castctx.pot_context(v.election.slug, v.city.slug)
    assert ctx.freeze is not None and ctx.election.pk == v.election.pk
    return v, ctx, reverse("ballots:ballot_cast", args=[v.election.slug, v.city.slug])


def test_no_freeze_before_the_definition_is_frozen_and_no_context_for_an_unknown_pot():
    v = build_voting()
    assert castctx.pot_context(v.election.slug, v.city.slug).freeze is None
    assert castctx.pot_context(v.election.slug, "no-such-pot") is None


def test_closing_the_vote_stops_casts_at_once(client):
    v, _ctx, url = _setup(client)
    Election.objects.filter(pk=v.election.pk).update(phase=Phase.VOTING_CLOSED)  # as another process would
    r = client.post(url, {"project": ["C1"]})
    assert r.status_code == 403 and "Voting closed" in r.content.decode()
    assert not cast_ballots() and not Participation.objects.exists()


def test_a_context_whose_freeze_no_longer_matches_is_read_again(client):
    v, ctx, _url = _setup(client)
    stale = dataclasses.replace(
        ctx, freeze=(ctx.freeze[0], "0" * 64), spec=dataclasses.replace(ctx.spec, projects=())
    )
    result = services.ballot_cast(
        actor=services.IDENTIFIED_VOTER,
        election=v.election,
        pot=v.city,
        voter=v.voter.pk,
        raw=RawBallot.of([("C1", "")]),
        context=stale,  # with no projects: casting C1 would fail if this context were used
    )
    assert result.receipt_code and len(cast_ballots()) == 1
