"""Identifying a voter: by voting code, by roll match (reference and date of birth), or by an official at a
booth. Each attempt goes through the identification throttle (ballots.roll.throttle) and is audited with the
method and the roll entry id only, never anything about a ballot."""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging

from django.db import transaction
from django.utils.translation import gettext as _

from ballots.exceptions import AlreadyVoted, CodeInvalid, NotEligible
from ballots.models import (
    Channel,
    CodeStatus,
    Participation,
    VoterRollEntry,
    VotingCode,
)
from ballots.roll import entries as roll
from ballots.roll import throttle
from ballots.roll.eligibility import ineligibility_reason, with_pots
from ballots.roll.identity import eligible_pots, pots_state
from pb.core.audit import audit_record
from pb.core.exceptions import PhaseError
from pb.core.models import Election, Phase, Pot
from pb.core.permissions import require

logger = logging.getLogger(__name__)


# --- Identification ---------------------------------------------------------------------------------------


def _require_voting_open(election: Election) -> None:
    if election.phase != Phase.VOTING_OPEN:
        raise PhaseError(_("Voting is not open in this election."))


def already_voted_message(voter: VoterRollEntry, pot: Pot | None = None) -> str:
    """What to tell a voter who cannot vote (any more) in `pot`, or anywhere if `pot` is None, because of
    their participations: a voter marked at a booth as voting on paper is told that (and where they may still
    vote online), not that they "have already voted". Shown only to the identified voter, about themselves."""
    channels = dict(Participation.objects.filter(voter=voter).values_list("pot_id", "channel"))
    eligible = eligible_pots(voter)
    left = [p.name for p in eligible if p.pk not in channels]
    paper = [p.name for p in eligible if channels.get(p.pk) == Channel.PAPER]
    still = _("You may still vote in: %(pots)s.") % {"pots": ", ".join(left)} if left else ""
    if pot is not None:
        if channels.get(pot.pk) == Channel.PAPER:
            message = _(
                "You were marked at a booth as voting on paper in %(pot)s: your paper ballot counts there, "
                "so you cannot vote in it online."
            ) % {"pot": pot.name}
        else:
            message = _("You have already voted in %(pot)s.") % {"pot": pot.name}
        return f"{message} {still}".strip()
    if left:
        return still
    if paper and len(paper) == len(eligible):
        return _(
            "You were marked at a booth as voting on paper in %(pots)s: your paper ballots count there, "
            "so there is nothing left to vote in online."
        ) % {"pots": ", ".join(paper)}
    if paper:
        return _(
            "You have voted in every pot you may vote in (on paper in %(pots)s, online in the others). "
            "Thank you!"
        ) % {"pots": ", ".join(paper)}
    return _("You have already voted in every pot you may vote in. Thank you!")


def _ready_to_vote(voter: VoterRollEntry) -> None:
    """Refuse identification of someone who cannot vote anywhere, with the reason (one read of the pots and
    the voter's participations; the reason is worked out only for a refusal)."""
    eligible, left = pots_state(voter)
    if not eligible:
        raise NotEligible(ineligibility_reason(voter) or _("You may not vote in any pot of this election."))
    if not left:
        raise AlreadyVoted(already_voted_message(voter))


def _audit_identify(
    *, actor, election: Election, voter: VoterRollEntry, method: str, booth: str = ""
) -> None:
    # Published without the voter, booth, official or exact time: only the day, the method and a commitment.
    # A voter identifying online does not wait for the audit chain's lock (deferred: chained in order a
    # moment later, pb.core.audit.audit_fold); an official's booth identification is chained at once.
    private = {"booth": booth} if booth else {}
    audit_record(
        actor=actor,
        action="voter.identify",
        election=election,
        obj=voter,
        data={"method": method},
        private=private,
        deferred=method != "booth",
    )


def _throttled(method: str, target: str):
    """Run the identification under the throttle (ballots.roll.throttle.attempt), in its transaction:
    refused while the client's address or the target (the code typed, the reference) is in its delay; a
    wrong code or roll match (CodeInvalid) is charged as a failure, anything else is not. `target`: the
    keyword argument naming what is being tried."""

    def wrap(func):
        @functools.wraps(func)
        def inner(*, election: Election, ip: str, **kw):
            with throttle.attempt(
                election_id=election.pk, method=method, ip=ip, target=_target_text(method, kw[target])
            ):
                return func(election=election, **kw)

        return inner

    return wrap


def _target_text(method: str, value: str) -> str:
    """What a failure is counted against: the code or reference as the lookup normalises it, so that
    "abcd-efgh" and "ABCDEFGH" are the same target."""
    value = str(value or "")
    if method == "code":
        symbols = roll.normalize_code(value)
        return symbols if symbols is not None else value.strip().upper()[:64]
    return roll.normalize_ref(value)[:64]


# In one transaction with the throttle (ballots.roll.throttle.attempt).
@_throttled("code", target="code")
def voter_identify_code(*, election: Election, code: str, actor=None) -> VoterRollEntry:
    """Identify a voter by a one-time voting code (call with ip=...: throttled per address and per code)."""
    _require_voting_open(election)
    symbols = roll.normalize_code(code)
    entry = None
    if symbols is not None:
        try:  # code hashes are unique
            entry = VotingCode.objects.select_related("voter").get(
                election=election, code_hash=roll.code_hash(symbols)
            )
        except VotingCode.DoesNotExist:
            entry = None
        else:
            with_pots(entry.voter, election)
    if entry is None:
        raise CodeInvalid(_("This voting code is not valid. Check it and try again."))
    if entry.status == CodeStatus.VOID:
        # A void code is a real code (60 random bits): whoever types it holds the letter, so saying what
        # happened to it tells a guesser nothing the generic message does not. Still a throttle failure.
        raise CodeInvalid(_void_code_message(entry))
    if entry.status == CodeStatus.USED:
        raise AlreadyVoted(
            _("This code has been used.") + " " + already_voted_message(entry.voter)
            if _has_paper(entry.voter)
            else _("This code has been used: its voter has voted in every pot they may vote in.")
        )
    _ready_to_vote(entry.voter)
    _audit_identify(actor=actor, election=election, voter=entry.voter, method="code")
    return entry.voter


def _void_code_message(entry: VotingCode) -> str:
    newer = VotingCode.objects.filter(voter_id=entry.voter_id, pk__gt=entry.pk).exclude(
        status=CodeStatus.VOID
    )
    if newer.exists():
        return _("This code was replaced by a newer one: use the newest letter you received.")
    return _("This code was cancelled by the election office: ask them for a new one.")


def _has_paper(voter: VoterRollEntry) -> bool:
    return Participation.objects.filter(voter=voter, channel=Channel.PAPER).exists()


def _roll_match(election: Election, reference: str, date_of_birth: dt.date) -> VoterRollEntry:
    try:  # one entry per reference and election
        voter = VoterRollEntry.objects.get(election=election, ref_hash=roll.ref_hash(reference))
    except VoterRollEntry.DoesNotExist:
        voter = None
    else:
        with_pots(voter, election)
    expected = roll.ref_dob_hash(reference, date_of_birth.isoformat())
    if voter is None or not hmac.compare_digest(voter.ref_dob_hash, expected):
        raise CodeInvalid(_("No entry on the voter roll matches this reference and date of birth."))
    return voter


# In one transaction with the throttle (ballots.roll.throttle.attempt).
@_throttled("roll", target="reference")
def voter_identify_roll(
    *, election: Election, reference: str, date_of_birth: dt.date, actor=None
) -> VoterRollEntry:
    """Identify a voter by roll match: voter reference plus date of birth (throttled per address and per
    reference)."""
    _require_voting_open(election)
    voter = _roll_match(election, reference, date_of_birth)
    _ready_to_vote(voter)
    _audit_identify(actor=actor, election=election, voter=voter, method="roll")
    return voter


@transaction.atomic
def booth_identify(
    *, actor, election: Election, reference: str, date_of_birth: dt.date, booth: str
) -> VoterRollEntry:
    """An official at a booth identifies a resident (who then votes on the official's device)."""
    require(actor, "ballot.booth", election)
    voter = _roll_match(election, reference, date_of_birth)
    _ready_to_vote(voter)
    _audit_identify(actor=actor, election=election, voter=voter, method="booth", booth=booth)
    return voter
