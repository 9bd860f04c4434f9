"""A sealed box: bytes encrypted to one recipient's X25519 public key, which only its private key opens.

ECIES in the shape of HPKE's base mode (RFC 9180, without its wire format): a fresh ephemeral X25519 key per
box, HKDF-SHA256 over the shared secret (salted with both public keys, so a box is bound to its recipient),
AES-256-GCM with associated data the caller chooses (what the box is for: a box moved to another job does
not open). Whoever holds the box and everything the server keeps, but not the private key, learns only the
plaintext's length.

    version (1) || ephemeral public key (32) || nonce (12) || AES-GCM ciphertext and tag

`recipient_key` derives the private key from secrets the caller keeps apart (e.g. one half in a server-side
session, the other in a browser cookie), so no one place holds it.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
_KEY = 32
_NONCE = 12
_HEADER = len(VERSION) + _KEY + _NONCE
_INFO = b"pb sealed box v1"


class SealedBoxError(ValueError):
    """The box is not one, or was not sealed to this key, or was altered, or its associated data differs."""


def recipient_key(*, secrets: list[bytes], context: bytes) -> X25519PrivateKey:
    """The private key made from `secrets` (each at least 16 random bytes) for `context` (what it opens)."""
    if not secrets or any(len(s) < 16 for s in secrets):
        raise SealedBoxError("a recipient key needs secrets of at least 16 bytes")
    ikm = b"".join(len(s).to_bytes(2, "big") + s for s in secrets)
    info = _INFO + b" key " + context
    seed = HKDF(algorithm=hashes.SHA256(), length=_KEY, salt=None, info=info).derive(ikm)
    return X25519PrivateKey.from_private_bytes(seed)


def public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _aead(shared: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=_KEY, salt=ephemeral + recipient, info=_INFO).derive(shared)
    return AESGCM(key)


def seal(data: bytes, *, recipient: bytes, aad: bytes) -> bytes:
    """`data` sealed to the raw 32-byte X25519 public key `recipient`."""
    if len(recipient) != _KEY:
        raise SealedBoxError("a recipient public key is 32 bytes")
    ephemeral = X25519PrivateKey.generate()
    eph_pub = public_bytes(ephemeral)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    nonce = os.urandom(_NONCE)
    return VERSION + eph_pub + nonce + _aead(shared, eph_pub, recipient).encrypt(nonce, data, aad)


def open_box(box: bytes, *, key: X25519PrivateKey, aad: bytes) -> bytes:
    """The plaintext of `box`, or SealedBoxError (never a partial plaintext)."""
    if len(box) < _HEADER + 16 or box[:1] != VERSION:
        raise SealedBoxError("not a sealed box")
    eph_pub, nonce, body = box[1 : 1 + _KEY], box[1 + _KEY : _HEADER], box[_HEADER:]
    try:
        shared = key.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        return _aead(shared, eph_pub, public_bytes(key)).decrypt(nonce, body, aad)
    except (InvalidTag, ValueError) as exc:  # ValueError: a low-order point gives an all-zero secret
        raise SealedBoxError("this box does not open with this key") from exc
