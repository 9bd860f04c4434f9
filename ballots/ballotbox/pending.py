"""Cast ballots waiting to be sealed: encrypted at rest, and the anonymity set they wait for.

A cast writes the voter's `Participation` and a `PendingBallot` together (on PostgreSQL in one statement, so
they share a transaction id). The pending row holds the ballot only as AES-256-GCM ciphertext under a server
key derived (HKDF-SHA256) from settings.PB_HMAC_KEY, padded to 1 KiB: a database administrator, a
backup or a slow-query log line sees who voted next to an opaque blob of the same length for every ballot,
never the ballot. Sealing (ballots.ballotbox.sealing.ballots_seal_pending) decrypts a pot's pending ballots,
writes them
to `Ballot` in a random order in its own transaction, deletes the pending rows and vacuums their table, so no
row version linking a voter's transaction to a ballot survives. docs/secrecy.md says what is left.

The associated data binds a ciphertext to its election and pot: a row moved to another pot fails to decrypt.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from pb.core.exceptions import DomainError

# The anonymity set: no published or stored ballot may be narrowed to fewer than K voters by someone who
# knows who voted when. Frozen into the election definition ("secrecy": {"anonymity_k": K}) when voting
# opens; a definition frozen before this existed means the default.
DEFAULT_ANONYMITY_K = 20
_NONCE = 12
# Plaintexts are padded to 1 KiB (or the next power of two above, for a ballot of dozens of projects): the
# row's size does not say how many projects a voter chose.
_PAD = 1024
_INFO = b"pb pending ballot v1"


class PendingBallotUnreadable(DomainError):
    """A pending ballot cannot be decrypted: the server key changed since the cast, or the row was altered."""

    status_code = 503


def anonymity_k_setting() -> int:
    """K for a definition being frozen now (settings.PB_ANONYMITY_K, at least 1)."""
    return max(1, int(getattr(settings, "PB_ANONYMITY_K", DEFAULT_ANONYMITY_K)))


def anonymity_k(definition: dict | None) -> int:
    """K of a frozen definition; one frozen without a "secrecy" section means DEFAULT_ANONYMITY_K."""
    secrecy = (definition or {}).get("secrecy") or {}
    return max(1, int(secrecy.get("anonymity_k", DEFAULT_ANONYMITY_K)))


def seal_threshold(k: int, batch: int) -> int:
    """Pending ballots of one pot at which sealing runs while voting is open: it seals all but K of them
    (chosen at random), so each batch holds at least max(K, batch) and the K kept back make sure the
    final batch at closing is never under K."""
    return k + max(k, batch)


@lru_cache(maxsize=4)
def _aead(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return AESGCM(key)


def _key() -> AESGCM:
    secret = getattr(settings, "PB_HMAC_KEY", None) or settings.SECRET_KEY
    return _aead(str(secret))


def _aad(election_id: int, pot_id: int) -> bytes:
    return f"pb-pending-ballot/1:{election_id}:{pot_id}".encode()


def encrypt(
    *,
    election_id: int,
    pot_id: int,
    projects: list,
    points: dict,
    is_paper: bool,
    receipt_hash: str,
) -> bytes:
    """nonce || AES-GCM ciphertext of the ballot (padded JSON)."""
    body = json.dumps(
        {"p": list(projects), "s": points or {}, "x": bool(is_paper), "r": receipt_hash},
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()
    size = _PAD
    while size < len(body):
        size *= 2
    body += b" " * (size - len(body))
    nonce = os.urandom(_NONCE)
    return nonce + _key().encrypt(nonce, body, _aad(election_id, pot_id))


@dataclass(frozen=True)
class OpenedBallot:
    projects: list
    points: dict
    is_paper: bool
    receipt_hash: str


def decrypt(*, election_id: int, pot_id: int, content: bytes) -> OpenedBallot:
    content = bytes(content)
    try:
        body = _key().decrypt(content[:_NONCE], content[_NONCE:], _aad(election_id, pot_id))
        doc = json.loads(body)
        return OpenedBallot(
            projects=list(doc["p"]), points=dict(doc["s"]), is_paper=bool(doc["x"]), receipt_hash=doc["r"]
        )
    except (InvalidTag, ValueError, KeyError, TypeError):
        raise PendingBallotUnreadable(
            "A pending ballot cannot be decrypted: the server key (PB_HMAC_KEY) changed since it was cast, "
            "or the row was altered. Restore the key; no ballot is sealed until then."
        ) from None


def row(
    *, election_id: int, pot_id: int, projects: list, points: dict, is_paper: bool, receipt_hash: str
) -> dict:
    """The values of one PendingBallot row."""
    return {
        "id": uuid.uuid4(),
        "election": election_id,
        "pot": pot_id,
        "content": encrypt(
            election_id=election_id,
            pot_id=pot_id,
            projects=projects,
            points=points,
            is_paper=is_paper,
            receipt_hash=receipt_hash,
        ),
    }
