"""The append-only, hash-chained, anchored audit log.

Three layers (docs/verification.md section 6 says what each stops):
- the chain: each entry's hash covers its content and the previous entry's hash, so altering, removing or
  reordering a stored entry breaks every later link;
- a keyed MAC per entry (HMAC-SHA256, key derived from PB_HMAC_KEY, kept outside the database): re-chaining
  after a rewrite needs that key;
- signed checkpoints: the head (seq, hash) signed with the server's audit key (pb.core.audit_keys) at every
  phase change, at certification and at publication. Rewriting, inserting or deleting any entry up to a
  checkpoint, even with every later entry re-chained and re-keyed, no longer matches it.

Entries about a voter are recorded with `private=`: the published payload carries only a salted commitment
to the voter, booth, actor and exact time (tally.engine.auditlog); the officials' full log keeps them and
`audit_verify` checks them against the commitment.

Frequent entries about voters (each online identification) are written without the chain's head lock, as
pending entries that `audit_fold` chains in order before any other entry, checkpoint or check of the chain,
and now and then by the writers themselves: a city's voters never queue on one lock to identify. Until it is
chained, a pending entry is protected only by the database (the window is a few identifications long).

`manage.py audit_verify` recomputes all of it and names every bad entry.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pb.core import audit_keys
from pb.core.models import AuditCheckpoint, AuditEvent, AuditHead, AuditPending, Election
from tally.engine import auditlog
from tally.engine.canonical import canonical_hash

GENESIS_HASH = auditlog.GENESIS
PAYLOAD_VERSION = 2
FOLD_BATCH = 2000  # pending entries chained per statement


def _at(e: AuditEvent) -> str:
    return e.at.isoformat()


def private_commitment(e: AuditEvent) -> str:
    private = e.private or {}
    return auditlog.private_commitment(
        salt=str(private.get("salt", "")),
        at=_at(e),
        actor_id=e.actor_id,
        actor_name=e.actor_name,
        object_id=e.object_id,
        fields=private.get("fields") or {},
    )


def _entry_payload(e: AuditEvent) -> dict[str, Any]:
    """The payload the entry's hash covers, exactly as published in audit.jsonl (tally.engine.auditlog)."""
    payload = {
        "seq": e.seq,
        "at": _at(e),
        "actor_id": e.actor_id,
        "actor_name": e.actor_name,
        "action": e.action,
        "election_id": e.election_id,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "data": e.data,
        "prev_hash": e.prev_hash,
    }
    if e.v < 2:
        return payload
    payload.update(v=e.v, private=None)  # the canonical form sorts the keys: their order here is free
    if e.private is not None:
        # Who, where and when exactly stay in the officials' log; the public sees the day and the commitment.
        payload.update(
            at=e.at.astimezone(dt.UTC).date().isoformat(),
            actor_id=None,
            actor_name="",
            object_id="",
            private=private_commitment(e),
        )
    return payload


entry_payload = _entry_payload


def entry_hash(e: AuditEvent) -> str:
    return canonical_hash(_entry_payload(e))


@functools.lru_cache(maxsize=4)
def _mac_key(secret: str) -> bytes:
    # A key of its own, derived from PB_HMAC_KEY: the roll's hashes and the audit MACs never share a key.
    return hmac.new(secret.encode(), b"pb-audit-entry-mac/1", hashlib.sha256).digest()


def entry_mac(entry_hash_hex: str) -> str:
    return hmac.new(_mac_key(settings.PB_HMAC_KEY), entry_hash_hex.encode(), hashlib.sha256).hexdigest()


def _fields(
    *, actor: Any, action: str, election, obj: Any, data: dict | None, private: dict | None
) -> dict[str, Any]:
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return {
        "at": timezone.now().replace(microsecond=0),
        "actor_id": actor.pk if is_user else None,
        "actor_name": actor.get_username() if is_user else (str(actor) if actor else "system"),
        "action": action,
        "election": election,
        "object_type": obj._meta.label_lower if obj is not None and hasattr(obj, "_meta") else "",
        "object_id": str(obj.pk) if obj is not None and hasattr(obj, "pk") else "",
        "data": data or {},
        "private": None if private is None else {"salt": secrets.token_hex(16), "fields": private},
    }


def _locked_head() -> AuditHead:
    # Row lock on the singleton head: concurrent writers queue here, so the chain never forks.
    head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
    return head


def _chain(head: AuditHead, fields: dict[str, Any]) -> AuditEvent:
    """The next entry of the chain after `head` (not saved; `head` moves on to it)."""
    event = AuditEvent(v=PAYLOAD_VERSION, seq=head.seq + 1, prev_hash=head.hash, **fields)
    event.hash = entry_hash(event)
    event.mac = entry_mac(event.hash)
    head.seq, head.hash = event.seq, event.hash
    return event


def _fold_locked(head: AuditHead) -> int:
    """Chain every pending entry visible now, in the order they were written (the head is locked by the
    caller's transaction). Returns how many."""
    folded = 0
    while True:
        batch = list(AuditPending.objects.order_by("pk")[:FOLD_BATCH])
        if not batch:
            return folded
        events = [
            _chain(
                head,
                {
                    "at": p.at,
                    "actor_id": p.actor_id,
                    "actor_name": p.actor_name,
                    "action": p.action,
                    "election_id": p.election_id,
                    "object_type": p.object_type,
                    "object_id": p.object_id,
                    "data": p.data,
                    "private": p.private,
                },
            )
            for p in batch
        ]
        AuditEvent.objects.bulk_create(events)
        AuditPending.objects.filter(pk__in=[p.pk for p in batch]).delete()
        folded += len(events)


def audit_record(
    *,
    actor: Any,
    action: str,
    election: Election | None = None,
    obj: Any = None,
    data: dict[str, Any] | None = None,
    private: dict[str, Any] | None = None,
    deferred: bool = False,
) -> AuditEvent | AuditPending:
    """Append one entry. Call inside the service's transaction so the entry and the change commit together.

    `private`: for an entry about a voter, the fields that would identify them (booth, code ids, ...); the
    entry's object id, actor and exact time become private too, and the published log carries only a salted
    commitment to them (pass `private={}` when there are no extra fields). `data` is always public.

    `deferred`: for frequent entries about voters (online identification): written without the chain's head
    lock, as an AuditPending that audit_fold chains later, in order (before any other entry, checkpoint or
    check of the chain). Its time is the time it was written.
    """
    fields = _fields(actor=actor, action=action, election=election, obj=obj, data=data, private=private)
    if deferred:  # one INSERT (in the caller's transaction, if any): no lock, no savepoint
        pending = AuditPending.objects.create(**fields)
        every = int(getattr(settings, "PB_AUDIT_FOLD_EVERY", 16))
        if every <= 1 or pending.pk % every == 0:
            # Now and then a writer chains what is waiting, after its own commit and only if nobody else is
            # doing it at that moment (never waiting for the head lock).
            transaction.on_commit(lambda: audit_fold(wait=False))
        return pending
    with transaction.atomic():
        head = _locked_head()
        _fold_locked(head)  # what was written before this entry comes before it in the chain
        event = _chain(head, fields)
        event.save()
        head.save(update_fields=["seq", "hash"])
    return event


def audit_fold(*, wait: bool = True) -> int:
    """Chain the pending entries (AuditPending) in the order they were written; returns how many.

    `wait=False`: give up at once (0) if another transaction holds the head lock (it will fold them, or the
    next writer will). On SQLite, where writers are serialised anyway, this always folds."""
    with transaction.atomic():
        if wait:
            head = _locked_head()
        else:
            head = AuditHead.objects.select_for_update(skip_locked=True).filter(pk=1).first()
            if head is None:
                if AuditHead.objects.filter(pk=1).exists():
                    return 0  # locked by someone else right now
                head = _locked_head()
        folded = _fold_locked(head)
        if folded:
            head.save(update_fields=["seq", "hash"])
        return folded


# ------------------------------------------------------------------------------------------------ checkpoints


@transaction.atomic
def audit_checkpoint(*, reason: str, election: Election | None = None) -> AuditCheckpoint:
    """Sign the current head with the server's audit key. Called inside the transaction that wrote the last
    entry (the head row stays locked, so the signed head is the one that commits). Raises AuditKeyMissing
    when no key is set up (and DEBUG is off): an unanchored phase change would be unprotected."""
    head = _locked_head()
    if _fold_locked(head):  # a checkpoint signs everything written before it
        head.save(update_fields=["seq", "hash"])
    key = audit_keys.audit_key_load(create=True)
    info = audit_keys.audit_public_info(key.public_key())
    at = timezone.now().replace(microsecond=0)
    slug = election.slug if election is not None else None
    message = auditlog.checkpoint_message(
        seq=head.seq, head=head.hash, reason=reason, election=slug, at=at.isoformat()
    )
    return AuditCheckpoint.objects.create(
        seq=head.seq,
        head=head.hash,
        reason=reason,
        election=election,
        at=at,
        public_key=info.raw_hex,
        key_fingerprint=info.fingerprint,
        signature=key.sign(message).hex(),
    )


def checkpoint_message(cp: AuditCheckpoint) -> bytes:
    return auditlog.checkpoint_message(
        seq=cp.seq,
        head=cp.head,
        reason=cp.reason,
        election=cp.election.slug if cp.election_id else None,
        at=cp.at.isoformat(),
    )


def checkpoint_public(cp: AuditCheckpoint) -> dict[str, Any]:
    """What a published record names of a checkpoint (the manifest's and publication's "audit_log")."""
    return {
        "at": cp.at.isoformat(),
        "reason": cp.reason,
        "election": cp.election.slug if cp.election_id else None,
        "key": cp.public_key,
        "key_fingerprint": cp.key_fingerprint,
        "signature": cp.signature,
    }


def audit_latest_checkpoint() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.select_related("election").order_by("-seq", "-pk").first()


def _signature_ok(cp: AuditCheckpoint, public_key) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(bytes.fromhex(cp.signature), checkpoint_message(cp))
    except (InvalidSignature, ValueError):
        return False
    return True


# ------------------------------------------------------------------------------------------------ verify


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str


def _checkpoint_problems(checkpoints: list[AuditCheckpoint]) -> list[ChainProblem]:
    if not checkpoints:
        return []
    try:
        public = audit_keys.audit_key_load().public_key()
    except audit_keys.AuditKeyMissing as exc:
        return [
            ChainProblem(checkpoints[-1].seq, f"cannot check {len(checkpoints)} signed checkpoints: {exc}")
        ]
    info = audit_keys.audit_public_info(public)
    problems = []
    for cp in checkpoints:
        if cp.key_fingerprint != info.fingerprint or cp.public_key != info.raw_hex:
            problems.append(
                ChainProblem(
                    cp.seq,
                    f"signed checkpoint #{cp.pk} names the key {cp.key_fingerprint[:16]}…, "
                    f"not this server's audit key {info.fingerprint[:16]}…",
                )
            )
        elif not _signature_ok(cp, public):
            problems.append(
                ChainProblem(cp.seq, f"signed checkpoint #{cp.pk}: the signature does not verify (forged)")
            )
    return problems


def audit_verify() -> tuple[str, int, list[ChainProblem]]:
    """Recompute the chain, the keyed MACs and the private commitments, and check every signed checkpoint
    against it. Returns (head hash, entries checked, problems), each problem naming an entry. Pending entries
    (AuditPending) are chained first, so the check covers everything written so far."""
    audit_fold()
    checkpoints = list(AuditCheckpoint.objects.select_related("election").order_by("seq", "pk"))
    problems = _checkpoint_problems(checkpoints)
    at_seq: dict[int, list[AuditCheckpoint]] = {}
    for cp in checkpoints:
        at_seq.setdefault(cp.seq, []).append(cp)
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    seen_v2 = False
    anchored = 0  # the last seq whose signed checkpoint matched
    first_bad: int | None = None  # the first suspect entry after `anchored`
    broken_checkpoint = False
    for e in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        count += 1
        bad = False
        if e.seq != expected_seq:
            problems.append(ChainProblem(e.seq, f"sequence gap: expected #{expected_seq}"))
            bad = True
        if e.prev_hash != prev:
            problems.append(ChainProblem(e.seq, "previous-hash link does not match entry before"))
            bad = True
        computed = entry_hash(e)
        if computed != e.hash:
            what = "content or its private part" if e.private is not None else "content"
            problems.append(ChainProblem(e.seq, f"{what} does not match its stored hash (altered)"))
            bad = True
        if e.v >= 2:
            seen_v2 = True
            if not hmac.compare_digest(e.mac or "", entry_mac(e.hash)):
                problems.append(
                    ChainProblem(
                        e.seq, "keyed MAC does not match: written or rewritten without the server's key"
                    )
                )
                bad = True
            if e.action == "election.phase" and e.seq not in at_seq:
                problems.append(ChainProblem(e.seq, "phase change without its signed checkpoint (deleted?)"))
                bad = True
        elif seen_v2:
            problems.append(ChainProblem(e.seq, "unkeyed (version 1) entry after keyed entries (rewritten?)"))
            bad = True
        if bad and first_bad is None:
            first_bad = e.seq
        for cp in at_seq.get(e.seq, ()):
            if cp.head == computed and cp.head == e.hash:
                if not broken_checkpoint:
                    anchored, first_bad = e.seq, None
                continue
            if broken_checkpoint:
                problems.append(
                    ChainProblem(
                        e.seq, f"the signed checkpoint #{cp.pk} at seq {cp.seq} no longer matches either"
                    )
                )
                continue
            broken_checkpoint = True
            suspect = first_bad if first_bad is not None else anchored + 1
            where = (
                "" if first_bad is not None else f" (the change is in entries #{anchored + 1} to #{cp.seq})"
            )
            problems.append(
                ChainProblem(
                    suspect,
                    f"chain no longer matches the signed checkpoint #{cp.pk} at seq {cp.seq}{where}",
                )
            )
        prev = e.hash
        expected_seq = e.seq + 1
    last = expected_seq - 1
    beyond = [cp for cp in checkpoints if cp.seq > last]
    if beyond:
        cp = beyond[-1]
        problems.append(
            ChainProblem(
                last + 1,
                f"entries #{last + 1} to #{cp.seq} are missing: the log ends at #{last} but the signed "
                f"checkpoint #{cp.pk} covers up to seq {cp.seq} (deleted)",
            )
        )
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None and (head.seq != last or head.hash != prev):
        problems.append(ChainProblem(head.seq, "head does not match the last entry (truncated?)"))
    problems.sort(key=lambda p: p.seq)
    return prev, count, problems


def audit_head_hash() -> str:
    head = AuditHead.objects.filter(pk=1).first()
    return head.hash if head else GENESIS_HASH
