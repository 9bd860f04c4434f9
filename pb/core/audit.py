"""The append-only, hash-chained audit log.

Each entry's hash covers its content and the previous entry's hash, so altering, removing or
reordering a stored entry breaks every later link; `manage.py audit_verify` recomputes the chain
and names the first bad entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from pb.core.models import AuditEvent, AuditHead, Election
from tally.engine.canonical import canonical_hash

GENESIS_HASH = "0" * 64


def _entry_payload(e: AuditEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "actor_id": e.actor_id,
        "actor_name": e.actor_name,
        "action": e.action,
        "election_id": e.election_id,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "data": e.data,
        "prev_hash": e.prev_hash,
    }


def entry_hash(e: AuditEvent) -> str:
    return canonical_hash(_entry_payload(e))


@transaction.atomic
def audit_record(
    *,
    actor: Any,
    action: str,
    election: Election | None = None,
    obj: Any = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry. Call inside the service's transaction so the entry and the change commit together."""
    # Row lock on the singleton head: concurrent writers queue here, so the chain never forks.
    head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        seq=head.seq + 1,
        at=timezone.now().replace(microsecond=0),
        actor_id=actor.pk if is_user else None,
        actor_name=actor.get_username() if is_user else (str(actor) if actor else "system"),
        action=action,
        election=election,
        object_type=obj._meta.label_lower if obj is not None and hasattr(obj, "_meta") else "",
        object_id=str(obj.pk) if obj is not None and hasattr(obj, "pk") else "",
        data=data or {},
        prev_hash=head.hash,
    )
    event.hash = entry_hash(event)
    event.save()
    head.seq, head.hash = event.seq, event.hash
    head.save(update_fields=["seq", "hash"])
    return event


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str


def audit_verify() -> tuple[str, int, list[ChainProblem]]:
    """Recompute the chain. Returns (head hash, entries checked, problems)."""
    problems: list[ChainProblem] = []
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for e in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        count += 1
        if e.seq != expected_seq:
            problems.append(ChainProblem(e.seq, f"sequence gap: expected #{expected_seq}"))
        if e.prev_hash != prev:
            problems.append(ChainProblem(e.seq, "previous-hash link does not match entry before"))
        if entry_hash(e) != e.hash:
            problems.append(ChainProblem(e.seq, "content does not match its stored hash (altered)"))
        prev = e.hash
        expected_seq = e.seq + 1
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        problems.append(ChainProblem(head.seq, "head does not match the last entry (truncated?)"))
    return prev, count, problems


def audit_head_hash() -> str:
    head = AuditHead.objects.filter(pk=1).first()
    return head.hash if head else GENESIS_HASH
