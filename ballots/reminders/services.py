"""Voting reminders (issue #12): a voter who has identified may ask to be e-mailed once before voting closes
if they have not cast every ballot by then.

Secrecy and minimal keeping:
- A reminder names a roll entry and an address (encrypted, ballots.reminders.secret), never anything about a
  ballot. It is deleted in the transaction of the voter's last cast or paper mark (`reminder_forget`, one
  DELETE by voter id), when the voter cancels it with the signed link, and for the whole election in the
  phase change that closes the vote. Once sent, its address is erased.
- Asking is the voter's own act, not an official's: it is not in the audit log (an entry per voter would
  time-stamp their visit for anyone who reads the log). The officials' acts are audited: sending now, the
  plan of the automatic sending, and the deletion at closing, each with counts only.
- Asking takes the voter's row lock, the lock every cast of that voter takes (ballots.casting.services):
  a request and a last cast in flight together end either with the request refused (the cast came first)
  or with the cast deleting it; never with the address of someone who voted kept.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from ballots.exceptions import AlreadyVoted
from ballots.models import BallotReminder, ReminderPlan, VoterRollEntry
from ballots.reminders import secret
from ballots.reminders.links import cancel_check
from ballots.reminders.selectors import reminders_waiting
from ballots.roll.identity import pots_state
from pb.core.audit import audit_record
from pb.core.exceptions import DomainError, PhaseError
from pb.core.models import Election, Phase
from pb.core.permissions import require
from pb.core.ratelimit import rate_charge, rates

EMAIL_MAX = 254
# Asking (or changing the address) per voter, and per client address across voters.
VOTER_RATES = ((5, 3_600),)
ADDRESS_RATES = ((30, 3_600),)
HOURS_BEFORE = 24  # default of the plan's form (settings.PB_REMINDER_HOURS_BEFORE)


class ReminderInvalid(DomainError):
    status_code = 400


class ReminderAlreadySent(DomainError):
    status_code = 409


def hours_before_default() -> int:
    return int(getattr(settings, "PB_REMINDER_HOURS_BEFORE", HOURS_BEFORE))


def _clean_email(email) -> str:
    if not isinstance(email, str):
        raise ReminderInvalid(_("Enter your e-mail address."))
    email = email.strip()
    if not email:
        raise ReminderInvalid(_("Enter your e-mail address."))
    if len(email) > EMAIL_MAX:
        raise ReminderInvalid(
            _("This e-mail address is too long: at most %(max)d characters.") % {"max": EMAIL_MAX}
        )
    try:
        validate_email(email)
    except ValidationError:
        raise ReminderInvalid(_("Enter a valid e-mail address, like name@example.org.")) from None
    return email


# --- The voter's side ---------------------------------------------------------------------------------------


@transaction.atomic
def reminder_request(
    *, election: Election, voter: VoterRollEntry | int, email: str, client_key: str = ""
) -> BallotReminder:
    """Remember (or replace) the identified voter's address for one reminder. `client_key`: the client's
    address as the throttles count it (ballots.roll.throttle.client_key), for the per-address limit."""
    email = _clean_email(email)
    voter_id = voter if isinstance(voter, int) else voter.pk
    rate_charge(f"reminder:{voter_id}", rates("PB_REMINDER_RATES", VOTER_RATES))
    if client_key:
        rate_charge(f"reminder-ip:{client_key}", rates("PB_REMINDER_ADDRESS_RATES", ADDRESS_RATES))
    # The voter's row lock, as in ballot_cast: see the module's docstring.
    locked = (
        VoterRollEntry.objects.select_for_update(of=("self",))
        .select_related("election")
        .filter(pk=voter_id, election_id=election.pk)
        .first()
    )
    if locked is None:
        raise ReminderInvalid(_("You are not on this election's voter roll."))
    if locked.election.phase != Phase.VOTING_OPEN:
        raise PhaseError(_("Voting is not open in this election."))
    _eligible, left = pots_state(locked)  # after the lock: sees every cast committed before it
    if not left:
        raise AlreadyVoted(
            _("You have voted in every pot you may vote in: there is nothing to remind you of.")
        )
    now = timezone.now()
    language = translation.get_language() or settings.LANGUAGE_CODE
    reminder = BallotReminder.objects.filter(voter_id=voter_id).first()
    if reminder is not None and reminder.sent_at is not None:
        raise ReminderAlreadySent(
            _("Your reminder has already been sent. There is only one reminder per voter.")
        )
    if reminder is None:
        reminder = BallotReminder(election_id=election.pk, voter_id=voter_id)
    reminder.email = secret.address_seal(reminder.id, email)
    reminder.language, reminder.created_at = language[:12], now
    reminder.save()
    return reminder


def reminder_state(voter: VoterRollEntry | int) -> tuple[bool, bool]:
    """(asked and not sent yet, sent) for this voter's reminder: one small read (no row object)."""
    voter_id = voter if isinstance(voter, int) else voter.pk
    sent_at = BallotReminder.objects.filter(voter_id=voter_id).values_list("sent_at", flat=True)[:1]
    if not sent_at:
        return False, False
    return sent_at[0] is None, sent_at[0] is not None


def reminder_forget(voter_id: int) -> None:
    """Inside the cast (or paper mark) of the voter's last pot, under their row lock: one DELETE by voter id
    (no cascade, no signal: Django runs it without reading the row first)."""
    BallotReminder.objects.filter(voter_id=voter_id).delete()


@transaction.atomic
def reminder_cancel(*, token: str) -> bool:
    """Delete the reminder the signed link names (address and all); no sign-in needed, the signature is the
    proof. Using the link again changes nothing more. Returns whether there was one to delete."""
    deleted, _rows = BallotReminder.objects.filter(pk=cancel_check(token)).delete()
    return bool(deleted)


# --- The officials' side -----------------------------------------------------------------------------------


def _enqueue(election: Election, *, planned: dt.datetime | None = None) -> None:
    from ballots.reminders.tasks import reminders_send_task

    def enqueue() -> None:
        task = reminders_send_task
        if planned is not None and planned > timezone.now():
            task = task.using(run_after=planned)
        task.enqueue(election_id=election.pk, planned=planned.isoformat() if planned else "")

    # After the commit: the worker must see the audit entry and the plan the task was queued for.
    transaction.on_commit(enqueue)


@transaction.atomic
def reminders_send_now(*, actor, election: Election) -> int:
    """An official sends the reminders now (on the worker, "default" queue). Returns how many are waiting;
    those already sent are not sent again."""
    election = Election.objects.select_for_update().get(pk=election.pk)
    require(actor, "ballot.remind", election)
    waiting = reminders_waiting(election)
    audit_record(actor=actor, action="ballot.reminders_send", election=election, data={"waiting": waiting})
    if waiting:
        _enqueue(election)
    return waiting


def scheduling_possible() -> bool:
    """Whether the task backend can run a task later (django-tasks-db can; the immediate backend cannot)."""
    from ballots.reminders.tasks import reminders_send_task

    return reminders_send_task.get_backend().supports_defer


@transaction.atomic
def reminder_plan_set(
    *, actor, election: Election, closes_at: dt.datetime, hours_before: int
) -> ReminderPlan:
    """Announce when voting closes and send the reminders `hours_before` it, by themselves. Setting it again
    replaces the plan: the task queued for the old time finds the plan changed and does nothing."""
    election = Election.objects.select_for_update().get(pk=election.pk)
    require(actor, "ballot.remind", election)
    now = timezone.now()
    if timezone.is_naive(closes_at):
        raise ReminderInvalid(_("Give the closing time with its time zone."))
    if closes_at <= now:
        raise ReminderInvalid(_("The closing time must be in the future."))
    if not 1 <= hours_before <= 24 * 14:
        raise ReminderInvalid(_("Send the reminders between 1 hour and 14 days before the close."))
    if not scheduling_possible():
        raise PhaseError(
            _(
                "This server runs tasks without a queue, so it cannot send at a later time: "
                "use “Send reminders now”."
            )
        )
    send_at = max(closes_at - dt.timedelta(hours=hours_before), now)
    plan, _created = ReminderPlan.objects.update_or_create(
        election=election,
        defaults={"closes_at": closes_at, "send_at": send_at, "set_by": actor, "set_at": now},
    )
    audit_record(
        actor=actor,
        action="ballot.reminders_plan",
        election=election,
        obj=plan,
        data={"closes_at": closes_at.isoformat(), "send_at": send_at.isoformat()},
    )
    _enqueue(election, planned=send_at)
    return plan


def reminders_phase_hook(*, election: Election, actor, to_phase: str) -> None:
    """Inside election_advance (pb.core.services.PHASE_HOOKS): when voting closes, every reminder of the
    election and its plan are deleted in the phase change's transaction, so none is sent after the close."""
    if to_phase != Phase.VOTING_CLOSED:
        return
    deleted, _rows = BallotReminder.objects.filter(election=election).delete()
    ReminderPlan.objects.filter(election=election).delete()
    if deleted:
        audit_record(
            actor=actor, action="ballot.reminders_deleted", election=election, data={"deleted": deleted}
        )
