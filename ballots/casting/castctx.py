"""What a cast needs to know about a pot: the pot, its election, the ballot spec (projects and limits), the
election's pots and the frozen definition (its id and hash, and the anonymity set K).

Once the definition is frozen (voting open) the context is kept in Django's cache, per election and pot
slug (`pot_context`): nothing in it changes while voting is open but a translated name, and
`services.ballot_cast` checks it anyway, under the voter's row lock, against the election's freeze and
content version read in that same statement (pb.core.content), and reads it again (`refresh`) if either
moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.core.cache import cache

from ballots.ballotbox.pending import DEFAULT_ANONYMITY_K, anonymity_k
from ballots.casting.selectors import ballot_spec
from ballots.casting.validation import BallotSpec
from pb.core.models import Election, Pot


@dataclass(frozen=True)
class PotContext:
    election: Election
    pot: Pot
    spec: BallotSpec
    pots: tuple[Pot, ...]  # every pot of the election: citywide first, then by name (the voter's order)
    freeze: tuple[int, str] | None  # (id, sha256) of the frozen definition; None before voting opens
    pots_by_id: dict[int, Pot] = field(default_factory=dict)
    # The frozen anonymity set K (ballots.ballotbox.pending): when to seal this pot's pending ballots.
    anonymity_k: int = DEFAULT_ANONYMITY_K


def _freeze_of(election_id: int) -> tuple[tuple[int, str] | None, int]:
    """((freeze id, sha256) or None, the frozen anonymity set K)."""
    try:
        from ballots.models import DefinitionFreeze
    except ImportError:  # pragma: no cover - the results side ships with pb
        return None, DEFAULT_ANONYMITY_K
    row = (
        DefinitionFreeze.objects.filter(election_id=election_id)
        .values_list("pk", "sha256", "canonical")
        .first()
    )
    if row is None:
        return None, DEFAULT_ANONYMITY_K
    return (row[0], row[1]), anonymity_k(json.loads(row[2]))


def frozen_anonymity_k(election_id: int) -> int:
    """The anonymity set K frozen with the election's definition (the default before voting opens)."""
    return _freeze_of(election_id)[1]


def build(pot: Pot, pots: tuple[Pot, ...] | None = None) -> PotContext:
    """A fresh (uncached) context for this pot (its election is read if not already joined; `pots`: the
    election's pots, in the voter's order, if the caller has read them)."""
    election = pot.election
    if pots is None:
        pots = tuple(Pot.objects.filter(election_id=election.pk).order_by("-is_citywide", "name"))
    for p in pots:
        p.election = election
    freeze, k = _freeze_of(election.pk)
    return PotContext(
        election=election,
        pot=pot,
        spec=ballot_spec(pot),
        pots=pots,
        freeze=freeze,
        pots_by_id={p.pk: p for p in pots},
        anonymity_k=k,
    )


CACHE_SECONDS = 3600  # bounds memory only: every use is checked (see the module's docstring)


def _key(slug: str, pot_slug: str) -> str:
    return f"pb:pot-context:{slug}:{pot_slug}"


def pot_context(slug: str, pot_slug: str) -> PotContext | None:
    """The context of election `slug`'s pot `pot_slug`, or None if there is no such pot: from the cache once
    the definition is frozen, else read (the election and all its pots in one query)."""
    ctx = cache.get(_key(slug, pot_slug))
    if ctx is not None:
        return ctx
    pots = tuple(
        Pot.objects.select_related("election").filter(election__slug=slug).order_by("-is_citywide", "name")
    )
    pot = next((p for p in pots if p.slug == pot_slug), None)
    if pot is None:
        return None
    return _kept(build(pot, pots))  # build gives every pot this pot's election


def refresh(pot_id: int) -> PotContext:
    """Read the context of this pot again (its cached one is out of date) and keep the new one."""
    return _kept(build(Pot.objects.select_related("election").get(pk=pot_id)))


def _kept(ctx: PotContext) -> PotContext:
    if ctx.freeze is not None:  # before the freeze anything may still change: never kept
        cache.set(_key(ctx.election.slug, ctx.pot.slug), ctx, CACHE_SECONDS)
    return ctx
