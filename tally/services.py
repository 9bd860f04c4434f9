"""Freeze, seal, close, tally, sign off, certify, publish. Byte formats: tally.engine.manifest;
the whole chain is specified in docs/verification.md."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.tasks import TaskContext, task
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots import pending as pending_ballots
from ballots.models import (
    Ballot,
    Channel,
    PaperBatch,
    PaperBatchStatus,
    Participation,
    PendingBallot,
    RollSnapshot,
    VoterRollEntry,
)
from ballots.pending import DEFAULT_ANONYMITY_K
from ballots.reconciliation.selectors import reconciliation_manifest
from ballots.reconciliation.services import reconciliation_require_resolved
from pb.core.audit import _entry_payload, audit_record, audit_verify
from pb.core.exceptions import DomainError, PermissionDenied, PhaseError
from pb.core.models import AuditEvent, AuditHead, BallotType, Election, Phase, Pot
from pb.core.permissions import is_council, require
from pb.core.services import election_advance
from proposals.models import Proposal, ProposalStatus
from tally import publication, records
from tally.engine import ENGINE_NAME, ENGINE_VERSION, auditlog, metrics, pabulib, registry
from tally.engine import manifest as mf
from tally.engine.canonical import canonical_hash, canonical_json, sha256_hex
from tally.engine.ties import TieBreak
from tally.models import (
    BallotLog,
    Certification,
    CloseRequest,
    DefinitionFreeze,
    ExportFile,
    ExportKind,
    LogBatch,
    RunStatus,
    SignOff,
    TallyRun,
)

# The anonymity set K (ballots.pending; settings.PB_ANONYMITY_K, frozen into the definition): no batch holds
# fewer than K ballots, every batch holds ballots of one pot. SEAL_BATCH_MIN is the default K.
SEAL_BATCH_MIN = DEFAULT_ANONYMITY_K
# While voting is open a pot is sealed once K + max(K, SEAL_AFTER_CAST) ballots are pending, taking all but
# K of them: batches of at least SEAL_AFTER_CAST (cheaper per ballot on election day, and a bigger crowd to
# hide in), and K always kept back so the last batch is never small.
SEAL_AFTER_CAST = 50


class DefinitionFrozen(PhaseError):
    pass


class CountMismatch(DomainError):
    status_code = 409


def signoff_quorum() -> int:
    return int(getattr(settings, "PB_SIGNOFF_QUORUM", 2))


# ------------------------------------------------------------------------------------------------ freeze


def _roll(election: Election) -> dict[str, Any] | None:
    snap = RollSnapshot.objects.filter(election=election).first()
    if snap is not None:
        return {"entries": snap.entries, "sha256": snap.sha256}
    # The roll helper's hook takes the snapshot when voting opens; should it not have run (yet), record our
    # own hash of the roll (sorted keyed reference hashes, one per line) so the freeze never lacks one.
    refs = sorted(VoterRollEntry.objects.filter(election=election).values_list("ref_hash", flat=True))
    if not refs:
        return None
    return {"entries": len(refs), "sha256": sha256_hex("".join(r + "\n" for r in refs).encode())}


def definition_build(election: Election) -> dict[str, Any]:
    """The definition as it stands in the database now (what the freeze records)."""
    pots = []
    for pot in Pot.objects.filter(election=election).order_by("slug"):
        projects = Proposal.objects.filter(pot=pot, status=ProposalStatus.FEASIBLE).select_related("category")
        pots.append(
            {
                "slug": pot.slug,
                "name": pot.name,
                "budget": pot.budget,
                "citywide": pot.is_citywide,
                "ballot_type": pot.ballot_type,
                "ballot_rules": {
                    "min_selections": pot.min_selections,
                    "max_selections": pot.max_selections,
                    "points_total": pot.points_total,
                    "points_max_per_project": pot.points_max_per_project,
                    "min_spend_percent": pot.min_spend_percent,
                },
                "projects": [
                    {
                        "id": p.code,
                        "name": p.title,
                        "cost": p.final_cost,
                        "category": p.category.slug if p.category else "",
                    }
                    for p in sorted(projects, key=lambda p: p.code)
                ],
            }
        )
    return {
        "format": "pb-definition/1",
        "election": {
            "slug": election.slug,
            "name": election.name,
            "city": election.city,
            "currency": election.currency,
        },
        "eligibility": {
            "min_age": election.min_age,
            "age_reference_date": election.age_reference_date.isoformat()
            if election.age_reference_date
            else None,
        },
        "counting": {
            "rule": election.rule,
            "tie_break": election.tie_break,
            "seed": election.tie_break_seed,
            "options": {},
        },
        "pots": pots,
        "roll": _roll(election),
        # docs/secrecy.md: no published or stored ballot can be narrowed to fewer than K voters.
        "secrecy": {"anonymity_k": pending_ballots.anonymity_k_setting()},
    }


def definition_freeze(*, election: Election) -> DefinitionFreeze:
    """Called inside the phase change to voting_open (PHASE_HOOKS). Idempotent."""
    existing = DefinitionFreeze.objects.filter(election=election).first()
    if existing is not None:
        return existing
    definition = definition_build(election)
    if not any(p["projects"] for p in definition["pots"]):
        raise PhaseError(_("There is no feasible project on the ballot: voting cannot open."))
    registry.get(definition["counting"]["rule"])  # an unknown rule must stop the vote from opening
    data = canonical_json(definition)
    freeze = DefinitionFreeze.objects.create(
        election=election,
        canonical=data.decode(),
        sha256=sha256_hex(data),
        frozen_at=timezone.now().replace(microsecond=0),
    )
    BallotLog.objects.create(election=election, head=freeze.sha256)
    audit_record(
        actor=None,
        action="tally.definition_frozen",
        election=election,
        obj=freeze,
        data={"sha256": freeze.sha256},
    )
    return freeze


def definition_is_frozen(election: Election) -> bool:
    return DefinitionFreeze.objects.filter(election_id=election.pk).exists()


def definition_assert_editable(election: Election) -> None:
    """Guard for services that edit pots, projects, costs or election rules: refuse once frozen."""
    if definition_is_frozen(election):
        raise DefinitionFrozen(
            _("The election definition was frozen when voting opened; it can no longer be changed.")
        )


def frozen_definition(election: Election) -> tuple[dict[str, Any], str]:
    freeze = DefinitionFreeze.objects.filter(election=election).first()
    if freeze is None:
        raise PhaseError(_("This election has no frozen definition (voting never opened)."))
    return json.loads(freeze.canonical), freeze.sha256


def definition_changed(election: Election) -> bool:
    """True if the database no longer matches the frozen definition (only the roll may be added later)."""
    frozen, _sha = frozen_definition(election)
    now = definition_build(election)
    now["roll"] = frozen["roll"]
    # K is the server's setting at the freeze, not part of what officials edit (and absent from definitions
    # frozen before it existed).
    if "secrecy" in frozen:
        now["secrecy"] = frozen["secrecy"]
    else:
        now.pop("secrecy", None)
    return canonical_json(now) != canonical_json(frozen)


# ------------------------------------------------------------------------------------------------ ballot log


def _line(slug: str, ballot_type: str, projects: list, points: dict) -> bytes:
    if ballot_type == BallotType.POINTS:
        projects = list(projects) or sorted(points)
        return mf.ballot_line(slug, projects, [int(points.get(p, 0)) for p in projects])
    return mf.ballot_line(slug, projects)


def ballot_record_of(ballot: Ballot, pot_slug: str, ballot_type: str) -> dict[str, Any]:
    return json.loads(_line(pot_slug, ballot_type, ballot.projects, ballot.points))


_ROW = ("pk", "pot__slug", "pot__ballot_type", "projects", "points", "receipt_hash")


def _rows(qs):
    """(pk, pot slug, canonical ballot line, receipt hash) per ballot; plain values, no model instances."""
    for pk, slug, btype, projects, points, receipt in qs.values_list(*_ROW).iterator(5000):
        yield pk, slug, _line(slug, btype, projects, points or {}), receipt


PotRows = dict[str, list[tuple[bytes, list, list | None]]]


def _pot_lines(ballots) -> PotRows:
    """Per pot slug: (canonical ballot line, projects, points) of an election's ballots (an Election or a
    Ballot queryset)."""
    if isinstance(ballots, Election):
        ballots = Ballot.objects.filter(election=ballots)
    out: PotRows = {}
    if ballots.filter(pot__ballot_type=BallotType.POINTS).exists():
        qs = ballots.values_list("pot__slug", "pot__ballot_type", "projects", "points")
        for slug, btype, projects, points in qs.iterator(5000):
            line = _line(slug, btype, projects, points or {})
            rec = json.loads(line)
            out.setdefault(slug, []).append((line, rec["projects"], rec.get("points")))
        return out
    # No points ballots: leave the points column undecoded (a JSON parse per ballot saved).
    for slug, projects in ballots.values_list("pot__slug", "projects").iterator(5000):
        projects = [str(p) for p in projects]
        out.setdefault(slug, []).append((mf.ballot_line(slug, projects), projects, None))
    return out


def secrecy_summary(
    definition: dict[str, Any], summary: dict[str, Any], election: Election | None = None
) -> dict[str, Any]:
    """K, and the pots whose secrecy is weaker: fewer than K ballots in all (sealed as one batch), or, given
    the election, any batch of the pot under K (a cast that slipped in after the close's seal). Flagged with
    the results (results page, PDF, manifest)."""
    k = pending_ballots.anonymity_k(definition)
    weak = {slug for slug, s in (summary or {}).items() if 0 < int(s.get("ballots", 0)) < k}
    if election is not None:
        sizes = (
            Ballot.objects.filter(election=election)
            .values_list("pot__slug", "sealed_batch")
            .annotate(n=Count("id"))
            .order_by()
        )
        weak |= {slug for slug, _seq, n in sizes if n < k}
    return {"anonymity_k": k, "pots_under_k": sorted(weak)}


def _paper_expected(election_id: int) -> set[int]:
    """Pots where paper voters were marked on the roll for more paper ballots than accepted batches hold:
    paper ballots still to be entered (after the close) will join the pot's last batch."""
    marked = Counter(
        dict(
            Participation.objects.filter(election_id=election_id, channel=Channel.PAPER)
            .values_list("pot_id")
            .annotate(n=Count("id"))
            .order_by()
        )
    )
    entered = Counter(
        dict(
            PaperBatch.objects.filter(election_id=election_id, status=PaperBatchStatus.ACCEPTED)
            .values_list("pot_id")
            .annotate(n=Sum("lines_total"))
            .order_by()
        )
    )
    return {pot_id for pot_id, n in marked.items() if n > entered.get(pot_id, 0)}


def _seal_count(pending: int, k: int, *, final: bool, hold: bool) -> int:
    """How many of a pot's `pending` ballots to seal now. While voting is open: all but K once
    K + max(K, SEAL_AFTER_CAST) are pending (so K always wait for the next batch and the last batch is never
    under K). At closing: all, except that K wait for paper ballots still to come (`hold`), or all wait when
    fewer than 2K are pending. At the official count (`final`, no hold): all."""
    if not final:
        return pending - k if pending >= pending_ballots.seal_threshold(k, SEAL_AFTER_CAST) else 0
    if hold:
        return pending - k if pending >= 2 * k else 0
    return pending


def _vacuum_pending() -> None:
    """Remove the dead versions of deleted pending rows (their transaction id is the cast's, shared with the
    participation). Runs after the seal's commit, outside any transaction; another VACUUM at work on the
    table is skipped, not waited for (the next seal's run removes what this one could not)."""
    from django.db import connection

    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cur:
        cur.execute(f"VACUUM (SKIP_LOCKED) {connection.ops.quote_name(PendingBallot._meta.db_table)}")


def _seal_pot(log: BallotLog, slug: str, election_id: int, pot_id: int, rows: list, take: int) -> LogBatch:
    """One batch: `take` of the pot's pending `rows` (id, ciphertext), chosen at random, decrypted, written
    to Ballot in a shuffled order with their batch number (no later UPDATE), their pending rows deleted."""
    rnd = secrets.SystemRandom()
    chosen = rnd.sample(rows, take)  # a random sample, in random order: neither cast order nor ids survive
    pot = Pot.objects.only("slug", "ballot_type").get(pk=pot_id)
    opened = [
        pending_ballots.decrypt(election_id=election_id, pot_id=pot_id, content=content)
        for _id, content in chosen
    ]
    seq = log.seq + 1
    ballots = [
        Ballot(
            id=uuid.uuid4(),
            election_id=election_id,
            pot_id=pot_id,
            projects=b.projects,
            points=b.points,
            is_paper=b.is_paper,
            receipt_hash=b.receipt_hash,
            sealed_batch=seq,
        )
        for b in opened
    ]
    lines = [_line(pot.slug, pot.ballot_type, b.projects, b.points or {}) for b in ballots]
    batch = mf.log_batch(
        election=slug,
        seq=seq,
        prev=log.head,
        ballots=[sha256_hex(line) for line in lines],
        receipts=[b.receipt_hash for b in ballots],
    )
    row = LogBatch.objects.create(
        election_id=election_id,
        seq=seq,
        prev_hash=batch["prev"],
        hash=batch["hash"],
        ballot_hashes=batch["ballots"],
        receipts=batch["receipts"],
    )
    from django.db import IntegrityError, connection

    try:
        with transaction.atomic():
            # In the shuffled order: the rows' physical order is random too.
            Ballot.objects.bulk_create(ballots, batch_size=1000)
    except IntegrityError:
        raise CountMismatch(
            _("Two pending ballots carry the same receipt: the pending table was tampered with.")
        ) from None
    if connection.vendor == "sqlite":
        # SQLite keeps deleted rows' bytes in free pages unless told to overwrite them.
        with connection.cursor() as cur:
            cur.execute("PRAGMA secure_delete = ON")
    PendingBallot.objects.filter(pk__in=[pk for pk, _c in chosen]).delete()
    log.seq, log.head, log.ballots = seq, batch["hash"], log.ballots + len(ballots)
    return row


@transaction.atomic
def ballots_seal_pending(
    *, election_id: int, pot_id: int | None = None, final: bool = False, hold_for_paper: bool = False
) -> list[LogBatch]:
    """Seal pending ballots into the hash chain, one batch per pot, in this transaction of its own (the
    casting code calls it after its commit). A batch never holds fewer than K ballots (the frozen
    anonymity set), except the single batch of a pot that had fewer than K in all (flagged in the results
    and the manifest). How many are taken: `_seal_count`. `final`: at closing (`hold_for_paper`, keeping K
    back for paper ballots still to be entered) and at the official count (everything). `pot_id`: only that
    pot. After the commit the pending table is vacuumed: no dead row version of a pending ballot (whose
    transaction id is its participation's) survives."""
    # Lock the log head: two sealers at once would both chain onto the same head (a fork). After a cast
    # (not final), a head another request is sealing right now is skipped, not waited for: that sealer takes
    # the pending ballots, and queueing every cast's commit hook behind it would only add latency.
    log = BallotLog.objects.select_for_update(skip_locked=not final).filter(election_id=election_id).first()
    if log is None:
        return []
    pending = PendingBallot.objects.filter(election_id=election_id)
    if pot_id is not None:
        pending = pending.filter(pot_id=pot_id)
    counts = dict(pending.values_list("pot_id").annotate(n=Count("id")).order_by())
    if not counts:
        return []
    election = Election.objects.only("slug").get(pk=election_id)
    frozen = DefinitionFreeze.objects.filter(election_id=election_id).values_list("canonical", flat=True)
    k = pending_ballots.anonymity_k(json.loads(frozen.first() or "{}"))
    hold = _paper_expected(election_id) if final and hold_for_paper else set()
    batches = []
    for pot in sorted(counts):  # pot order, not count order: batch numbers reveal no sizes
        take = _seal_count(counts[pot], k, final=final, hold=pot in hold)
        if take <= 0:
            continue
        rows = list(pending.filter(pot_id=pot).values_list("id", "content"))
        batches.append(_seal_pot(log, election.slug, election_id, pot, rows, min(take, len(rows))))
    if batches:
        log.save(update_fields=["seq", "head", "ballots"])
        transaction.on_commit(_vacuum_pending, robust=True)
    return batches


def _batch_dict(b: LogBatch, slug: str) -> dict[str, Any]:
    return {
        "election": slug,
        "seq": b.seq,
        "prev": b.prev_hash,
        "ballots": b.ballot_hashes,
        "receipts": b.receipts,
        "hash": b.hash,
    }


def log_problems(election: Election, lines: PotRows | None = None) -> list[str]:
    """Recompute the chain from the stored batches and compare the sealed ballot hashes with the ballot table:
    a ballot row changed, added or removed after sealing shows up here."""
    _definition, sha = frozen_definition(election)
    problems, prev, logged = [], sha, Counter()
    for b in LogBatch.objects.filter(election=election).order_by("seq"):
        d = _batch_dict(b, election.slug)
        if b.prev_hash != prev:
            problems.append(_("batch %(n)s: previous-hash link broken") % {"n": b.seq})
        body = {k: d[k] for k in ("election", "seq", "prev", "ballots", "receipts")}
        if sha256_hex(mf.canonical_fast(body)) != b.hash:
            problems.append(_("batch %(n)s: content does not match its hash") % {"n": b.seq})
        logged.update(b.ballot_hashes)
        prev = b.hash
    log = BallotLog.objects.get(election=election)
    if log.head != prev:
        problems.append(_("the log head does not match the last batch"))
    if lines is None or Ballot.objects.filter(election=election, sealed_batch__isnull=True).exists():
        sealed = Ballot.objects.filter(election=election, sealed_batch__isnull=False)
        in_table = Counter(sha256_hex(row[0]) for rows in _pot_lines(sealed).values() for row in rows)
    else:
        in_table = Counter(sha256_hex(row[0]) for rows in lines.values() for row in rows)
    if in_table != logged:
        problems.append(
            _(
                "the ballot table no longer matches the sealed log: %(a)s sealed ballots missing or changed, "
                "%(b)s ballots not as sealed"
            )
            % {"a": sum((logged - in_table).values()), "b": sum((in_table - logged).values())}
        )
    return problems


# ------------------------------------------------------------------------------------------------ close


@transaction.atomic
def close_request(*, actor, election: Election) -> CloseRequest:
    require(actor, "tally.close", election)
    # Row lock: two officials asking at the same moment must not create two open requests.
    election = Election.objects.select_for_update().get(pk=election.pk)
    open_req = CloseRequest.objects.filter(election=election, confirmed_by=None, cancelled=False).first()
    if open_req is not None:
        if open_req.requested_by_id == actor.pk:
            raise DomainError(_("You already asked to close the vote; another official must confirm."))
        raise DomainError(_("Closing was already requested: confirm it instead."))
    req = CloseRequest.objects.create(election=election, requested_by=actor, requested_at=timezone.now())
    audit_record(actor=actor, action="tally.close_requested", election=election, obj=req)
    return req


@transaction.atomic
def close_confirm(*, actor, election: Election) -> Election:
    require(actor, "tally.close", election)
    election = Election.objects.select_for_update().get(pk=election.pk)
    req = CloseRequest.objects.filter(election=election, confirmed_by=None, cancelled=False).first()
    if req is None:
        raise DomainError(_("Nobody has asked to close the vote yet."))
    if req.requested_by_id == actor.pk:
        raise DomainError(_("A second, different official must confirm closing the vote."))
    req.confirmed_by, req.confirmed_at = actor, timezone.now()
    req.save(update_fields=["confirmed_by", "confirmed_at"])
    audit_record(actor=actor, action="tally.close_confirmed", election=election, obj=req)
    return election_advance(actor=actor, election=election, to_phase=Phase.VOTING_CLOSED)


@transaction.atomic
def close_cancel(*, actor, election: Election) -> None:
    require(actor, "tally.close", election)
    n = CloseRequest.objects.filter(election=election, confirmed_by=None, cancelled=False).update(
        cancelled=True
    )
    if n:
        audit_record(actor=actor, action="tally.close_cancelled", election=election)


# ------------------------------------------------------------------------------------------------ files


def election_dir(election: Election) -> Path:
    return Path(settings.PB_VAR_DIR) / "elections" / election.slug


def build_files(
    election: Election, *, audit_seq: int | None = None, lines: PotRows | None = None
) -> dict[str, bytes]:
    """The published files, built from the database: ballots per pot (.jsonl and .pb), log, receipts and,
    given `audit_seq`, the audit log up to that entry."""
    definition, _sha = frozen_definition(election)
    lines = lines if lines is not None else _pot_lines(election)
    files: dict[str, bytes] = {}
    for pot_def in definition["pots"]:
        slug = pot_def["slug"]
        rows = sorted(lines.get(slug, []), key=lambda row: row[0])  # content order: the canonical line bytes
        pot_lines = [row[0] for row in rows]
        files[mf.jsonl_file(slug)] = mf.jsonl_bytes(pot_lines)
        pb = mf.pabulib_election(definition, pot_def, pot_lines, [(row[1], row[2]) for row in rows])
        files[mf.pb_file(slug)] = pabulib.write(pb).encode()
    batches = list(LogBatch.objects.filter(election=election).order_by("seq"))
    files[mf.LOG_FILE] = mf.jsonl_bytes([mf.canonical_fast(_batch_dict(b, election.slug)) for b in batches])
    receipts = sorted(r for b in batches for r in b.receipts)
    files[mf.RECEIPTS_FILE] = "".join(r + "\n" for r in receipts).encode()
    if audit_seq is not None:
        files[mf.AUDIT_FILE] = audit_file(audit_seq)
    return files


def audit_file(upto_seq: int) -> bytes:
    entries = AuditEvent.objects.filter(seq__lte=upto_seq).order_by("seq").iterator(2000)
    return mf.jsonl_bytes([canonical_json({"hash": e.hash, "payload": _entry_payload(e)}) for e in entries])


_KIND = {".pb": ExportKind.PABULIB, ".jsonl": ExportKind.JSONL, ".pdf": ExportKind.PDF}


def _kind(name: str) -> str:
    if name == mf.LOG_FILE:
        return ExportKind.LOG
    if name == mf.AUDIT_FILE:
        return ExportKind.AUDIT
    if name == mf.RECEIPTS_FILE:
        return ExportKind.RECEIPTS
    if name in (auditlog.PUBLICATION_FILE, auditlog.PUBLICATION_SIG):
        return ExportKind.PUBLICATION
    return _KIND[Path(name).suffix]


def _store(election: Election, files: dict[str, bytes], *, staging: Path | None = None) -> dict[str, str]:
    """Write files read-only under the election's directory and record their hashes. With `staging` (a
    folder from `_staging_open`), the files are written there now and moved into place only when the
    transaction commits (`_staging_publish_on_commit`): a rolled-back request changes nothing on disk."""
    folder = election_dir(election)
    folder.mkdir(parents=True, exist_ok=True)
    pots = {p.slug: p for p in Pot.objects.filter(election=election)}
    hashes = {}
    now = timezone.now()
    for name, data in files.items():
        path = folder / name
        tmp = (staging / name) if staging is not None else folder / f".{name}.{secrets.token_hex(4)}"
        tmp.write_bytes(data)
        os.chmod(tmp, 0o444)
        if staging is None:
            os.replace(tmp, path)
        digest = sha256_hex(data)
        hashes[name] = digest
        slug = name.removeprefix("ballots-").rsplit(".", 1)[0] if name.startswith("ballots-") else None
        ExportFile.objects.update_or_create(
            election=election,
            name=name,
            defaults={
                "pot": pots.get(slug) if slug else None,
                "kind": _kind(name),
                "sha256": digest,
                "size": len(data),
                "created_at": now,
            },
        )
    return hashes


def _staging_open(election: Election) -> Path:
    """A fresh hidden folder next to the published files (same file system, so the final move is an atomic
    rename)."""
    folder = election_dir(election)
    folder.mkdir(parents=True, exist_ok=True)
    # Callers hold the election row lock, so any staging folder still here is what a transaction rolled back
    # after its service returned (Django has no on-rollback hook) left behind.
    for old in folder.glob(".staging-*"):
        _staging_discard(old)
    staging = folder / f".staging-{secrets.token_hex(8)}"
    staging.mkdir()
    return staging


def _staging_discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def _staging_publish_on_commit(election: Election, staging: Path) -> None:
    """Move every staged file into place once the transaction has committed (never before: a losing or
    failing request must leave the published folder as it was)."""
    folder = election_dir(election)

    def publish() -> None:
        for path in sorted(staging.iterdir()):
            os.replace(path, folder / path.name)
        staging.rmdir()

    # robust: the database has committed; a failed move is logged (the staged copy stays for the operator)
    # and shows up as a file that no longer matches its hash (stored_file, certification_check).
    transaction.on_commit(publish, robust=True)


def stored_file(election: Election, name: str) -> bytes:
    """A stored file's bytes, checked against its recorded hash."""
    rec = ExportFile.objects.filter(election=election, name=name).first()
    if rec is None:
        raise DomainError(_("No such file."))
    data = (election_dir(election) / name).read_bytes()
    if sha256_hex(data) != rec.sha256:
        raise CountMismatch(
            _("The stored file %(name)s no longer matches its recorded hash.") % {"name": name}
        )
    return data


# ------------------------------------------------------------------------------------------------ tally


def count_pot(definition: dict, pb_bytes: bytes, *, rule: str | None = None, with_metrics: bool = False):
    """(outcome JSON, ballots[, metrics]) of one pot's .pb file, counted with the frozen tie-break."""
    counting = definition["counting"]
    election = pabulib.read(pb_bytes)
    tb = TieBreak.parse(counting["tie_break"], list(election.instance.projects), counting["seed"] or None)
    outcome = registry.run(
        rule or counting["rule"], election, tie_break=tb, options=counting.get("options") or {}
    )
    if with_metrics:
        return outcome.to_json(), len(election.profile.ballots), metrics.compute(election, outcome)
    return outcome.to_json(), len(election.profile.ballots)


@transaction.atomic
def tally_start(*, actor, election: Election, rule: str | None = None) -> TallyRun:
    """Start the official run (no `rule`: the frozen rule) or a "what if" run with another rule."""
    require(actor, "tally.run", election)
    election = Election.objects.select_for_update().get(pk=election.pk)
    definition, _sha = frozen_definition(election)
    counting = definition["counting"]
    official = rule is None or (rule == counting["rule"] and election.phase == Phase.VOTING_CLOSED)
    if official and election.phase != Phase.VOTING_CLOSED:
        raise PhaseError(_("The official count has already been done."))
    if not official and not TallyRun.objects.filter(election=election, official=True, status=RunStatus.DONE):
        raise PhaseError(_("Run the official count first; “what if” runs use its exported files."))
    if official:
        reconciliation_require_resolved(election)
    if TallyRun.objects.filter(election=election, status__in=[RunStatus.PENDING, RunStatus.RUNNING]).exists():
        raise DomainError(_("A count is already running."))
    try:
        registry.get(rule or counting["rule"])
    except registry.UnknownRule as exc:
        raise DomainError(str(exc)) from None
    run = TallyRun.objects.create(
        election=election,
        official=official,
        rule=rule or counting["rule"],
        tie_break=counting["tie_break"],
        seed=counting["seed"],
        options=counting.get("options") or {},
        started_by=actor,
        created_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="tally.run_started",
        election=election,
        obj=run,
        data={"rule": run.rule, "official": official},
    )
    transaction.on_commit(lambda: tally_run_task.enqueue(run_id=run.pk))
    return run


@task(queue_name="default", takes_context=True)
def tally_run_task(context: TaskContext, run_id: int) -> None:
    if context.attempt > 1:
        # The worker that claimed the run died (pb.worker.lease queued this task again): take the run back.
        # Only a later attempt does, so a run is never counted by two live workers; the final write (DONE and
        # the phase change) is one transaction, and files already exported are exported again from the same
        # sealed log (the count reads the files as written).
        TallyRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(status=RunStatus.PENDING)
    tally_run_execute(run_id=run_id)


def _progress(run: TallyRun, text: str) -> None:
    TallyRun.objects.filter(pk=run.pk).update(progress=text)


def ballots_noun(ballot_type: str) -> str:
    """A pot's ballots by their type, as a sentence names them ("ranked ballots")."""
    return {
        BallotType.RANKED: _("ranked ballots"),
        BallotType.POINTS: _("points ballots"),
        BallotType.APPROVAL: _("approval ballots"),
        BallotType.KNAPSACK: _("knapsack ballots"),
    }.get(ballot_type, ballot_type)


def whatif_skip_reason(rule: str, pot_def: dict[str, Any]) -> str | None:
    """Why `rule` cannot count this pot (its registry entry does not list the pot's vote type), or None."""
    if mf.VOTE_TYPE[pot_def["ballot_type"]] in registry.get(rule).vote_types:
        return None
    return _("%(rule)s cannot count %(ballots)s: %(pot)s not counted") % {
        "rule": rule,
        "ballots": ballots_noun(pot_def["ballot_type"]),
        "pot": pot_def["name"],
    }


def tally_run_execute(*, run_id: int) -> TallyRun:
    """Count. The official run first seals the last batch and exports the files, then counts from the files
    as written (exactly what officials and the public re-count)."""
    run = TallyRun.objects.select_related("election", "started_by").get(pk=run_id)
    election = run.election
    # Claim the run: a task delivered twice (or a manual re-run) must not count again.
    if not TallyRun.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, progress=_("Preparing")
    ):
        return run
    try:
        definition, _sha = frozen_definition(election)
        if run.official:
            _progress(run, _("Sealing the last batch and exporting the ballot files"))
            with transaction.atomic():
                ballots_seal_pending(election_id=election.pk, final=True)
                lines = _pot_lines(election)
                problems = log_problems(election, lines)
                if problems:
                    raise CountMismatch("; ".join(problems))
                hashes = _store(election, build_files(election, lines=lines))
        else:
            hashes = {
                f.name: f.sha256
                for f in ExportFile.objects.filter(election=election)
                if f.kind in (ExportKind.PABULIB, ExportKind.JSONL, ExportKind.LOG, ExportKind.RECEIPTS)
            }
        results, summary, mets = {}, {}, {}
        pots = definition["pots"]
        for k, pot_def in enumerate(pots, start=1):
            slug = pot_def["slug"]
            _progress(
                run, _("Counting %(pot)s (%(k)s of %(n)s)") % {"pot": pot_def["name"], "k": k, "n": len(pots)}
            )
            skipped = None if run.official else whatif_skip_reason(run.rule, pot_def)
            if skipped:
                # A "what if" rule that cannot count this pot's ballots says so for this pot and counts the
                # others; the official count never gets here (its rule counts every pot, or it fails loudly).
                results[slug], summary[slug] = {"skipped": skipped}, {"skipped": skipped}
                continue
            data = stored_file(election, mf.pb_file(slug))
            out, n, met = count_pot(definition, data, rule=run.rule, with_metrics=True)
            results[slug], summary[slug], mets[slug] = out, mf.pot_result(out, n), met
        with transaction.atomic():
            run.results, run.summary, run.metrics, run.input_hashes = results, summary, mets, hashes
            run.engine_name, run.engine_version = ENGINE_NAME, ENGINE_VERSION
            run.status, run.progress, run.finished_at = RunStatus.DONE, "", timezone.now()
            run.save()
            audit_record(
                actor=run.started_by,
                action="tally.run_done",
                election=election,
                obj=run,
                data={"rule": run.rule, "official": run.official, "summary_sha256": canonical_hash(summary)},
            )
            if run.official:
                election_advance(actor=run.started_by, election=election, to_phase=Phase.TALLIED)
    except Exception as exc:
        TallyRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED,
            error=f"{type(exc).__name__}: {getattr(exc, 'message', exc)}",
            finished_at=timezone.now(),
        )
        if not isinstance(exc, DomainError | ValueError):
            raise
    run.refresh_from_db()
    return run


def official_run(election: Election) -> TallyRun | None:
    return TallyRun.objects.filter(election=election, official=True, status=RunStatus.DONE).first()


# ------------------------------------------------------------------------------------------------ sign-off


class AlreadySignedOff(DomainError):
    status_code = 409


# A withdrawal reason is public in the audit log: long enough to explain, short enough to read.
WITHDRAW_REASON_MAX = 1000


def _recount(election: Election) -> dict[str, Any]:
    definition, _sha = frozen_definition(election)
    summary = {}
    for pot_def in definition["pots"]:
        data = stored_file(election, mf.pb_file(pot_def["slug"]))
        summary[pot_def["slug"]] = mf.pot_result(*count_pot(definition, data))
    return summary


def summary_differences(official: dict[str, Any], other: dict[str, Any]) -> list[dict[str, Any]]:
    """Pot by pot, where a re-count differs from the official count: the projects only the official count
    funds, those only the re-count funds, both total costs, and whether the funding order differs."""
    diffs = []
    for slug in sorted(set(official) | set(other)):
        want, got = official.get(slug) or {}, other.get(slug) or {}
        w_sel, g_sel = [str(p) for p in want.get("selected", [])], [str(p) for p in got.get("selected", [])]
        w_cost, g_cost = want.get("total_cost"), got.get("total_cost")
        if w_sel == g_sel and w_cost == g_cost:
            continue
        diffs.append(
            {
                "pot": slug,
                "missing": [p for p in w_sel if p not in g_sel],  # funded officially, not in the re-count
                "extra": [p for p in g_sel if p not in w_sel],  # funded in the re-count only
                "order": set(w_sel) == set(g_sel) and w_sel != g_sel,
                "official_cost": w_cost,
                "recount_cost": g_cost,
            }
        )
    return diffs


def _differences_text(diffs: list[dict[str, Any]], names: dict[str, str]) -> str:
    parts = []
    for d in diffs:
        bits = []
        if d["missing"]:
            bits.append(_("funded by the official count only: %(p)s") % {"p": ", ".join(d["missing"])})
        if d["extra"]:
            bits.append(_("funded by this re-count only: %(p)s") % {"p": ", ".join(d["extra"])})
        if d["order"]:
            bits.append(_("the same projects in another order"))
        if d["official_cost"] != d["recount_cost"]:
            bits.append(
                _("total cost %(a)s (official) vs %(b)s (re-count)")
                % {"a": d["official_cost"], "b": d["recount_cost"]}
            )
        parts.append(f"{names.get(d['pot'], d['pot'])}: {'; '.join(bits)}")
    return " · ".join(parts)


def _signoff_locked(actor, election: Election) -> tuple[Election, TallyRun]:
    """Permission gate, then the election row lock (sign-offs, withdrawals and certification queue on it, so
    a withdrawal cannot slip in while the council certifies), then the phase again on the locked row."""
    require(actor, "tally.signoff", election)
    election = Election.objects.select_for_update().get(pk=election.pk)
    require(actor, "tally.signoff", election)
    run = official_run(election)
    if run is None:
        raise PhaseError(_("There is no official count to sign off."))
    return election, run


def _refuse_second_signoff(actor, run: TallyRun) -> None:
    standing = SignOff.objects.filter(run=run, official=actor, withdrawn_at__isnull=True).first()
    if standing is not None:
        raise AlreadySignedOff(
            _(
                "You already signed off this count (%(when)s). One sign-off per official: withdraw it first "
                "if you want to sign off again."
            )
            % {"when": timezone.localtime(standing.created_at).strftime("%Y-%m-%d %H:%M")}
        )


def _signoff(actor, election, run, method, summary) -> SignOff:
    _refuse_second_signoff(actor, run)
    diffs = summary_differences(
        {k: {"selected": v["selected"], "total_cost": v["total_cost"]} for k, v in run.summary.items()},
        summary,
    )
    names = dict(Pot.objects.filter(election=election).values_list("slug", "name"))
    matched = not diffs
    s = SignOff(
        election=election,
        run=run,
        official=actor,
        method=method,
        matched=matched,
        summary=summary,
        detail=_differences_text(diffs, names),
        created_at=timezone.now(),
    )
    try:
        with transaction.atomic():  # the unique constraint is the last word if the check above raced
            s.save()
    except IntegrityError:
        raise AlreadySignedOff(_("You already signed off this count.")) from None
    audit_record(
        actor=actor,
        action="tally.signoff",
        election=election,
        obj=s,
        data={"method": method, "matched": matched, "differs_in": [d["pot"] for d in diffs]},
    )
    return s


@transaction.atomic
def signoff_recount(*, actor, election: Election) -> SignOff:
    """An official re-counts from the exported files on the server and signs off if the result matches."""
    election, run = _signoff_locked(actor, election)
    _refuse_second_signoff(actor, run)  # before a count that would be thrown away
    return _signoff(actor, election, run, SignOff.Method.SERVER, _recount(election))


# An offline result is a few kilobytes per pot; anything far bigger is not one.
SIGNOFF_UPLOAD_MAX_BYTES = 5 * 1024 * 1024


def signoff_parse_upload(data: bytes, pots: list[str]) -> dict[str, dict[str, Any]]:
    """The uploaded offline result, checked for shape: {"<pot slug>": <python -m tally run --json output>}
    (a bare outcome is accepted when the election has one pot). Raises DomainError saying what is wrong."""
    if len(data) > SIGNOFF_UPLOAD_MAX_BYTES:
        raise DomainError(_("The file is too large to be the result of an offline count."))
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[..." nested too deep
        raise DomainError(_("The file is not JSON.")) from None
    if isinstance(doc, dict) and "selected" in doc and len(pots) == 1:
        doc = {pots[0]: doc}
    if not isinstance(doc, dict):
        raise DomainError(
            _("Expected one JSON object with one result per pot: %(pots)s.") % {"pots": ", ".join(pots)}
        )
    missing, unknown = sorted(set(pots) - set(doc)), sorted(set(doc) - set(pots))
    if missing or unknown:
        msg = _("Expected one result per pot: %(pots)s.") % {"pots": ", ".join(pots)}
        if missing:
            msg += " " + _("Missing: %(p)s.") % {"p": ", ".join(missing)}
        if unknown:
            msg += " " + _("Not a pot of this election: %(p)s.") % {
                "p": ", ".join(str(u)[:40] for u in unknown[:10])
            }
        raise DomainError(msg)
    summary = {}
    for slug in pots:
        out = doc[slug]
        selected = out.get("selected") if isinstance(out, dict) else None
        cost = out.get("total_cost") if isinstance(out, dict) else None
        if not isinstance(selected, list) or not all(isinstance(p, str | int) for p in selected):
            raise DomainError(
                _('The result for %(pot)s has no list of selected projects (the "selected" key).')
                % {"pot": slug}
            )
        if not isinstance(cost, int) or isinstance(cost, bool):
            raise DomainError(
                _('The result for %(pot)s has no total cost (the "total_cost" key, a whole number).')
                % {"pot": slug}
            )
        summary[slug] = {"selected": [str(p) for p in selected], "total_cost": cost}
    return summary


@transaction.atomic
def signoff_upload(*, actor, election: Election, data: bytes) -> SignOff:
    """Sign off with the JSON of an offline count: {"<pot slug>": <python -m tally run --json output>, ...}
    (a single outcome is accepted when the election has one pot), compared pot by pot."""
    election, run = _signoff_locked(actor, election)
    summary = signoff_parse_upload(data, sorted(run.summary))
    return _signoff(actor, election, run, SignOff.Method.UPLOAD, summary)


@transaction.atomic
def signoff_withdraw(*, actor, election: Election, signoff_id: int, reason: str) -> SignOff:
    """The official who gave a sign-off withdraws it, saying why: it no longer counts nor blocks, the row and
    the reason stay (audited), and they may sign off again."""
    election, run = _signoff_locked(actor, election)
    reason = " ".join((reason or "").split())
    s = SignOff.objects.filter(pk=signoff_id, election=election, run=run).first()
    if s is None:
        raise DomainError(_("There is no such sign-off of the current count."))
    if s.official_id != actor.pk:
        raise PermissionDenied(_("Only the official who gave a sign-off can withdraw it."))
    if s.withdrawn_at is not None:
        raise DomainError(_("This sign-off was already withdrawn."))
    if not reason:
        raise DomainError(_("Say why you withdraw your sign-off: the reason is kept in the audit log."))
    if len(reason) > WITHDRAW_REASON_MAX:
        raise DomainError(_("Keep the reason under %(n)s characters.") % {"n": WITHDRAW_REASON_MAX})
    s.withdrawn_at, s.withdrawn_reason = timezone.now(), reason
    s.save(update_fields=["withdrawn_at", "withdrawn_reason"])
    audit_record(
        actor=actor,
        action="tally.signoff_withdrawn",
        election=election,
        obj=s,
        data={"matched": s.matched, "method": s.method, "reason": reason},
    )
    return s


def signoff_status(election: Election) -> dict[str, Any]:
    """Standing (not withdrawn) sign-offs of the official count: the quorum counts matching ones, and any
    standing mismatch blocks certification until withdrawn by its author."""
    run = official_run(election)
    offs = list(SignOff.objects.filter(election=election, run=run).select_related("official")) if run else []
    standing = [s for s in offs if s.withdrawn_at is None]
    matched = {s.official_id for s in standing if s.matched}
    mismatched = [s for s in standing if not s.matched]
    if run is not None:
        want = {k: {"selected": v["selected"], "total_cost": v["total_cost"]} for k, v in run.summary.items()}
        for s in offs:
            s.differences = [] if s.matched else summary_differences(want, s.summary)
    return {
        "quorum": signoff_quorum(),
        "matched": len(matched),
        "mismatched": mismatched,
        "signoffs": standing,
        "withdrawn": [s for s in offs if s.withdrawn_at is not None],
        "reached": len(matched) >= signoff_quorum() and not mismatched,
    }


# ------------------------------------------------------------------------------------------------ certify


def _manifest(
    election, run, definition, sha, files, audit_seq, audit_head, fingerprint, at, pdf_certificate
) -> dict:
    log = BallotLog.objects.get(election=election)
    snap = RollSnapshot.objects.filter(election=election).first()
    return {
        "format": mf.MANIFEST_FORMAT,
        "election": {"slug": election.slug, "name": election.name, "city": election.city},
        "definition": definition,
        "definition_sha256": sha,
        "roll_snapshot": {"entries": snap.entries, "sha256": snap.sha256} if snap else definition["roll"],
        "ballot_log": {"head": log.head, "batches": log.seq, "ballots": log.ballots},
        # The audit head at certification with the audit key's signed checkpoint of it (pb.core.audit).
        "audit_log": publication.audit_log_anchor(election=election, seq=audit_seq, head=audit_head),
        # Digests of the roll's companions: participations, receipts, paper flags (tally.records).
        **records.manifest_records(election),
        "files": files,
        "engine": {"name": run.engine_name, "version": run.engine_version},
        "rule": definition["counting"],
        "pots": run.summary,
        # Per pot: participations and ballots per channel, and the resolutions of their differences.
        "reconciliation": reconciliation_manifest(election),
        # Pots with fewer than K ballots in all were sealed as one batch: their secrecy is weaker.
        "secrecy": secrecy_summary(definition, run.summary, election),
        "certified_at": at.isoformat(),
        "council_key_fingerprint": fingerprint,
        # Binds the PAdES certificate that signs the PDF to the council's Ed25519 key (issue 9).
        "pdf_signing_certificate": pdf_certificate,
        # Who independently re-counted, how (an offline count uploaded, or a re-count on the server) and
        # whether it matched: the standing sign-offs, withdrawn ones are in the audit log.
        "signoffs": [
            {
                "official": s.official.get_full_name() or s.official.get_username(),
                "method": s.method,
                "matched": s.matched,
            }
            for s in SignOff.objects.filter(run=run, withdrawn_at__isnull=True)
            .select_related("official")
            .order_by("created_at", "pk")
        ],
    }


class AlreadyCertified(PhaseError):
    status_code = 409


def _refuse_if_certified(actor, election: Election) -> None:
    """On the locked row: a second certification (a double click, or the losing side of a race) is told who
    certified and when. Someone without the council's role is told that instead, by require()."""
    done = Certification.objects.filter(election=election).select_related("certified_by").first()
    if done is None:
        return
    if not is_council(actor, election):
        require(actor, "tally.certify", election)
    who = done.certified_by.get_full_name() or done.certified_by.get_username()
    raise AlreadyCertified(
        _("This result was already certified by %(who)s at %(at)s.")
        % {"who": who, "at": timezone.localtime(done.certified_at).strftime("%Y-%m-%d %H:%M:%S %Z")}
    )


@transaction.atomic
def election_certify(*, actor, election: Election) -> Certification:
    from tally import pdf, signing

    # Lock the row FIRST, then look: council members certifying at once queue here, and all but the first
    # find the certification and stop before building anything (the phase used to be read before the lock,
    # and a losing request rewrote the published audit.jsonl, then failed with a 500).
    election = Election.objects.select_for_update().get(pk=election.pk)
    _refuse_if_certified(actor, election)
    require(actor, "tally.certify", election)
    run = official_run(election)
    status = signoff_status(election)
    if run is None or not status["reached"]:
        raise PhaseError(
            _("Certification needs %(q)s officials whose independent re-counts match (now %(m)s%(x)s).")
            % {
                "q": status["quorum"],
                "m": status["matched"],
                "x": _(", with a mismatch to resolve") if status["mismatched"] else "",
            }
        )
    reconciliation_require_resolved(election)
    # The ballot table was checked against the sealed log when the files were exported; what is certified is
    # those files, re-checked here by hash (certification_check re-checks the table at any time).
    problems = []
    _head, _n, audit_bad = audit_verify()
    if audit_bad:
        problems.append(_("audit log: %(p)s") % {"p": f"#{audit_bad[0].seq} {audit_bad[0].reason}"})
    for name, digest in run.input_hashes.items():
        try:
            stored_file(election, name)
        except (DomainError, OSError):
            problems.append(_("%(name)s changed after the count") % {"name": name})
        if (
            ExportFile.objects.filter(election=election, name=name).values_list("sha256", flat=True).first()
            != digest
        ):
            problems.append(_("%(name)s is not the file that was counted") % {"name": name})
    snap = RollSnapshot.objects.filter(election=election).first()
    frozen_roll = frozen_definition(election)[0]["roll"]
    if snap is not None and frozen_roll is not None and snap.sha256 != frozen_roll["sha256"]:
        problems.append(_("the voter roll snapshot differs from the one frozen at opening"))
    if problems:
        raise CountMismatch(_("Certification refused: %(p)s") % {"p": "; ".join(problems)})
    key = signing.load_private_key()
    info = signing.public_info(key.public_key())
    # Every certified PDF is PAdES-signed: refuse before anything is written when no certificate is set.
    pdf_certificate = signing.load_pades_certificate()
    at = timezone.now().replace(microsecond=0)
    head = AuditHead.objects.select_for_update().get(pk=1)
    audit = audit_file(head.seq)
    files = dict(run.input_hashes)
    files[mf.AUDIT_FILE] = sha256_hex(audit)  # stored with the PDF below, published on commit
    definition, sha = frozen_definition(election)
    manifest = _manifest(
        election,
        run,
        definition,
        sha,
        files,
        head.seq,
        head.hash,
        info.fingerprint,
        at,
        pdf_certificate.manifest_entry(),
    )
    body = mf.manifest_bytes(manifest)
    signature = key.sign(body).hex()
    cert = Certification.objects.create(
        election=election,
        run=run,
        manifest=body.decode(),
        manifest_sha256=sha256_hex(body),
        signature=signature,
        key_fingerprint=info.fingerprint,
        certified_by=actor,
        certified_at=at,
    )
    pdf_bytes = pdf.render_result_pdf(election=election, certification=cert)
    name = f"result-{election.slug}.pdf"
    # Both files are written to a staging folder now and moved into place only on commit: a request that
    # fails from here on (or whose transaction is rolled back) leaves the published folder untouched.
    staging = _staging_open(election)
    try:
        digest = _store(election, {mf.AUDIT_FILE: audit, name: pdf_bytes}, staging=staging)[name]
        cert.pdf_name, cert.pdf_sha256 = name, digest
        cert.save(update_fields=["pdf_name", "pdf_sha256"])
        audit_record(
            actor=actor,
            action="tally.certified",
            election=election,
            obj=cert,
            data={"manifest_sha256": cert.manifest_sha256, "pdf_sha256": digest, "key": info.fingerprint},
        )
        election_advance(actor=actor, election=election, to_phase=Phase.CERTIFIED)
    except BaseException:
        _staging_discard(staging)
        raise
    _staging_publish_on_commit(election, staging)
    return cert


@transaction.atomic
def election_publish(*, actor, election: Election) -> Election:
    """Publish a certified result. The council signs a publication record (tally.publication) at the audit
    head after the phase change, so the entries written since certification are covered too, and the
    published audit.jsonl is extended up to it; the files move into place when the transaction commits."""
    require(actor, "election.publish", election)
    election = election_advance(actor=actor, election=election, to_phase=Phase.PUBLISHED)
    # A staging folder of our own, without _staging_open's clean-up: certifying and publishing in one
    # transaction (the demo) must not discard the certification's files still waiting for the commit.
    staging = election_dir(election) / f".staging-{secrets.token_hex(8)}"
    staging.mkdir(parents=True)
    try:
        _store(
            election,
            publication.publication_files(election=election, files_of_audit=audit_file),
            staging=staging,
        )
    except BaseException:
        _staging_discard(staging)
        raise
    _staging_publish_on_commit(election, staging)
    return election


def certification_check(election: Election):
    """Server-side verification of a certified election against the database as it is now: rebuilds every
    published file from the tables (ballots, log, audit) and runs the independent verifier on them, so a
    ballot row or an audit entry changed after certification makes it FAIL."""
    from tally.engine import verify

    cert = Certification.objects.get(election=election)
    manifest = json.loads(cert.manifest)
    files = build_files(election, audit_seq=manifest["audit_log"]["seq"])
    stored_problem = ""
    if ExportFile.objects.filter(election=election, name=auditlog.PUBLICATION_FILE).exists():
        # Published: the signed publication record as stored, and the audit log rebuilt up to its head.
        try:
            for name in (auditlog.PUBLICATION_FILE, auditlog.PUBLICATION_SIG):
                files[name] = stored_file(election, name)
            files[mf.AUDIT_FILE] = audit_file(
                json.loads(files[auditlog.PUBLICATION_FILE])["audit_log"]["seq"]
            )
        except (DomainError, OSError, ValueError, KeyError, TypeError) as exc:
            stored_problem = str(getattr(exc, "message", exc))
    pdf_bytes = (election_dir(election) / cert.pdf_name).read_bytes()
    report = verify.verify_pdf(pdf_bytes, public_key=bytes.fromhex(_public_raw_hex(manifest)), files=files)
    if stored_problem:
        report.add(_("stored publication record"), False, stored_problem)
    # The records behind the ballots, recomputed from the tables (tally.records), and the whole audit log
    # with its keys and signed checkpoints (pb.core.audit.audit_verify).
    for name, ok, detail in records.record_checks(election, manifest):
        report.add(name, ok, detail)
    _head, count, problems = audit_verify()
    report.add(
        _("audit log keys and signed checkpoints"),
        not problems,
        "; ".join(f"entry #{p.seq}: {p.reason}" for p in problems[:3]) or _("%(n)s entries") % {"n": count},
    )
    return report


def _public_raw_hex(manifest: dict) -> str:
    from tally import signing

    info = signing.council_public_key()
    if info is None:
        raise DomainError(_("The council key is not available on this server."))
    return info.raw_hex


# ------------------------------------------------------------------------------------------------ phase hook


def tally_phase_hook(*, election: Election, actor, to_phase: str) -> None:
    """Runs inside election_advance (pb.core.services.PHASE_HOOKS)."""
    if to_phase == Phase.VOTING_OPEN:
        definition_freeze(election=election)
    elif to_phase == Phase.VOTING_CLOSED:
        confirmed = CloseRequest.objects.filter(
            election=election, cancelled=False, confirmed_by__isnull=False
        ).exists()
        if not confirmed:
            raise PhaseError(_("Closing the vote needs two officials: one asks, another confirms."))
        ballots_seal_pending(election_id=election.pk, final=True, hold_for_paper=True)
        # After the final seal, so every ballot is counted (issue 9: reconciliation that binds).
        reconciliation_require_resolved(election, closing=True)
    elif to_phase == Phase.TALLIED:
        if official_run(election) is None:
            raise PhaseError(_("Run the official count first."))
    elif to_phase == Phase.CERTIFIED and not Certification.objects.filter(election=election).exists():
        raise PhaseError(_("Use the certification page: the council signs the result manifest."))
