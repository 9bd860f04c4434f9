"""Byte formats of the anchored audit log, shared by pb.core.audit (which writes it) and the verifier.

Pure: no Django. docs/verification.md section 6 specifies them; change both together.

- entry payload v1 (entries written before the log was anchored): {"seq", "at", "actor_id", "actor_name",
  "action", "election_id", "object_type", "object_id", "data", "prev_hash"}.
- entry payload v2: the same plus "v": 2 and "private": null, or, for an entry about a voter (identification,
  paper marking, booth cast, a voter's code), "private": the commitment to its private part, with "at"
  coarsened to the day (YYYY-MM-DD), "actor_id" null, "actor_name" "" and "object_id" "" in the payload.
  commitment = H({"salt", "at" (exact), "actor_id", "actor_name", "object_id", "fields"}) with a random
  per-entry salt: the published payload names no voter, booth or exact time, and the officials' full log can
  still be checked against it.
- entry hash = H(payload); the payload's "prev_hash" is the previous entry's hash ("0"*64 for entry 1).
- checkpoint: the server's audit key (Ed25519) signs checkpoint_message(seq, head, reason, election, at) at
  every phase change, at certification and at publication.
- publication record (publication.json + publication.sig, council key): commits to the manifest hash, the
  audit head at publication (with its checkpoint) and the hash of the published audit file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tally.engine.canonical import canonical_hash, canonical_json

GENESIS = "0" * 64
CHECKPOINT_FORMAT = "pb-audit-checkpoint/1"
PUBLICATION_FORMAT = "pb-publication/1"
PUBLICATION_FILE = "publication.json"
PUBLICATION_SIG = "publication.sig"


def checkpoint_message(*, seq: int, head: str, reason: str, election: str | None, at: str) -> bytes:
    """The exact bytes the audit key signs for a checkpoint."""
    return canonical_json(
        {
            "format": CHECKPOINT_FORMAT,
            "seq": seq,
            "head": head,
            "reason": reason,
            "election": election,
            "at": at,
        }
    )


def checkpoint_message_of(checkpoint: Mapping[str, Any], *, seq: int, head: str) -> bytes:
    """checkpoint_message for a published checkpoint object ({"at", "reason", "election", ...})."""
    return checkpoint_message(
        seq=seq,
        head=head,
        reason=checkpoint["reason"],
        election=checkpoint.get("election"),
        at=checkpoint["at"],
    )


def private_commitment(
    *, salt: str, at: str, actor_id: int | None, actor_name: str, object_id: str, fields: Mapping[str, Any]
) -> str:
    return canonical_hash(
        {
            "salt": salt,
            "at": at,
            "actor_id": actor_id,
            "actor_name": actor_name,
            "object_id": object_id,
            "fields": dict(fields),
        }
    )


def chain_problems(entries: Iterable[Mapping[str, Any]]) -> tuple[str, int, list[str], dict[int, str]]:
    """Recompute a published audit file's chain: (last hash, entries, problems, hash after each entry
    number). Every line is {"hash", "payload"}; entries are numbered 1, 2, 3, ... ."""
    prev, seq, problems, hashes = GENESIS, 0, [], {}
    for entry in entries:
        seq += 1
        payload = entry.get("payload") if isinstance(entry, Mapping) else None
        if not isinstance(payload, Mapping):
            problems.append(f"entry {seq}: not an audit entry")
            prev = ""
            hashes[seq] = prev
            continue
        if payload.get("seq") != seq:
            problems.append(f"entry {seq}: sequence gap")
        if payload.get("prev_hash") != prev:
            problems.append(f"entry #{payload.get('seq')}: previous-hash link broken")
        if canonical_hash(payload) != entry.get("hash"):
            problems.append(f"entry #{payload.get('seq')}: content does not match its hash (altered)")
        prev = entry.get("hash")
        hashes[seq] = prev
    return prev, seq, problems, hashes
