"""Voting codes: generated once per voter (only their keyed hash is stored; the letters are printed once,
ballots.roll.codes_pdf), voided and reissued, and the mail-merge files of code letters for a printer."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.exceptions import AlreadyVoted, RollError
from ballots.models import (
    CodeStatus,
    VoterRollEntry,
    VotingCode,
)
from ballots.roll import entries as roll
from ballots.roll.identity import pots_left
from pb.core.audit import audit_record
from pb.core.models import Election, Pot
from pb.core.permissions import require
from pb.core.secretfiles import write_secret
from pb.core.spreadsheet import safe_row

logger = logging.getLogger(__name__)


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


def codes_select(
    *, election: Election, district: Pot | None, references: list[str] | None, limit: int
) -> list[tuple[VoterRollEntry, str]]:
    """The voters a batch is for, with the reference to print (or ""): age-eligible roll entries without an
    active or used code, either those whose `references` the official lists (in that order; any reference
    not on the roll: RollError, nothing is made) or up to `limit` of `district` (or of all) in roll order."""
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
    return chosen


@dataclass(frozen=True)
class PreparedCodes:
    """A batch's codes before they are recorded: the rows to insert and the sheets to print."""

    rows: list[VotingCode]
    sheets: list[CodeSheet]


def codes_prepare(
    *, election: Election, chosen: list[tuple[VoterRollEntry, str]], batch: str
) -> PreparedCodes:
    """New codes and letter references for `chosen` (nothing is written: codes_issue records them)."""
    made = [(_new_code_row(election, v, batch), v, ref) for v, ref in chosen]
    letters: set[str] = set()
    while len(letters) < len(made):  # unique within the batch (40 bits: a repeat is very unlikely anyway)
        letters.add(roll.new_letter_reference())
    return PreparedCodes(
        rows=[row for (row, _plain), _v, _r in made],
        sheets=[
            CodeSheet(voter=v, code=plain, reference=ref, letter=letter)
            for ((_row, plain), v, ref), letter in zip(made, sorted(letters), strict=True)
        ],
    )


@transaction.atomic
def codes_issue(
    *,
    actor,
    election: Election,
    prepared: PreparedCodes,
    batch: str,
    district: Pot | None,
    by_reference: bool,
) -> None:
    """Record prepared codes, all or none. Under the election's row lock, which closes the race of two
    batches for the same voters: whatever got a code since the batch was chosen (another official's batch
    committed in between) refuses the whole batch, so no voter ever holds two active codes."""
    require(actor, "codes.manage", election)
    Election.objects.select_for_update().get(pk=election.pk)
    voter_ids = [row.voter_id for row in prepared.rows]
    taken = (
        VotingCode.objects.filter(voter_id__in=voter_ids, status__in=[CodeStatus.ACTIVE, CodeStatus.USED])
        .values("voter_id")
        .distinct()
        .count()
    )
    if taken:
        raise RollError(
            _(
                "Meanwhile %(n)s of these voters got a code from another batch, so none of these letters was "
                "kept. Start again: the new batch leaves them out."
            )
            % {"n": taken}
        )
    VotingCode.objects.bulk_create(prepared.rows, batch_size=2000)
    audit_record(
        actor=actor,
        action="codes.generate",
        election=election,
        data={
            "batch": batch,
            "count": len(prepared.rows),
            "district": district.slug if district else "",
            "by_reference": by_reference,
        },
    )


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
    """Make codes for age-eligible roll entries without an active or used code, at once (codes_select says
    for whom). Only HMACs are stored; the returned sheets are the only time the plaintext exists. The
    PDF letters of a batch are made by a job instead (ballots.roll.letters)."""
    require(actor, "codes.manage", election)
    # Lock the election row: two officials generating at once must not give one voter two codes.
    Election.objects.select_for_update().get(pk=election.pk)
    chosen = codes_select(election=election, district=district, references=references, limit=limit)
    batch = batch or timezone.now().strftime("%Y%m%d-%H%M%S")
    prepared = codes_prepare(election=election, chosen=chosen, batch=batch)
    codes_issue(
        actor=actor,
        election=election,
        prepared=prepared,
        batch=batch,
        district=district,
        by_reference=references is not None,
    )
    return prepared.sheets


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


def codes_mailmerge_write(
    *, actor, election: Election, sheets: list[CodeSheet], batch: str, name: str = ""
) -> MailMergeFile:
    """Write the mail-merge file of a batch of letters for `actor` to download once (within
    MAILMERGE_MAX_AGE). `name`: a job's own name for it, so a job run again replaces its earlier file
    instead of leaving a second one; otherwise a random one."""
    require(actor, "codes.manage", election)
    if name and not _MAILMERGE_NAME.fullmatch(name):
        raise ValueError("not a mail-merge file name")
    name = name or secrets.token_urlsafe(18)
    d = _mailmerge_dir(election)
    _mailmerge_sweep(d)
    created = timezone.now().replace(microsecond=0).isoformat()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(MAILMERGE_COLUMNS)
    for s in sheets:
        writer.writerow(safe_row([s.letter, s.voter.pk, s.voter.district.slug]))
    meta = {"owner": actor.pk, "batch": batch, "count": len(sheets), "created": created}
    # Each file whole or not at all (a temporary name, then a rename), the CSV before its meta: the page
    # lists a file by its meta, so it never offers half a file.
    for suffix, data in ((".csv", buf.getvalue().encode()), (".json", json.dumps(meta).encode())):
        tmp = d / f"{name}{suffix}.{secrets.token_hex(4)}.tmp"
        write_secret(tmp, data, exclusive=True)
        os.replace(tmp, d / f"{name}{suffix}")
    audit_record(
        actor=actor, action="codes.mailmerge", election=election, data={"batch": batch, "count": len(sheets)}
    )
    return MailMergeFile(name=name, batch=batch, count=len(sheets), created=created)


def codes_mailmerge_discard(*, election: Election, name: str) -> None:
    """Delete a mail-merge file (a job whose letters were not kept)."""
    if _MAILMERGE_NAME.fullmatch(name or ""):
        d = Path(settings.PB_VAR_DIR) / "code_letters" / str(election.pk)
        for suffix in (".json", ".csv"):
            (d / f"{name}{suffix}").unlink(missing_ok=True)


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
