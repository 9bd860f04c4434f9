"""Services of the voter roll and identification: import, snapshot, voting codes, identify.

Each writes inside one transaction, checks permission first (officials) and records an audit event.
Identification events hold the method and the roll entry id only, never anything about a ballot.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hmac
import json
import logging
import os
import re
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.exceptions import AlreadyVoted, CodeInvalid, NotEligible, RollError
from ballots.models import (
    Channel,
    CodeStatus,
    ImportJob,
    Participation,
    RollSnapshot,
    VoterRollEntry,
    VotingCode,
)
from ballots.roll import entries as roll
from ballots.roll import throttle
from ballots.roll.eligibility import ineligibility_reason
from ballots.roll.identity import eligible_pots, pots_left, pots_state
from pb.core.audit import audit_record
from pb.core.exceptions import DomainError, PhaseError
from pb.core.jobprogress import ProgressFiles, stall_after, stall_reason
from pb.core.models import Election, Phase, Pot
from pb.core.permissions import require
from pb.core.spreadsheet import safe_row

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
    private = {"booth": booth} if booth else {}
    audit_record(
        actor=actor,
        action="voter.identify",
        election=election,
        obj=voter,
        data={"method": method},
        private=private,
    )


def _throttled(method: str, target: str):
    """Run the identification under the throttle (ballots.roll.throttle): refused while the client's address
    or the target (the code typed, the reference) is in its delay; charged before, refunded unless the
    code or roll match is wrong. `target`: the keyword argument naming what is being tried."""

    def wrap(func):
        @functools.wraps(func)
        def inner(*, election: Election, ip: str, **kw):
            attempt = throttle.attempt_begin(
                election_id=election.pk, method=method, ip=ip, target=_target_text(method, kw[target])
            )
            try:
                result = func(election=election, **kw)
            except CodeInvalid:
                throttle.attempt_failed(attempt)
                raise
            except BaseException:  # a used code, not eligible, voting closed: not a wrong guess
                throttle.attempt_succeeded(attempt)
                raise
            throttle.attempt_succeeded(attempt)
            return result

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


@_throttled("code", target="code")
@transaction.atomic
def voter_identify_code(*, election: Election, code: str, actor=None) -> VoterRollEntry:
    """Identify a voter by a one-time voting code (call with ip=...: throttled per address and per code)."""
    _require_voting_open(election)
    symbols = roll.normalize_code(code)
    entry = None
    if symbols is not None:
        entry = (
            VotingCode.objects.select_related("voter__district", "voter__election")
            .filter(election=election, code_hash=roll.code_hash(symbols))
            .first()
        )
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
    voter = (
        VoterRollEntry.objects.select_related("district", "election")
        .filter(election=election, ref_hash=roll.ref_hash(reference))
        .first()
    )
    expected = roll.ref_dob_hash(reference, date_of_birth.isoformat())
    if voter is None or not hmac.compare_digest(voter.ref_dob_hash, expected):
        raise CodeInvalid(_("No entry on the voter roll matches this reference and date of birth."))
    return voter


@_throttled("roll", target="reference")
@transaction.atomic
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


# --- Voting codes -----------------------------------------------------------------------------------------


def _new_code_row(election: Election, voter: VoterRollEntry, batch: str) -> tuple[VotingCode, str]:
    while True:  # 60 bits: a collision is practically impossible, but the unique hash must hold
        plain = roll.new_code()
        digest = roll.code_hash(roll.normalize_code(plain))
        if not VotingCode.objects.filter(code_hash=digest).exists():
            return VotingCode(election=election, voter=voter, code_hash=digest, batch=batch), plain


@dataclass(frozen=True)
class CodeSheet:
    """One generated code: the only time its plaintext exists. `reference` is set when the official gave
    the voter's reference (kept in memory for the printout only; the roll holds just its HMAC). `letter` is
    the letter reference printed on the sheet (ballots.roll.entries.new_letter_reference), linked to the roll
    entry
    only by the batch's mail-merge file."""

    voter: VoterRollEntry
    code: str
    reference: str = ""
    letter: str = ""


@transaction.atomic
def codes_generate(
    *,
    actor,
    election: Election,
    district: Pot | None = None,
    references: list[str] | None = None,
    limit: int = 500,
    batch: str = "",
) -> list[CodeSheet]:
    """Make codes for age-eligible roll entries without an active or used code.

    Either for the voters whose `references` the official lists (in that order; the reference is printed
    on their sheet so letters reach the right person; any reference not on the roll: nothing is made), or
    for up to `limit` voters of `district` (or of all districts) in roll order. Only HMACs are stored.
    """
    require(actor, "codes.manage", election)
    # Lock the election row: two officials generating at once must not give one voter two codes.
    Election.objects.select_for_update().get(pk=election.pk)
    base = (
        VoterRollEntry.objects.select_related("district")
        .filter(election=election, age_eligible=True)  # nobody prints a code for someone too young
        .exclude(codes__status__in=[CodeStatus.ACTIVE, CodeStatus.USED])
    )
    if references is not None:
        refs = [roll.normalize_ref(r) for r in references if r and r.strip()]
        by_hash = {roll.ref_hash(r): r for r in refs}
        known = set(
            VoterRollEntry.objects.filter(election=election, ref_hash__in=by_hash).values_list(
                "ref_hash", flat=True
            )
        )
        unknown = [r for h, r in by_hash.items() if h not in known]
        if unknown:
            raise RollError(
                _("%(n)s reference(s) are not on the roll, e.g. %(examples)s. No code was made.")
                % {"n": len(unknown), "examples": ", ".join(unknown[:3])}
            )
        found = {v.ref_hash: v for v in base.filter(ref_hash__in=by_hash)}
        chosen = [(found[h], r) for h, r in by_hash.items() if h in found][: max(0, limit)]
    else:
        voters = base.order_by("district__name", "pk")
        if district is not None:
            voters = voters.filter(district=district)
        chosen = [(v, "") for v in voters[: max(0, limit)]]
    if not chosen:
        raise RollError(_("Every voter in this selection already has a voting code (or is too young)."))
    batch = batch or timezone.now().strftime("%Y%m%d-%H%M%S")
    rows = [(_new_code_row(election, v, batch), v, ref) for v, ref in chosen]
    VotingCode.objects.bulk_create([row for (row, _plain), _v, _r in rows], batch_size=2000)
    audit_record(
        actor=actor,
        action="codes.generate",
        election=election,
        data={
            "batch": batch,
            "count": len(rows),
            "district": district.slug if district else "",
            "by_reference": references is not None,
        },
    )
    letters: set[str] = set()
    while len(letters) < len(rows):  # unique within the batch (40 bits: a repeat is very unlikely anyway)
        letters.add(roll.new_letter_reference())
    return [
        CodeSheet(voter=v, code=plain, reference=ref, letter=letter)
        for ((_row, plain), v, ref), letter in zip(rows, sorted(letters), strict=True)
    ]


def _voter_by_reference(election: Election, reference: str) -> VoterRollEntry:
    voter = (
        VoterRollEntry.objects.select_related("district")
        .filter(election=election, ref_hash=roll.ref_hash(reference))
        .first()
    )
    if voter is None:
        raise RollError(_("No voter with this reference is on the roll."))
    return voter


@transaction.atomic
def code_void(*, actor, election: Election, reference: str = "", code: str = "") -> int:
    """Void the active code(s) of a voter (by reference) or one code (by its text). Returns how many."""
    require(actor, "codes.manage", election)
    codes = VotingCode.objects.select_for_update().filter(election=election, status=CodeStatus.ACTIVE)
    if code:
        symbols = roll.normalize_code(code)
        codes = codes.filter(code_hash=roll.code_hash(symbols) if symbols else "-")
    elif reference:
        codes = codes.filter(voter=_voter_by_reference(election, reference))
    else:
        raise RollError(_("Give a voter reference or a code to void."))
    ids = list(codes.values_list("pk", flat=True))
    if not ids:
        raise RollError(_("No active voting code matches."))
    VotingCode.objects.filter(pk__in=ids).update(status=CodeStatus.VOID)
    audit_record(
        actor=actor, action="codes.void", election=election, data={"count": len(ids)}, private={"codes": ids}
    )
    return len(ids)


@transaction.atomic
def code_reissue(*, actor, election: Election, reference: str) -> CodeSheet:
    """Void the voter's active code and make a new one; returns it (with the reference, for the sheet)."""
    require(actor, "codes.manage", election)
    voter = _voter_by_reference(election, reference)
    if not pots_left(voter):
        raise AlreadyVoted(_("This voter has already voted in every pot they may vote in."))
    old = list(
        VotingCode.objects.select_for_update()
        .filter(voter=voter, status=CodeStatus.ACTIVE)
        .values_list("pk", flat=True)
    )
    VotingCode.objects.filter(pk__in=old).update(status=CodeStatus.VOID)
    row, plain = _new_code_row(election, voter, "reissue")
    row.save()
    audit_record(actor=actor, action="codes.reissue", election=election, obj=row, private={"voided": old})
    return CodeSheet(
        voter=voter, code=plain, reference=roll.normalize_ref(reference), letter=roll.new_letter_reference()
    )


# --- Mail-merge files of code letters -----------------------------------------------------------------------
# A PDF batch of letters comes with a CSV (letter reference, roll entry, district; never the code) so the
# office can put each letter in the right envelope. It is kept apart from the roll's hashes: not in the
# database but in PB_VAR_DIR/code_letters/<election id>/ (directory 0700, file 0600), downloadable once by
# the official who generated the batch, then deleted.

MAILMERGE_COLUMNS = ("letter_reference", "roll_entry", "district")
_MAILMERGE_NAME = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class MailMergeFile:
    name: str
    batch: str
    count: int
    created: str


def _mailmerge_dir(election: Election) -> Path:
    d = Path(settings.PB_VAR_DIR) / "code_letters" / str(election.pk)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    d.chmod(0o700)
    return d


# A file never downloaded is deleted after this long: it links letters to roll entries.
MAILMERGE_MAX_AGE = dt.timedelta(days=30)


def _mailmerge_sweep(d: Path) -> None:
    limit = timezone.now() - MAILMERGE_MAX_AGE
    for meta_path in d.glob("*.json"):
        try:
            created = dt.datetime.fromisoformat(json.loads(meta_path.read_text(encoding="utf-8"))["created"])
            expired = created < limit
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if expired:
            meta_path.with_suffix(".csv").unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)


def codes_mailmerge_write(*, actor, election: Election, sheets: list[CodeSheet], batch: str) -> MailMergeFile:
    """Write the mail-merge file of a batch of letters for `actor` to download once (within
    MAILMERGE_MAX_AGE)."""
    require(actor, "codes.manage", election)
    name = secrets.token_urlsafe(18)
    d = _mailmerge_dir(election)
    _mailmerge_sweep(d)
    created = timezone.now().replace(microsecond=0).isoformat()
    fd = os.open(d / f"{name}.csv", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(MAILMERGE_COLUMNS)
        for s in sheets:
            writer.writerow(safe_row([s.letter, s.voter.pk, s.voter.district.slug]))
    meta = {"owner": actor.pk, "batch": batch, "count": len(sheets), "created": created}
    fd = os.open(d / f"{name}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(meta, fh)
    audit_record(
        actor=actor, action="codes.mailmerge", election=election, data={"batch": batch, "count": len(sheets)}
    )
    return MailMergeFile(name=name, batch=batch, count=len(sheets), created=created)


def codes_mailmerge_list(*, actor, election: Election) -> list[MailMergeFile]:
    """The mail-merge files `actor` generated for this election and has not downloaded yet."""
    d = Path(settings.PB_VAR_DIR) / "code_letters" / str(election.pk)
    if d.is_dir():
        _mailmerge_sweep(d)
    found = []
    for meta_path in sorted(d.glob("*.json")) if d.is_dir() else ():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("owner") == getattr(actor, "pk", None) and meta_path.with_suffix(".csv").exists():
            found.append(
                MailMergeFile(
                    meta_path.stem, meta.get("batch", ""), meta.get("count", 0), meta.get("created", "")
                )
            )
    return sorted(found, key=lambda f: f.created, reverse=True)


@transaction.atomic
def codes_mailmerge_take(*, actor, election: Election, name: str) -> bytes:
    """The mail-merge file's content, once: only for the official who generated it; deleted as it is read."""
    require(actor, "election.manage", election)
    missing = RollError(_("This mail-merge file does not exist or was already downloaded."))
    if not _MAILMERGE_NAME.fullmatch(name or ""):
        raise missing
    d = Path(settings.PB_VAR_DIR) / "code_letters" / str(election.pk)
    csv_path, meta_path = d / f"{name}.csv", d / f"{name}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise missing from None
    if meta.get("owner") != actor.pk:
        raise missing  # another official's file: not even whether it exists
    # Claim the file by renaming it: of two simultaneous downloads, only one finds it.
    claimed = d / f"{name}.{secrets.token_hex(8)}.taking"
    try:
        os.rename(csv_path, claimed)
    except FileNotFoundError:
        raise missing from None
    try:
        data = claimed.read_bytes()
    finally:
        claimed.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
    audit_record(
        actor=actor,
        action="codes.mailmerge_download",
        election=election,
        data={"batch": meta.get("batch", ""), "count": meta.get("count", 0)},
    )
    return data


def roll_entries_for_references(
    *, actor, election: Election, references: list[str]
) -> list[tuple[str, int | None]]:
    """(normalised reference, roll entry id or None) for each reference, in order: lets the office join its
    address list with a mail-merge file. Audited with the count only."""
    require(actor, "election.manage", election)
    refs = [roll.normalize_ref(r) for r in references if r and r.strip()]
    by_hash = {roll.ref_hash(r): r for r in refs}
    hashes = list(by_hash)
    found: dict[str, int] = {}
    for start in range(0, len(hashes), 5000):  # below every database's limit of query parameters
        found.update(
            VoterRollEntry.objects.filter(
                election=election, ref_hash__in=hashes[start : start + 5000]
            ).values_list("ref_hash", "pk")
        )
    audit_record(
        actor=actor,
        action="roll.lookup",
        election=election,
        data={"references": len(refs), "found": len(found)},
    )
    return [(r, found.get(roll.ref_hash(r))) for r in refs]


# --- Voter roll import --------------------------------------------------------------------------------------


# Rows between two progress reports (and per COPY/INSERT batch) of an import: a million-row import moves
# the job page's bar 100 times per phase. The report is a small file written outside the import's
# transaction (_write_progress), so other processes see it while the rows are still uncommitted.
PROGRESS_EVERY = 10_000


def _lock_roll(actor, election: Election) -> Election:
    # Row lock on the election: imports queue behind each other and behind a phase change, so the roll
    # cannot change while voting opens (election_advance takes the same lock). The permission is checked
    # on the locked, fresh row: the phase may have moved since the caller loaded it.
    election = Election.objects.select_for_update().get(pk=election.pk)
    require(actor, "roll.import", election)
    if RollSnapshot.objects.filter(election=election).exists():
        raise RollError(_("The voter roll is frozen: voting has opened, so it can no longer change."))
    return election


@transaction.atomic
def roll_import(
    *, actor, election: Election, path: str | Path, dry_run: bool = False, progress=None
) -> roll.ImportReport:
    """Check a CSV/XLSX roll file and, unless `dry_run`, add every row to the roll, all or nothing.

    Raises RollError for a file that cannot be read (missing columns). Row errors are in the report; if any
    row has one, nothing is written.
    """
    election = _lock_roll(actor, election)
    try:
        cols, problems, rows = roll.open_roll_file(path)
    except UnicodeDecodeError as exc:
        raise RollError(_("The file is not UTF-8 text: save it as “CSV UTF-8”.")) from exc
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise RollError(_("The file cannot be read as CSV or XLSX: %(error)s") % {"error": exc}) from exc
    except Exception as exc:  # openpyxl/tablib raise many kinds for a file that is not a workbook
        raise RollError(
            _("The file cannot be read as XLSX (%(error)s): save it again from your spreadsheet program.")
            % {"error": type(exc).__name__}
        ) from exc
    if problems:
        raise RollError(" ".join(problems))
    try:
        report = roll.import_rows(
            election, cols, rows, dry_run=dry_run, progress=progress, chunk=PROGRESS_EVERY
        )
    except UnicodeDecodeError as exc:
        raise RollError(_("The file is not UTF-8 text: save it as “CSV UTF-8”.")) from exc
    except ValueError as exc:  # a line the CSV reader cannot read (roll.read_csv names it)
        raise RollError(str(exc)) from exc
    if not dry_run and report.imported:
        audit_record(
            actor=actor,
            action="roll.import",
            election=election,
            data={"rows": report.rows, "imported": report.imported, "file": Path(path).name[-80:]},
        )
    return report


PROGRESS = ProgressFiles("roll_uploads")
progress_path = PROGRESS.path
read_progress = PROGRESS.read
_write_progress = PROGRESS.write


@transaction.atomic
def roll_job_create(*, actor, election: Election, uploaded, job_id: uuid.UUID | None = None) -> ImportJob:
    """Store an uploaded roll file until it is imported (or dropped) and open an import job for it.

    `job_id`: the id the upload page chose (to poll the progress of the check); a new one if taken."""
    _lock_roll(actor, election)
    _discard_stale_uploads()
    name = Path(uploaded.name).name
    suffix = ".xlsx" if name.lower().endswith(".xlsx") else ".csv"
    if job_id is None or ImportJob.objects.filter(pk=job_id).exists():
        job_id = uuid.uuid4()
    dest = PROGRESS.directory() / f"{job_id}{suffix}"
    with open(dest, "wb") as fh:
        for chunk in uploaded.chunks():
            fh.write(chunk)
    dest.chmod(0o600)
    return ImportJob.objects.create(
        id=job_id, election=election, created_by=actor, filename=name[:200], path=str(dest)
    )


def _discard_stale_uploads(max_age: dt.timedelta = dt.timedelta(days=1)) -> None:
    """Previews never confirmed: delete their files (personal data in clear) after a day."""
    for job in ImportJob.objects.exclude(path="").filter(created_at__lt=timezone.now() - max_age):
        roll_job_discard_file(job)


def _run_job(job: ImportJob, *, dry_run: bool) -> ImportJob:
    """Check (dry run) or import the job's file, recording status, errors and progress on the job."""
    total = roll.count_lines(job.path) - 1 if job.path.endswith(".csv") else 0
    job.status = ImportJob.Status.VALIDATING if dry_run else ImportJob.Status.IMPORTING
    job.save(update_fields=["status"])
    _write_progress(job.pk, phase="checking", done=0, total=total)
    try:
        report = roll_import(
            actor=job.created_by,
            election=job.election,
            path=job.path,
            dry_run=dry_run,
            progress=lambda phase, n: _write_progress(job.pk, phase=phase, done=n, total=max(total, n)),
        )
    except DomainError as exc:
        job.status = ImportJob.Status.FAILED
        job.errors = [{"row": 0, "column": "", "message": exc.message}]
        job.error_count = 1
    except Exception:  # a crash must not leave the page polling forever; nothing was written (atomic)
        logger.exception("roll import job %s failed", job.pk)
        job.status = ImportJob.Status.FAILED
        job.errors = [
            {"row": 0, "column": "", "message": _("The import failed unexpectedly; nothing was imported.")}
        ]
        job.error_count = 1
    else:
        job.rows_total = report.rows
        job.error_count = report.error_count
        job.errors = [{"row": e.row, "column": e.column, "message": e.message} for e in report.errors]
        job.seconds = round(report.seconds, 2)
        job.imported = report.imported
        if report.error_count or report.rows == 0:
            job.status = ImportJob.Status.INVALID
            if report.rows == 0:
                job.errors = [{"row": 0, "column": "", "message": _("The file has no voter rows.")}]
                job.error_count = 1
        else:
            job.status = ImportJob.Status.READY if dry_run else ImportJob.Status.DONE
    job.finished_at = timezone.now()
    job.save()
    progress_path(job.pk).unlink(missing_ok=True)
    if job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED, ImportJob.Status.INVALID):
        roll_job_discard_file(job)
    return job


def roll_job_check(*, job_id) -> ImportJob:
    """Preview: validate the job's file without writing; status READY or INVALID (with row errors)."""
    return _run_job(ImportJob.objects.select_related("election", "created_by").get(pk=job_id), dry_run=True)


def roll_job_run(*, job_id) -> ImportJob:
    """Import the checked job's file (validated again: the roll may have changed since the preview)."""
    job = ImportJob.objects.select_related("election", "created_by").get(pk=job_id)
    # Claim the job: a second confirm, or the task run by two workers, must not import again.
    if not ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.READY).update(
        status=ImportJob.Status.IMPORTING
    ):
        raise RollError(_("This import is not ready: check the file first."))
    return _run_job(job, dry_run=False)


def roll_job_discard_file(job: ImportJob) -> None:
    """Delete the uploaded file: it holds personal data in clear."""
    if job.path:
        Path(job.path).unlink(missing_ok=True)
        ImportJob.objects.filter(pk=job.pk).update(path="")
        job.path = ""


# --- Stalled jobs -------------------------------------------------------------------------------------------

RUNNING_STATUSES = (ImportJob.Status.UPLOADED, ImportJob.Status.VALIDATING, ImportJob.Status.IMPORTING)


def roll_jobs_expire_stalled(*, election: Election) -> int:
    """Mark failed, with a reason an official can act on, the election's jobs that are waiting, checking or
    importing with no progress for PB_ROLL_JOB_STALL_SECONDS (the worker died, or the server restarted
    mid-job). Called when the roll or the job page is viewed. The file is kept, so the job can be retried;
    nothing was written (an import is one transaction). Returns how many were marked."""
    stall = stall_after()
    now = timezone.now()
    marked = 0
    for job in ImportJob.objects.filter(election=election, status__in=RUNNING_STATUSES):
        if now - PROGRESS.last_sign_of_life(job.pk, job.created_at) < stall:
            continue
        reason = stall_reason(importing=job.status == ImportJob.Status.IMPORTING, stall=stall)
        # Conditional update: a worker that finishes meanwhile, or another page view, wins or loses cleanly.
        marked += ImportJob.objects.filter(pk=job.pk, status=job.status).update(
            status=ImportJob.Status.FAILED,
            errors=[{"row": 0, "column": "", "message": reason}],
            error_count=1,
            finished_at=now,
        )
        progress_path(job.pk).unlink(missing_ok=True)
    return marked


def roll_job_retryable(job: ImportJob) -> bool:
    return job.status == ImportJob.Status.FAILED and bool(job.path) and Path(job.path).exists()


@transaction.atomic
def roll_job_retry(*, actor, job: ImportJob) -> ImportJob:
    """Check a failed job's file again (the caller enqueues the check). Idempotent: the check writes nothing,
    and the import that may follow is all or nothing and refuses references already on the roll."""
    _lock_roll(actor, job.election)
    if not roll_job_retryable(job):
        raise RollError(_("This import cannot be retried: upload the file again."))
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.FAILED).update(
        status=ImportJob.Status.UPLOADED, errors=[], error_count=0, finished_at=None
    )
    if not updated:  # a second click, or another official, was first
        raise RollError(_("This import is already being retried."))
    _write_progress(job.pk, phase="checking", done=0, total=0)  # a fresh sign of life until the check starts
    audit_record(actor=actor, action="roll.job_retry", election=job.election, data={"job": str(job.pk)})
    job.refresh_from_db()
    return job


# --- Snapshot when voting opens ----------------------------------------------------------------------------


@transaction.atomic
def roll_snapshot(*, actor, election: Election) -> RollSnapshot:
    """Freeze the roll: count and SHA-256 (format: ballots.roll.entries.roll_digest). Called by the phase hook
    inside election_advance (which checked the permission and holds the election's row lock)."""
    entries, digest = roll.roll_digest(election)
    snap, _created = RollSnapshot.objects.update_or_create(
        election=election, defaults={"entries": entries, "sha256": digest, "taken_at": timezone.now()}
    )
    audit_record(
        actor=actor,
        action="roll.snapshot",
        election=election,
        obj=snap,
        data={"entries": entries, "sha256": digest},
    )
    return snap


def roll_snapshot_hook(*, election: Election, actor, to_phase: str) -> None:
    """PHASE_HOOK: snapshot the roll when voting opens."""
    if to_phase == Phase.VOTING_OPEN:
        roll_snapshot(actor=actor, election=election)
