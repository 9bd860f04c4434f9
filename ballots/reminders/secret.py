"""A reminder's e-mail address at rest: AES-256-GCM under a key derived (HKDF-SHA256) from
settings.PB_HMAC_KEY, as the pending ballots are (ballots.ballotbox.pending), with a purpose of its own.

The associated data binds the ciphertext to its reminder row: an address copied onto another row (another
voter) does not decrypt. Addresses are padded to a fixed size so the column's length says nothing.
"""

from __future__ import annotations

import os
import uuid
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_NONCE = 12
_PAD = 320  # longer than any address the form accepts (254 characters)
_INFO = b"pb ballot reminder address v1"


@lru_cache(maxsize=4)
def _aead(secret: str) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode()))


def _key() -> AESGCM:
    return _aead(str(getattr(settings, "PB_HMAC_KEY", None) or settings.SECRET_KEY))


def _aad(reminder_id: uuid.UUID) -> bytes:
    return f"pb-ballot-reminder/1:{reminder_id}".encode()


def address_seal(reminder_id: uuid.UUID, email: str) -> bytes:
    body = email.encode()
    if len(body) > _PAD:
        raise ValueError("address too long")
    nonce = os.urandom(_NONCE)
    return nonce + _key().encrypt(nonce, body + b"\0" * (_PAD - len(body)), _aad(reminder_id))


def address_open(reminder_id: uuid.UUID, sealed: bytes) -> str | None:
    """The address, or None if it cannot be read (erased, the server key changed, the row altered)."""
    sealed = bytes(sealed or b"")
    try:
        body = _key().decrypt(sealed[:_NONCE], sealed[_NONCE:], _aad(reminder_id))
    except (InvalidTag, ValueError):
        return None
    return body.rstrip(b"\0").decode()
