"""Casting ballots (online, at a booth, on paper) and entering paper ballots twice.

Secrecy, in one place:
- `ballot_cast` writes a `Participation` (who, which pot, channel, day) and a `PendingBallot` (the ballot
  encrypted under the server key, ballots.ballotbox.pending) in one transaction. Sealing later turns pending
  ballots,
  at least K of a pot at a time, into `Ballot` rows in a transaction of its own, and deletes and vacuums the
  pending rows: no ballot row ever shares a transaction, a column or a key with a participation
  (docs/secrecy.md). Paper ballots take the same path.
- No audit entry is written for an online cast. An entry holds a time to the second and a sequence number;
  one per cast would let anyone who can read the audit log and watch ballots arrive line the two up. The
  `Participation` row (day only) is the record that someone voted, and identification is audited by the
  roll services. A cast at a booth is an official's act and is audited, with the participation only — never
  the ballot id or contents.
- The receipt code is returned to the caller once and only its hash is stored.

Long module: the online, booth and paper casts and the double paper entry share their locks and
checks (one participation per voter and pot, the frozen ballot rules); together they read as one protocol.
"""

from __future__ import annotations

import copy
import difflib
import logging
import secrets
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ballots.ballotbox import pending as pending_ballots
from ballots.ballotbox.receipts import receipt_new, receipt_unshown_hash
from ballots.ballotbox.sealing import SEAL_AFTER_CAST, ballots_seal_pending
from ballots.casting import castctx
from ballots.casting.selectors import ballot_spec
from ballots.casting.validation import (
    RawBallot,
    ballot_validate,
    paper_line_canonical,
    paper_line_is_empty,
    paper_line_parse,
)
from ballots.exceptions import AlreadyVoted, BallotInvalid
from ballots.models import (
    Channel,
    CodeStatus,
    PaperBatch,
    PaperBatchStatus,
    PaperEntry,
    Participation,
    PendingBallot,
    VoterRollEntry,
    VotingCode,
)
from ballots.reconciliation.services import paper_batch_excess
from ballots.reminders.services import reminder_forget
from ballots.roll import eligibility, identity
from pb.core.audit import audit_record
from pb.core.exceptions import DomainError
from pb.core.models import Election, Pot
from pb.core.permissions import require

logger = logging.getLogger(__name__)


class _IdentifiedVoter:
    """A voter identified by a voting code or roll match, at the permission gate.

    Voters need no site account: the identification is their credential. They pass the gate as a resident,
    so `require` still checks the phase (casting only while voting is open)."""

    is_authenticated = True
    _pb_roles = frozenset()
    pk = None

    def __str__(self) -> str:
        return "identified voter"


IDENTIFIED_VOTER = _IdentifiedVoter()


@dataclass(frozen=True)
class CastResult:
    pot: Pot
    receipt_code: str  # show once; never stored in clear
    pots_left: int


def _seal_after_commit(
    election_id: int, pot_id: int, *, seal_at: int = 0, pending: int | None = None
) -> None:
    """Hand new ballots to the results side, which seals them per pot in shuffled batches of at least K into
    the public chain (ballots.ballotbox.sealing.ballots_seal_pending, which also decides how many it takes).

    `seal_at`: the pot's pending ballots at which sealing is worth trying (0: always try); `pending`: the
    pot's pending ballots as the cast just counted them (PostgreSQL's single-statement write counts them for
    free); None: count them after the commit."""
    if pending is not None and pending < seal_at:
        return

    def seal() -> None:
        # Cheap, unlocked look first (index "pending_ballot_pot"): sealing takes the chain's row lock, and
        # taking it after every cast would queue all casts of the election behind one another.
        if pending is not None or not seal_at or _pending_at_least(election_id, pot_id, seal_at):
            ballots_seal_pending(election_id=election_id, pot_id=pot_id)

    # robust: a sealing failure must not turn a committed cast into an error page; the next cast or the
    # freeze at closing seals what is pending.
    transaction.on_commit(seal, robust=True)


def _pending_at_least(election_id: int, pot_id: int, n: int) -> bool:
    """Whether the pot has at least n ballots waiting to be sealed (index "pending_ballot_pot")."""
    return PendingBallot.objects.filter(election_id=election_id, pot_id=pot_id)[:n].count() >= n


def _mark_code_used(voter: VoterRollEntry) -> None:
    identity.code_mark_used(voter)


def _lock_voter(election: Election, voter: VoterRollEntry | int) -> VoterRollEntry:
    # Row lock on the voter's roll entry: all casts and paper marks of one voter queue here. It closes the
    # race where two requests of the same voter (double click, two tabs, a replayed POST) both see "no
    # participation yet" and both write a ballot; the second now waits, then sees the first's participation
    # and gets AlreadyVoted. The unique constraint on Participation(voter, pot) stays the backstop.
    # of=("self",): lock only the voter's row, not the joined pot and election rows (which every voter
    # shares: locking them would serialise the whole election and deadlock against foreign-key checks).
    # The election row is the caller's (already read): joining it again would only cost time.
    voter_id = voter if isinstance(voter, int) else voter.pk
    locked = (
        VoterRollEntry.objects.select_for_update(of=("self",))
        .select_related("district")
        .get(pk=voter_id, election=election)
    )
    locked.election = election
    return locked


def _already_voted(pot: Pot) -> AlreadyVoted:
    return AlreadyVoted(_("You have already voted in %(pot)s.") % {"pot": pot.name})


def _at_phase(election: Election, phase: str) -> Election:
    """The election as the permission gate must see it: with the phase just read under the lock (a cached
    election object is shared by requests and never changed)."""
    if election.phase == phase:
        return election
    current = copy.copy(election)
    current.phase = phase
    return current


@transaction.atomic
def ballot_cast(
    *,
    actor,
    election: Election,
    pot: Pot,
    voter: VoterRollEntry | int,
    raw: RawBallot,
    channel: str = Channel.ONLINE,
    booth: str = "",
    context: castctx.PotContext | None = None,
    identity_version: int | None = None,
) -> CastResult:
    """Cast one ballot in one pot for one identified voter; returns the receipt code (shown once).

    `voter`: the roll entry or its id; it is (re-)read under its row lock here either way. Raises
    VoterRollEntry.DoesNotExist if it is not on this election's roll. `context`: the pot's
    `castctx.PotContext` if the caller has read it (the cast view does); otherwise it is read here.
    `identity_version`: the voter's identity version the browser's identification was made with
    (ballots.roll.identity); if the voter has left that browser since, DoesNotExist as well.

    Statements: the voter's row lock (which also reads the election's phase and frozen definition), the
    voter's participations, then the writes: the participation, the ballot and, after the voter's last pot,
    marking their codes used and deleting their reminder (ballots.reminders); after the commit, a count of
    the pot's unsealed ballots (up to the sealing threshold)."""
    if channel not in (Channel.ONLINE, Channel.BOOTH):
        raise ValueError("paper ballots are entered with paper_batch_accept")
    if pot.election_id != election.pk:
        raise BallotInvalid(_("This pot is not part of this election."))
    voter_id = voter if isinstance(voter, int) else voter.pk
    # The voter's row lock (see _lock_voter), reading in the same statement the election's phase and its
    # frozen definition as they are now (the context is checked against them).
    # Raises VoterRollEntry.DoesNotExist if the voter is not on this election's roll.
    voter = (
        VoterRollEntry.objects.select_for_update(of=("self",))
        .annotate(
            phase=F("election__phase"),
            freeze_id=F("election__definition_freeze__id"),
            freeze_sha=F("election__definition_freeze__sha256"),
        )
        .get(pk=voter_id, election_id=election.pk)
    )
    if identity_version is not None and voter.identity_version != identity_version:
        raise VoterRollEntry.DoesNotExist("this identification was ended (the voter left that browser)")
    phase = voter.phase
    freeze = (voter.freeze_id, voter.freeze_sha) if voter.freeze_id is not None else None
    ctx = context if context is not None and context.pot.pk == pot.pk else None
    if ctx is None or ctx.freeze != freeze:  # read before another definition was frozen: read it again
        ctx = castctx.build(Pot.objects.select_related("election").get(pk=pot.pk), freeze)
    election, pot = ctx.election, ctx.pot
    if channel == Channel.BOOTH:
        require(actor, "ballot.booth", _at_phase(election, phase))  # an official casts for the resident
    else:
        require(IDENTIFIED_VOTER, "ballot.cast", _at_phase(election, phase))
    voter.election = election
    district = ctx.pots_by_id.get(voter.district_id)
    if district is not None:
        voter.district = district
    identity.check_eligible(voter, pot)
    # After the lock: a statement started now sees every participation committed before it.
    voted = set(Participation.objects.filter(voter_id=voter.pk).values_list("pot_id", flat=True))
    if pot.pk in voted:
        raise _already_voted(pot)
    clean = ballot_validate(ctx.spec, raw)
    voted.add(pot.pk)
    left = [p for p in ctx.pots if p.pk not in voted and eligibility.may_vote_in(voter, p)]
    day = timezone.localdate()
    booth = booth if channel == Channel.BOOTH else ""
    code, digest = receipt_new()
    # Not a Ballot yet: the ballot waits, encrypted, until it is sealed with at least K others of its pot.
    ballot = pending_ballots.row(
        election_id=election.pk,
        pot_id=pot.pk,
        projects=list(clean.projects),
        points=clean.points,
        is_paper=False,
        receipt_hash=digest,
    )
    seal_at = pending_ballots.seal_threshold(ctx.anonymity_k, SEAL_AFTER_CAST)
    # No savepoint needed: on a violation of the one-participation constraint nothing more runs in this
    # transaction, the re-raised error leaves the atomic block and rolls it back.
    try:
        participation_id = Participation.objects.create(
            election_id=election.pk,
            pot_id=pot.pk,
            voter_id=voter.pk,
            channel=channel,
            booth=booth,
            day=day,
        ).pk
        PendingBallot.objects.create(
            id=ballot["id"], election_id=election.pk, pot_id=pot.pk, content=ballot["content"]
        )
        if not left:  # their last pot: the voter's codes are used up, and their reminder address goes
            VotingCode.objects.filter(voter_id=voter.pk, status=CodeStatus.ACTIVE).update(
                status=CodeStatus.USED
            )
            reminder_forget(voter.pk)
    except IntegrityError as exc:  # the backstop: a writer that slipped past the lock (e.g. no row locks)
        raise _already_voted(pot) from exc
    if channel == Channel.BOOTH:
        audit_record(
            actor=actor,
            action="ballot.booth_cast",
            election=election,
            obj=Participation(
                pk=participation_id,
                election=election,
                pot=pot,
                voter=voter,
                channel=channel,
                booth=booth,
                day=day,
            ),
            data={"pot": pot.slug},
            private={"booth": booth},  # the booth and the participation id would name the voter
        )
    _seal_after_commit(election.pk, pot.pk, seal_at=seal_at)
    return CastResult(pot=pot, receipt_code=code, pots_left=len(left))


@transaction.atomic
def paper_voter_mark(
    *, actor, election: Election, voter: VoterRollEntry, booth: str, pots: list[Pot] | None = None
) -> list[Participation]:
    """Mark on the roll that a resident took paper ballots at a booth: they can no longer vote online,
    count in turnout, and are reconciled against the paper ballots entered for that booth."""
    require(actor, "ballot.booth", election)
    booth = booth.strip()
    if not booth:
        raise BallotInvalid(_("Say at which booth the paper ballots are handed out."))
    voter = _lock_voter(election, voter)  # same lock as ballot_cast: a cast in flight finishes first
    done = set(Participation.objects.filter(voter=voter).values_list("pot_id", flat=True))
    if pots is None:
        pots = [p for p in identity.eligible_pots(voter) if p.pk not in done]
        if not pots:
            raise AlreadyVoted(_("This voter has already voted in every pot they may vote in."))
    for pot in pots:
        identity.check_eligible(voter, pot)
        if pot.pk in done:
            raise _already_voted(pot)
    day = timezone.localdate()
    try:
        with transaction.atomic():
            marked = [
                Participation.objects.create(
                    election=election, pot=pot, voter=voter, channel=Channel.PAPER, booth=booth, day=day
                )
                for pot in pots
            ]
    except IntegrityError as exc:
        raise AlreadyVoted(_("This voter has just voted in one of these pots.")) from exc
    audit_record(
        actor=actor,
        action="paper.voter_mark",
        election=election,
        obj=voter,
        data={"pots": [p.slug for p in pots]},
        private={"booth": booth},  # published without the voter, booth or exact time
    )
    if not identity.pots_left(voter):
        _mark_code_used(voter)
        reminder_forget(voter.pk)  # voted everywhere: their reminder address is not kept
    return marked


# --- Paper ballots: batches entered twice -------------------------------------------------------------------


class PaperError(DomainError):
    status_code = 409


@transaction.atomic
def paper_batch_create(*, actor, election: Election, pot: Pot, booth: str, label: str) -> PaperBatch:
    require(actor, "paper.enter", election)
    if pot.election_id != election.pk:
        raise PaperError(_("This pot is not part of this election."))
    booth, label = booth.strip(), label.strip()
    if not booth or not label:
        raise PaperError(_("A batch needs a booth and a label (e.g. the number on its envelope)."))
    if PaperBatch.objects.filter(election=election, pot=pot, booth=booth, label=label).exists():
        raise PaperError(
            _("Batch “%(label)s” of booth %(booth)s already exists for %(pot)s.")
            % {"label": label, "booth": booth, "pot": pot.name}
        )
    batch = PaperBatch.objects.create(election=election, pot=pot, booth=booth, label=label, created_by=actor)
    audit_record(
        actor=actor,
        action="paper.batch_create",
        election=election,
        obj=batch,
        data={"pot": pot.slug, "booth": booth, "label": label},
    )
    return batch


def _lock_batch(batch: PaperBatch) -> PaperBatch:
    # Closes the race of two officials accepting (or entering into) the same batch at once: without it both
    # could turn the same lines into ballots, counting the paper twice.
    return (
        PaperBatch.objects.select_for_update(of=("self",)).select_related("pot", "election").get(pk=batch.pk)
    )


@transaction.atomic
def paper_batch_enter(*, actor, batch: PaperBatch, text: str) -> PaperEntry:
    """One official types the batch (one paper ballot per line). Typing again replaces their own entry."""
    batch = _lock_batch(batch)
    require(actor, "paper.enter", batch.election)
    if batch.status != PaperBatchStatus.OPEN:
        raise PaperError(_("This batch has been accepted; its entries can no longer change."))
    if not text.strip():
        raise PaperError(_("Type at least one line: one paper ballot per line."))
    # Every line is a paper ballot: an empty one is refused and named, never dropped ("-" is a blank ballot).
    lines = text.splitlines()
    empty = [k for k, ln in enumerate(lines, start=1) if paper_line_is_empty(ln)]
    if empty:
        raise PaperError(
            ngettext(
                "%(n)s line typed, not saved: %(lines)s.",
                "%(n)s lines typed, not saved: %(lines)s.",
                len(lines),
            )
            % {
                "n": len(lines),
                "lines": "; ".join(
                    _("line %(k)s: empty (type - for a blank ballot)") % {"k": k} for k in empty
                ),
            }
        )
    others = batch.entries.exclude(entered_by=actor).count()
    if others >= 2:
        raise PaperError(_("Two officials have already entered this batch."))
    entry, created = PaperEntry.objects.update_or_create(
        batch=batch, entered_by=actor, defaults={"text": "\n".join(ln.strip() for ln in lines)}
    )
    audit_record(
        actor=actor,
        action="paper.entry" if created else "paper.entry_correct",
        election=batch.election,
        obj=batch,
        data={"lines": len(lines)},
    )
    return entry


@dataclass
class DiffRow:
    row: int
    a: str | None  # the first entry's line (None: missing there)
    b: str | None
    a_line: int | None
    b_line: int | None
    same: bool


@dataclass
class BatchComparison:
    batch: PaperBatch
    entries: list[PaperEntry]
    rows: list[DiffRow] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return len(self.entries) == 2

    @property
    def differences(self) -> list[DiffRow]:
        return [r for r in self.rows if not r.same]

    @property
    def equal(self) -> bool:
        return self.complete and not self.differences


def paper_batch_compare(*, batch: PaperBatch) -> BatchComparison:
    """Line-by-line comparison of the two entries (on canonical forms: "P2 P1" equals "p1, p2")."""
    entries = list(batch.entries.select_related("entered_by").order_by("entered_at", "pk"))
    cmp = BatchComparison(batch=batch, entries=entries)
    if len(entries) != 2:
        return cmp
    spec = ballot_spec(batch.pot)
    a, b = entries[0].lines, entries[1].lines
    ca = [paper_line_canonical(spec, ln) for ln in a]
    cb = [paper_line_canonical(spec, ln) for ln in b]
    matcher = difflib.SequenceMatcher(None, ca, cb, autojunk=False)
    row = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                row += 1
                cmp.rows.append(DiffRow(row, a[i1 + k], b[j1 + k], i1 + k + 1, j1 + k + 1, True))
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            row += 1
            ia, jb = i1 + k, j1 + k
            cmp.rows.append(
                DiffRow(
                    row,
                    a[ia] if ia < i2 else None,
                    b[jb] if jb < j2 else None,
                    ia + 1 if ia < i2 else None,
                    jb + 1 if jb < j2 else None,
                    False,
                )
            )
    return cmp


@transaction.atomic
def paper_batch_accept(
    *, actor, batch: PaperBatch, resolution: dict[int, str] | None = None, note: str = ""
) -> PaperBatch:
    """Turn a double-entered batch into ballots.

    Both entries must agree line by line, or every differing row must be resolved ("a" or "b": which entry
    matches the paper) with a note. Each accepted line goes through the same validation as an online ballot;
    valid lines become paper ballots, the others are listed with their reasons on the batch."""
    batch = _lock_batch(batch)
    require(actor, "paper.enter", batch.election)
    if batch.status != PaperBatchStatus.OPEN:
        raise PaperError(_("This batch has already been accepted."))
    cmp = paper_batch_compare(batch=batch)
    if not cmp.complete:
        raise PaperError(
            _("Two different officials must each enter this batch before it can be accepted (%(n)s so far).")
            % {"n": len(cmp.entries)}
        )
    resolution = {int(k): v for k, v in (resolution or {}).items() if v in ("a", "b")}
    unresolved = [r.row for r in cmp.differences if r.row not in resolution]
    if unresolved:
        raise PaperError(
            _("The two entries differ on rows %(rows)s: correct an entry, or resolve each row with a note.")
            % {"rows": ", ".join(str(r) for r in unresolved)}
        )
    if cmp.differences and not note.strip():
        raise PaperError(_("Say how the differences were resolved (e.g. “checked against the paper”)."))
    spec = ballot_spec(batch.pot)
    accepted: list[tuple[int, str]] = []
    for r in cmp.rows:
        text = r.a if r.same or resolution.get(r.row) == "a" else r.b
        if text is not None:  # resolved as "this line is not on the paper"
            accepted.append((r.row, text))
    # Never more paper ballots at a booth than voters marked there as voting on paper (under the pot's lock).
    excess = paper_batch_excess(batch=batch, lines=len(accepted))
    if excess:
        raise PaperError(excess)
    ballots: list[PendingBallot] = []
    rejected: list[dict] = []
    for row, text in accepted:
        try:
            clean = ballot_validate(spec, paper_line_parse(spec, text))
        except BallotInvalid as exc:
            rejected.append({"line": row, "text": text, "reasons": getattr(exc, "problems", [exc.message])})
            continue
        # Pending (encrypted) like an online ballot: sealed with the pot's others, at least K to a batch.
        ballots.append(
            PendingBallot(
                **pending_ballots.row(
                    election_id=batch.election_id,
                    pot_id=batch.pot_id,
                    projects=list(clean.projects),
                    points=clean.points,
                    is_paper=True,
                    receipt_hash=receipt_unshown_hash(),
                )
                | {"election": batch.election, "pot": batch.pot}
            )
        )
    # Insert in random order: the table's physical order must not mirror the paper stack.
    secrets.SystemRandom().shuffle(ballots)
    PendingBallot.objects.bulk_create(ballots)
    batch.status = PaperBatchStatus.ACCEPTED
    batch.accepted_by = actor
    batch.accepted_at = timezone.now()
    batch.lines_total = len(accepted)
    batch.lines_valid = len(ballots)
    batch.rejected = rejected
    if cmp.differences:
        batch.resolution = {
            "lines": {str(k): v for k, v in sorted(resolution.items())},
            "note": note.strip(),
        }
    batch.save()
    audit_record(
        actor=actor,
        action="paper.batch_accept",
        election=batch.election,
        obj=batch,
        data={
            "lines": batch.lines_total,
            "valid": batch.lines_valid,
            "rejected": len(rejected),
            "resolved_rows": sorted(resolution),
        },
    )
    _seal_after_commit(batch.election_id, batch.pot_id)
    return batch
