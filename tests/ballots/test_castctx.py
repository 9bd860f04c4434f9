"""The per-process cast context (ballots.casting.castctx) never lets a cast use stale facts: the phase and
the frozen
definition are re-read under the voter's lock on every cast, and a context that no longer matches is
dropped and read again."""

import copy
import dataclasses

import pytest
from django.urls import reverse

from ballots.casting import castctx
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
    assert castctx._CACHE[(v.election.slug, v.city.slug)] is ctx  # cached: voting open and frozen
    return v, ctx, reverse("ballots:ballot_cast", args=[v.election.slug, v.city.slug])


def test_nothing_is_cached_before_the_definition_is_frozen():
    v = build_voting()
    assert castctx.pot_context(v.election.slug, v.city.slug).freeze is None
    assert not castctx._CACHE


def test_closing_the_vote_stops_casts_at_once_though_the_context_is_cached(client):
    v, _ctx, url = _setup(client)
    Election.objects.filter(pk=v.election.pk).update(phase=Phase.VOTING_CLOSED)  # as another process would
    r = client.post(url, {"project": ["C1"]})
    assert r.status_code == 403 and "Voting closed" in r.content.decode()
    assert not cast_ballots() and not Participation.objects.exists()


def test_a_context_whose_freeze_no_longer_matches_is_read_again(client):
    v, ctx, url = _setup(client)
    stale = dataclasses.replace(ctx, freeze=(ctx.freeze[0], "0" * 64))
    castctx._CACHE[(v.election.slug, v.city.slug)] = stale
    r = client.post(url, {"project": ["C1"]})
    assert r.status_code == 200 and 'id="receipt-code"' in r.content.decode()
    assert (v.election.slug, v.city.slug) not in castctx._CACHE or castctx._CACHE[
        (v.election.slug, v.city.slug)
    ] is not stale
    assert len(cast_ballots()) == 1


def test_a_context_of_another_election_under_the_same_slug_is_read_again(client):
    """E.g. the demo reloaded while the server runs: the session names the new election."""
    v, ctx, url = _setup(client)
    old = copy.copy(ctx.election)
    old.pk = old.id = v.election.pk + 1000
    castctx._CACHE[(v.election.slug, v.city.slug)] = dataclasses.replace(ctx, election=old)
    r = client.post(url, {"project": ["C1"]})
    assert r.status_code == 200 and 'id="receipt-code"' in r.content.decode()
    assert len(cast_ballots(election=v.election)) == 1
