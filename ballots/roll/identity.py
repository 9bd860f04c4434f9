"""Who is voting in this browser: the contract between identification and casting.

After a successful identification (voting code, roll match, or an official at a booth) the response carries
the voter's identification as a signed cookie (`pb_voter`, Django's `signing`, salted, HttpOnly, path /vote/,
ended with the browser and refused after `PB_VOTER_IDENTITY_AGE` seconds, 4 hours by default):
`{"election": id, "voter": id, "version": n, "method": "code" | "roll" | "booth"}` (`remember_voter`).
Casting reads it with `session_voter()` / `current_voter()`; leaving deletes it and raises the voter's
`identity_version` (`forget_voter`), so every copy of it is refused from then on: the pages compare the
version with the roll entry they read anyway, the cast under the voter's row lock. It never holds anything
about the ballot.

Why a signed cookie and not the session: a voter's pages read the voter's roll entry anyway, and the
session only carried this one small value, at the price of a database write on identification and a
database read on every voting page. The cookie is as hard to forge as a session (SECRET_KEY) and no
database holds which browser identified which voter; leaving still revokes it on the server (the version).

Booth hand-over: identifying a resident at a booth signs the official out of that browser
(`booth_handover`): the device then holds only the resident's identification, and nothing the official may
do is reachable from it until the official signs in again. The identification also names the booth and the
official who identified the resident (`"booth"`, `"official"`), for the one official act the resident's
identification still needs: the cast with channel booth (or taking paper ballots instead) for that voter,
audited under that official's name (`cast_actor`). The booth's name is also kept in the (anonymous) session,
so the booth page offers it again when the official signs back in.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model, logout
from django.core import signing
from django.db.models import F, Q

from ballots.models import CodeStatus, Participation, VoterRollEntry, VotingCode
from ballots.roll.eligibility import check_eligible, eligible_pots, ineligibility_reason, with_pots
from pb.core.models import Election, Pot

COOKIE = "pb_voter"
COOKIE_PATH = "/vote/"  # every voting page (ballots.urls) and nothing else
BOOTH_NAME_KEY = "pb_booth_name"  # in the session: the booth page's default for the next resident
METHODS = ("code", "roll", "booth")
SALT = "pb.ballots.voter-identity"  # the signing salt of the identification cookie

__all__ = [
    "BOOTH_NAME_KEY",
    "COOKIE",
    "METHODS",
    "booth_handover",
    "booth_name",
    "booth_official",
    "cast_actor",
    "check_eligible",
    "code_mark_used",
    "current_method",
    "current_voter",
    "current_voter_id",
    "current_voter_version",
    "eligible_pots",
    "forget_voter",
    "identification",
    "ineligibility_reason",
    "pots_left",
    "pots_state",
    "remember_voter",
    "session_voter",
    "voted_pots",
]


def _max_age() -> int:
    return int(getattr(settings, "PB_VOTER_IDENTITY_AGE", 4 * 3600))


def remember_voter(
    response, *, election: Election, voter: VoterRollEntry, method: str, official=None, booth: str = ""
):
    """Give the browser this voter's identification (on the response of the identification). A new value
    each time (it carries the time it was made): an identification seen before (fixation) is not the
    voter's."""
    if method not in METHODS:
        raise ValueError(f"unknown identification method {method!r}")
    data = {"election": election.pk, "voter": voter.pk, "version": voter.identity_version, "method": method}
    if method == "booth":
        data.update(official=official.pk, booth=booth)
    response.set_cookie(
        COOKIE,
        signing.dumps(data, salt=SALT, compress=False),
        path=COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def forget_voter(request, response):
    """End the identification in this browser (on the response) and everywhere a copy of it went: the
    voter's `identity_version` moves on, so the cookie's value is refused from now on."""
    data = identification(request)
    if isinstance(data.get("voter"), int):
        VoterRollEntry.objects.filter(
            pk=data["voter"], election_id=data.get("election"), identity_version=data.get("version")
        ).update(identity_version=F("identity_version") + 1)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, samesite="Lax")
    return response


def identification(request) -> dict:
    """The identification this browser holds ({} if none, tampered with or too old); read once per request."""
    cached = getattr(request, "_pb_voter_identity", None)
    if cached is not None:
        return cached
    data: dict = {}
    raw = request.COOKIES.get(COOKIE)
    if raw:
        try:
            loaded = signing.loads(raw, salt=SALT, max_age=_max_age())
        except signing.BadSignature:  # forged, altered, or older than PB_VOTER_IDENTITY_AGE
            loaded = None
        if isinstance(loaded, dict) and loaded.get("method") in METHODS and _ints(loaded):
            data = loaded
    request._pb_voter_identity = data
    return data


def _ints(data: dict) -> bool:
    return all(isinstance(data.get(k), int) for k in ("election", "voter", "version"))


def current_voter_version(request, election: Election) -> int | None:
    """The identity version the identification was made with (the cast checks it under the voter's lock)."""
    data = _identity(request, election)
    return data["version"] if data else None


def _identity(request, election: Election) -> dict | None:
    data = identification(request)
    if data.get("election") != election.pk:
        return None
    return data


def current_voter(request, election: Election) -> VoterRollEntry | None:
    data = _identity(request, election)
    if data is None:
        return None
    return (
        VoterRollEntry.objects.select_related("district", "election")
        .filter(pk=data["voter"], election=election, identity_version=data["version"])
        .first()
    )


def session_voter(request, slug: str) -> VoterRollEntry | None:
    """The voter this browser identified in the election `slug`, with that election joined and their
    district pot set from the election's kept pots (ballots.roll.eligibility.election_pots): the one query a
    voter's page needs to start."""
    data = identification(request)
    if not data:
        return None
    try:
        voter = VoterRollEntry.objects.select_related("election").get(
            pk=data["voter"],
            election_id=data["election"],
            election__slug=slug,
            identity_version=data["version"],
        )
    except VoterRollEntry.DoesNotExist:
        return None
    return with_pots(voter, voter.election)


def voted_pots(voter: VoterRollEntry) -> set[int]:
    """The ids of the pots this voter has a participation in (any channel)."""
    return set(Participation.objects.filter(voter_id=voter.pk).values_list("pot_id", flat=True))


def current_voter_id(request, election: Election) -> int | None:
    """The identified voter's roll entry id, without reading it (the cast reads it once, under its lock)."""
    data = _identity(request, election)
    voter_id = data.get("voter") if data else None
    return voter_id if isinstance(voter_id, int) else None


def current_method(request, election: Election) -> str | None:
    """'code', 'roll' or 'booth' (booth: cast with channel BOOTH), or None if nobody is identified."""
    data = _identity(request, election)
    return data.get("method") if data else None


def booth_name(request, election: Election) -> str:
    """The booth where an official identified this browser's voter ("" if not at a booth)."""
    data = _identity(request, election)
    return str(data.get("booth") or "") if data and data.get("method") == "booth" else ""


def booth_handover(request, response, *, election: Election, voter: VoterRollEntry, official, booth: str):
    """Hand the device over to the resident the official has just identified at a booth.

    The official is signed out of this browser (the session is flushed: a new key, nothing of the official
    left in it), then the resident's identification is set on `response`, naming the booth and the
    official who identified the resident."""
    logout(request)
    request.session[BOOTH_NAME_KEY] = booth
    return remember_voter(
        response, election=election, voter=voter, method="booth", official=official, booth=booth
    )


def booth_official(request, election: Election):
    """The official who handed this device over to the identified voter, or None (not a booth hand-over,
    another election, or the official's account is no longer active)."""
    ident = _identity(request, election)
    if ident is None or ident.get("method") != "booth" or not isinstance(ident.get("official"), int):
        return None
    return get_user_model().objects.filter(pk=ident["official"], is_active=True).first()


def cast_actor(request, election: Election):
    """Who casts for the identified voter: at a handed-over booth device, the official who identified the
    resident (the booth cast is that official's act); otherwise the browser's user."""
    if current_method(request, election) == "booth":
        official = booth_official(request, election)
        if official is not None:
            return official
    return request.user


def pots_state(voter: VoterRollEntry) -> tuple[list[Pot], list[Pot]]:
    """(eligible pots, those not voted in yet) in one query, the voter's participations (the election's pots
    are kept: ballots.roll.eligibility.election_pots).

    Inside a cast, call it after taking the voter's row lock: a statement started after the lock sees every
    participation committed by a request that held the lock before."""
    voted = voted_pots(voter)
    eligible = eligible_pots(voter)
    return eligible, [p for p in eligible if p.pk not in voted]


def pots_left(voter: VoterRollEntry) -> list:
    """Eligible pots the voter has not voted in yet (any channel)."""
    return pots_state(voter)[1]


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
