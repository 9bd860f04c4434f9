"""What a cast needs to know about a pot, read once per process while voting is open.

When voting opens the election definition is frozen (ballots.definition.definition_freeze): pots, projects,
costs and rules can no longer change, and phases only move forward. So, per process, the pot, its election,
the ballot spec (projects and limits) and the election's pots are read once and kept, keyed by the freeze
(its id and hash). Every cast re-reads the election's phase and freeze inside its transaction, in the same
statement that locks the voter's row (`services.ballot_cast`), and a context whose freeze no longer matches
is dropped and read again. Before voting opens (no freeze) nothing is cached.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from ballots.ballotbox.pending import DEFAULT_ANONYMITY_K, anonymity_k
from ballots.casting.selectors import ballot_spec
from ballots.casting.validation import BallotSpec
from pb.core.models import Election, Phase, Pot


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


_CACHE: dict[tuple[str, str], PotContext] = {}
_LOCK = threading.Lock()


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


def build(pot: Pot) -> PotContext:
    """A fresh (uncached) context for this pot (its election is read if not already joined)."""
    election = pot.election
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


def pot_context(slug: str, pot_slug: str) -> PotContext | None:
    """The cached context of election `slug`'s pot `pot_slug`, or None if there is no such pot."""
    key = (slug, pot_slug)
    ctx = _CACHE.get(key)
    if ctx is not None:
        return ctx
    pot = Pot.objects.select_related("election").filter(election__slug=slug, slug=pot_slug).first()
    if pot is None:
        return None
    ctx = build(pot)
    if ctx.freeze is not None and ctx.election.phase == Phase.VOTING_OPEN:
        with _LOCK:
            _CACHE[key] = ctx
    return ctx


def forget(ctx: PotContext) -> None:
    """Drop a context that turned out stale (its freeze or phase no longer matches the database)."""
    with _LOCK:
        key = (ctx.election.slug, ctx.pot.slug)
        if _CACHE.get(key) is ctx:
            del _CACHE[key]


def clear() -> None:
    with _LOCK:
        _CACHE.clear()
