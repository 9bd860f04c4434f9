"""Stage 2, the ballot box: sealing pending ballots into the public hash-chained log (docs/secrecy.md,
docs/verification.md section 3). A cast leaves a `PendingBallot` (ballots.ballotbox.pending); sealing turns
all but K of a pot's pending ballots into `Ballot` rows and one `LogBatch` in a transaction of its own, so
nothing ties a ballot to the participation written with it. `log_problems` checks the sealed table against
the chain before anything is counted."""

from __future__ import annotations

import json
import secrets
import uuid
from collections import Counter
from typing import Any

from django.db import transaction
from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from ballots.ballotbox import pending as pending_ballots
from ballots.ballotbox.pending import DEFAULT_ANONYMITY_K
from ballots.definition import frozen_definition
from ballots.exceptions import CountMismatch
from ballots.models import (
    Ballot,
    BallotLog,
    Channel,
    DefinitionFreeze,
    LogBatch,
    PaperBatch,
    PaperBatchStatus,
    Participation,
    PendingBallot,
)
from pb.core.models import BallotType, Election, Pot
from tally.engine import manifest as mf
from tally.engine.canonical import sha256_hex

# The anonymity set K (ballots.ballotbox.pending; settings.PB_ANONYMITY_K, frozen into the definition): no
# batch holds fewer than K ballots, every batch holds ballots of one pot. SEAL_BATCH_MIN is the default K.
SEAL_BATCH_MIN = DEFAULT_ANONYMITY_K


# While voting is open a pot is sealed once K + max(K, SEAL_AFTER_CAST) ballots are pending, taking all but
# K of them: batches of at least SEAL_AFTER_CAST (cheaper per ballot on election day, and a bigger crowd to
# hide in), and K always kept back so the last batch is never small.
SEAL_AFTER_CAST = 50


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


def ballot_lines_by_pot(ballots) -> PotRows:
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


def batch_dict(b: LogBatch, slug: str) -> dict[str, Any]:
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
        d = batch_dict(b, election.slug)
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
        in_table = Counter(
            sha256_hex(row[0]) for rows in ballot_lines_by_pot(sealed).values() for row in rows
        )
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
