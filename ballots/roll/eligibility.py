"""Who may vote in which pot: minimum age on a date, district residency, and custom rules.

A voter may vote in their own district's pot and in every citywide pot of the election, if they are old
enough. Custom rules are callables `rule(voter, pot) -> str | None` returning a refusal message (or None to
allow). Register them in code with `register_rule(rule)` or list dotted paths in the setting
`PB_ELIGIBILITY_RULES`. Refusal messages speak only about the voter asking and the pot, never about others.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache as memoize

from django.conf import settings
from django.core.cache import cache
from django.utils import formats
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from ballots.exceptions import NotEligible
from ballots.models import VoterRollEntry
from pb.core.models import Pot

Rule = Callable[[VoterRollEntry, Pot], "str | None"]
_RULES: list[Rule] = []


def register_rule(rule: Rule) -> Rule:
    """Add a custom rule (usable as a decorator). Rules run after the built-in age and district checks."""
    if rule not in _RULES:
        _RULES.append(rule)
    return rule


def unregister_rule(rule: Rule) -> None:
    if rule in _RULES:
        _RULES.remove(rule)


@memoize
def _rules_from_settings(paths: tuple[str, ...]) -> tuple[Rule, ...]:
    return tuple(import_string(p) for p in paths)


def custom_rules() -> list[Rule]:
    paths = tuple(getattr(settings, "PB_ELIGIBILITY_RULES", ()))
    return [*_rules_from_settings(paths), *_RULES]


def age_on(birth, on) -> int:
    """Full years of age on date `on` for a date of birth `birth`."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def age_message(election) -> str:
    if election.age_reference_date:
        return _("You must be %(age)s on %(date)s to vote in this election.") % {
            "age": election.min_age,
            "date": formats.date_format(election.age_reference_date, "j F Y"),
        }
    return _("You must be %(age)s to vote in this election.") % {"age": election.min_age}


def refusal(voter: VoterRollEntry, pot: Pot) -> str | None:
    """The reason `voter` may not vote in `pot`, or None if they may."""
    election = voter.election
    if pot.election_id != voter.election_id:
        return _("This pot is not part of the election you are registered for.")
    if not voter.age_eligible:
        return age_message(election)
    if not pot.is_citywide and pot.pk != voter.district_id:
        return _("This pot is for residents of %(pot)s; you are on the roll for %(district)s.") % {
            "pot": pot.name,
            "district": voter.district.name,
        }
    for rule in custom_rules():
        message = rule(voter, pot)
        if message:
            return str(message)
    return None


def check_eligible(voter: VoterRollEntry, pot: Pot) -> None:
    """Raise NotEligible with the specific reason if `voter` may not vote in `pot`."""
    message = refusal(voter, pot)
    if message:
        raise NotEligible(message)


def may_vote_in(voter: VoterRollEntry, pot: Pot) -> bool:
    """Whether `voter` may vote in `pot` (a pot of their election): the district test first, which needs no
    message, then `refusal`."""
    return (pot.is_citywide or pot.pk == voter.district_id) and refusal(voter, pot) is None


POTS_CACHE_SECONDS = 3600  # bounds memory only: the key moves with the election's content version


def election_pots(election) -> tuple[Pot, ...]:
    """The election's pots in the voter's order (citywide first, then by name), each with `election` set.

    Kept in Django's cache per the election's content version (pb.core.content: raised after every change to
    one of its pots or proposals), so a voter's pages do not read the pots again for every voter; every
    call gets its own copies."""
    key = f"pb:election-pots:{election.pk}:{election.content_version}"
    pots = cache.get(key)
    if pots is None:
        pots = tuple(Pot.objects.filter(election_id=election.pk).order_by("-is_citywide", "name"))
        cache.set(key, pots, POTS_CACHE_SECONDS)
    for pot in pots:
        pot.election = election
    return pots


def pot_by_slug(election, slug: str) -> Pot | None:
    """The election's pot with this slug (from its kept pots), or None."""
    return next((p for p in election_pots(election) if p.slug == slug), None)


def with_pots(voter: VoterRollEntry, election) -> VoterRollEntry:
    """Give the voter their election and their district pot from the election's kept pots, instead of
    joining them into the query that read the voter."""
    voter.election = election
    district = next((p for p in election_pots(election) if p.pk == voter.district_id), None)
    if district is not None:
        voter.district = district
    return voter


def eligible_pots(voter: VoterRollEntry) -> list[Pot]:
    """The voter's district pot and the citywide pot(s), minus any a rule refuses (citywide first)."""
    return [p for p in election_pots(voter.election) if may_vote_in(voter, p)]


def ineligibility_reason(voter: VoterRollEntry) -> str | None:
    """Why the voter may vote nowhere (age, a custom rule), or None if they have at least one pot."""
    if not voter.age_eligible:
        return age_message(voter.election)
    if eligible_pots(voter):
        return None
    own = voter.district
    return refusal(voter, own) or _("You may not vote in any pot of this election.")
