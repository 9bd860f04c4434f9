"""What a cast needs to know about a pot: the pot, its election, the ballot spec (projects and limits), the
election's pots and the frozen definition (its id and hash, and the anonymity set K).

Read for each cast in one query (the election, its pots and its frozen definition's id and hash; the spec
comes from the ballot page's cache, ballots.casting.selectors.ballot_page, and K from the frozen bytes once
per process). `services.ballot_cast` re-reads the election's phase and freeze under
the voter's row lock and reads the context again if its freeze no longer matches. Keeping the whole context
in the cache as well (checked under the lock against the freeze and the election's content version) was
measured on the whole voter journey (bench/journey.py, 2 x 800 voters, side by side): 2 % more voters per
second, 4 % less CPU per voter, under the 15 % that keeps a fast path, so it is not done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import F

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


def _frozen_k(freeze_id: int, sha256: str) -> int:
    """The anonymity set K of this frozen definition: read from its canonical bytes once per process (kept
    in Django's cache by the definition's SHA-256, which names exactly those bytes), not on every cast."""
    from ballots.models import DefinitionFreeze

    def read() -> int:
        canonical = DefinitionFreeze.objects.filter(pk=freeze_id).values_list("canonical", flat=True).get()
        return anonymity_k(json.loads(canonical))

    return cache.get_or_set(f"pb:frozen-k:{sha256}", read, None)


def _freeze_of(election_id: int) -> tuple[tuple[int, str] | None, int]:
    """((freeze id, sha256) or None, the frozen anonymity set K)."""
    from ballots.models import DefinitionFreeze

    row = DefinitionFreeze.objects.filter(election_id=election_id).values_list("pk", "sha256").first()
    if row is None:
        return None, DEFAULT_ANONYMITY_K
    return (row[0], row[1]), _frozen_k(*row)


def frozen_anonymity_k(election_id: int) -> int:
    """The anonymity set K frozen with the election's definition (the default before voting opens)."""
    return _freeze_of(election_id)[1]


def build(pot: Pot, pots: tuple[Pot, ...] | None = None) -> PotContext:
    """A fresh context for this pot (its election is read if not already joined; `pots`: the election's
    pots, in the voter's order, if the caller has read them, each with `freeze_id` and `freeze_sha`)."""
    election = pot.election
    if pots is None:
        pots = _pots(Pot.objects.filter(election_id=election.pk))
    for p in pots:
        p.election = election
    if pots and pots[0].freeze_id is not None:
        freeze = (pots[0].freeze_id, pots[0].freeze_sha)
        k = _frozen_k(*freeze)
    else:
        freeze, k = None, DEFAULT_ANONYMITY_K
    return PotContext(
        election=election,
        pot=pot,
        spec=ballot_spec(pot),
        pots=pots,
        freeze=freeze,
        pots_by_id={p.pk: p for p in pots},
        anonymity_k=k,
    )


def _pots(pots) -> tuple[Pot, ...]:
    """These pots in the voter's order, each with its election's frozen definition (id and hash, None
    before voting opens), in one query."""
    return tuple(
        pots.annotate(
            freeze_id=F("election__definition_freeze__id"),
            freeze_sha=F("election__definition_freeze__sha256"),
        ).order_by("-is_citywide", "name")
    )


def pot_context(slug: str, pot_slug: str) -> PotContext | None:
    """The context of election `slug`'s pot `pot_slug`, or None if there is no such pot (the election, all its
    pots and its frozen definition's id and hash in one query)."""
    pots = _pots(Pot.objects.select_related("election").filter(election__slug=slug))
    pot = next((p for p in pots if p.slug == pot_slug), None)
    if pot is None:
        return None
    return build(pot, pots)  # build gives every pot this pot's election
