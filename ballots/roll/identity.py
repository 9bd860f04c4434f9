"""Who is voting in this browser session: the contract between identification and casting.

After a successful identification (voting code, roll match, or an official at a booth) the session holds
`request.session["pb_voter"] = {"election": id, "voter": id, "method": "code" | "roll" | "booth"}` and the
session key is rotated. Casting reads it with `current_voter()`; after voting everywhere, `forget_voter()`.
The session never holds anything about the ballot. At a booth the official's session also keeps
`request.session["pb_booth_name"]` (the booth where the official identified the resident), so the cast can
record the booth channel and place.

Booth hand-over: identifying a resident at a booth signs the official out of that browser
(`booth_handover`): the device then holds a voter-only session, and nothing the official may do is
reachable from it until the official signs in again. The session remembers which official identified the
resident (`request.session["pb_booth"]`), for the one official act the resident's session still needs:
the cast with channel booth (or taking paper ballots instead) for that voter, audited under that
official's name (`cast_actor`).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model, logout
from django.db.models import Exists, OuterRef, Q

from ballots.models import CodeStatus, Participation, VoterRollEntry, VotingCode
from ballots.roll.eligibility import check_eligible, eligible_pots, ineligibility_reason, may_vote_in
from pb.core.models import Election, Pot

SESSION_KEY = "pb_voter"
BOOTH_KEY = "pb_booth"
METHODS = ("code", "roll", "booth")

__all__ = [
    "BOOTH_KEY",
    "METHODS",
    "SESSION_KEY",
    "booth_handover",
    "booth_official",
    "cast_actor",
    "check_eligible",
    "code_mark_used",
    "current_method",
    "current_voter",
    "current_voter_id",
    "eligible_pots",
    "forget_voter",
    "identify_session",
    "ineligibility_reason",
    "pots_left",
    "pots_state",
    "session_election_id",
    "session_voter",
]


def identify_session(request, *, election: Election, voter: VoterRollEntry, method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown identification method {method!r}")
    # A new session key on identification: a session id seen before (fixation) is not the voter's. A session
    # without a key yet (a browser's first identification; a cookie naming no stored session counts as none)
    # gets a fresh random key when it is first saved anyway: cycling it would write it twice.
    if request.session.session_key is not None:
        request.session.cycle_key()
    request.session[SESSION_KEY] = {"election": election.pk, "voter": voter.pk, "method": method}


def _identity(request, election: Election) -> dict | None:
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict) or data.get("election") != election.pk:
        return None
    return data


def session_election_id(request) -> int | None:
    """The id of the election this session identified a voter in, if any."""
    data = request.session.get(SESSION_KEY)
    return data.get("election") if isinstance(data, dict) else None


def current_voter(request, election: Election) -> VoterRollEntry | None:
    data = _identity(request, election)
    if data is None:
        return None
    return (
        VoterRollEntry.objects.select_related("district", "election")
        .filter(pk=data.get("voter"), election=election)
        .first()
    )


def session_voter(request, slug: str) -> VoterRollEntry | None:
    """The voter this session identified in the election `slug`, with that election and their district
    joined: the one query a voter's page needs to start."""
    data = request.session.get(SESSION_KEY)
    voter_id, election_id = (data.get("voter"), data.get("election")) if isinstance(data, dict) else (0, 0)
    if not isinstance(voter_id, int) or not isinstance(election_id, int) or not voter_id:
        return None
    return (
        VoterRollEntry.objects.select_related("district", "election")
        .filter(pk=voter_id, election_id=election_id, election__slug=slug)
        .first()
    )


def current_voter_id(request, election: Election) -> int | None:
    """The identified voter's roll entry id, without reading it (the cast reads it once, under its lock)."""
    data = _identity(request, election)
    voter_id = data.get("voter") if data else None
    return voter_id if isinstance(voter_id, int) else None


def current_method(request, election: Election) -> str | None:
    """'code', 'roll' or 'booth' (booth: cast with channel BOOTH), or None if nobody is identified."""
    data = _identity(request, election)
    return data.get("method") if data else None


def forget_voter(request) -> None:
    request.session.pop(SESSION_KEY, None)
    request.session.pop(BOOTH_KEY, None)


def booth_handover(request, *, election: Election, voter: VoterRollEntry, official, booth: str) -> None:
    """Hand the device over to the resident the official has just identified at a booth.

    The official is signed out of this browser (the session is flushed: a new key, nothing of the official
    left in it), then the voter session starts, remembering the booth and which official identified the
    resident."""
    logout(request)
    identify_session(request, election=election, voter=voter, method="booth")
    request.session[BOOTH_KEY] = {"election": election.pk, "voter": voter.pk, "official": official.pk}
    request.session["pb_booth_name"] = booth


def booth_official(request, election: Election):
    """The official who handed this device over to the identified voter, or None (not a booth hand-over,
    another election or voter, or the official's account is no longer active)."""
    data = request.session.get(BOOTH_KEY)
    ident = _identity(request, election)
    if not isinstance(data, dict) or ident is None or ident.get("method") != "booth":
        return None
    if data.get("election") != election.pk or data.get("voter") != ident.get("voter"):
        return None
    return get_user_model().objects.filter(pk=data.get("official"), is_active=True).first()


def cast_actor(request, election: Election):
    """Who casts for the identified voter: at a handed-over booth device, the official who identified the
    resident (the booth cast is that official's act); otherwise the browser's user."""
    if current_method(request, election) == "booth":
        official = booth_official(request, election)
        if official is not None:
            return official
    return request.user


def pots_state(voter: VoterRollEntry) -> tuple[list[Pot], list[Pot]]:
    """(eligible pots, those not voted in yet) in one query: the election's pots, each flagged with whether
    the voter has a participation there. Same pots and order as `eligible_pots` and `pots_left`.

    Inside a cast, call it after taking the voter's row lock: a statement started after the lock sees every
    participation committed by a request that held the lock before."""
    voted = Participation.objects.filter(voter_id=voter.pk, pot_id=OuterRef("pk"))
    pots = (
        Pot.objects.filter(election_id=voter.election_id)
        .annotate(voted=Exists(voted))
        .order_by("-is_citywide", "name")
    )
    eligible = [p for p in pots if may_vote_in(voter, p)]
    return eligible, [p for p in eligible if not p.voted]


def pots_left(voter: VoterRollEntry) -> list:
    """Eligible pots the voter has not voted in yet (any channel)."""
    voted = set(Participation.objects.filter(voter=voter).values_list("pot_id", flat=True))
    return [p for p in eligible_pots(voter) if p.pk not in voted]


def code_mark_used(voter: VoterRollEntry, *, left: list | None = None) -> int:
    """Mark the voter's active codes USED once they have voted in every pot they may vote in.

    Call inside the cast transaction after writing the Participation. A code stays valid until then, so a
    voter can come back with the same code for the citywide pot after voting in their district. `left`: the
    pots still open to the voter if the caller has just computed them (saves reading them again). Returns the
    number of codes marked.
    """
    if pots_left(voter) if left is None else left:
        return 0
    return VotingCode.objects.filter(Q(voter=voter) & Q(status=CodeStatus.ACTIVE)).update(
        status=CodeStatus.USED
    )
