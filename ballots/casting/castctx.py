"""What a cast needs to know about a pot: the pot, its election, the ballot spec (projects and limits), the
election's pots and the frozen definition (its id and hash, and the anonymity set K).

Read for each cast in one query (the election with its frozen definition's id and hash; its pots and the
spec come from the voting pages' caches, keyed by the election's content version: ballots.roll.eligibility,
ballots.casting.selectors.ballot_page; K from the frozen bytes once per process). `services.ballot_cast`
re-reads the election's phase and freeze under the voter's row lock and builds the context again, with the
freeze it just read, if the two no longer match. Keeping the whole context in the cache as well (checked
under the lock against the freeze and the election's content version) was measured on the whole voter
journey (bench/journey.py, 2 x 800 voters, side by side): 2 % more voters per second, 4 % less CPU per
voter, under the 15 % that keeps a fast path, so it is not done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import F

from ballots.ballotbox.pending import DEFAULT_ANONYMITY_K, anonymity_k
from ballots.casting.selectors import ballot_spec
from ballots.casting.validation import BallotSpec
from ballots.roll.eligibility import election_pots, pot_by_slug
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


def build(pot: Pot, freeze: tuple[int, str] | None) -> PotContext:
    """The context of this pot (with its election joined) under the frozen definition `freeze` ((id, sha256),
    or None before voting opens); the election's pots come from the cache
    (ballots.roll.eligibility.election_pots)."""
    election = pot.election
    pots = election_pots(election)
    return PotContext(
        election=election,
        pot=pot,
        spec=ballot_spec(pot),
        pots=pots,
        freeze=freeze,
        pots_by_id={p.pk: p for p in pots},
        anonymity_k=_frozen_k(*freeze) if freeze else DEFAULT_ANONYMITY_K,
    )


def pot_context(slug: str, pot_slug: str) -> PotContext | None:
    """The context of election `slug`'s pot `pot_slug`, or None if there is no such pot: one query, the
    election with its frozen definition's id and hash (its pots are kept in the cache)."""
    frozen = {"freeze_id": F("definition_freeze__id"), "freeze_sha": F("definition_freeze__sha256")}
    try:
        election = Election.objects.annotate(**frozen).get(slug=slug)
    except Election.DoesNotExist:
        return None
    pot = pot_by_slug(election, pot_slug)
    if pot is None:
        return None
    return build(pot, (election.freeze_id, election.freeze_sha) if election.freeze_id is not None else None)
