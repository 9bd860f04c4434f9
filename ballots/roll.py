"""Voter roll: keyed hashes of personal identifiers, row validation, the fast import path, the snapshot.

Personal identifiers are never stored in clear: `ref_hash = HMAC-SHA256(PB_HMAC_KEY, "ref:" + ref)` and
`ref_dob_hash = HMAC-SHA256(PB_HMAC_KEY, "refdob:" + ref + "|" + YYYY-MM-DD)`. References are normalised
(whitespace stripped, upper-cased) so " ab-12 " and "AB-12" match. The domain prefixes keep the three kinds
of hash (reference, reference+birth date, voting code) from ever colliding.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def _key() -> bytes:
    return settings.PB_HMAC_KEY.encode()


def keyed_hash(domain: str, value: str) -> str:
    return hmac.new(_key(), f"{domain}:{value}".encode(), hashlib.sha256).hexdigest()


def normalize_ref(ref: str) -> str:
    return "".join(ref.split()).upper()


def ref_hash(ref: str) -> str:
    return keyed_hash("ref", normalize_ref(ref))


def ref_dob_hash(ref: str, dob_iso: str) -> str:
    return keyed_hash("refdob", f"{normalize_ref(ref)}|{dob_iso}")


def contact_hash(contact: str) -> str:
    contact = contact.strip().lower()
    return keyed_hash("contact", contact) if contact else ""


# --- Voting codes ------------------------------------------------------------------------------------------
# Crockford's base32 alphabet: no I, L, O, U, so a code read aloud or off paper is unambiguous; on input
# O is read as 0 and I, L as 1. 12 symbols x 5 bits = 60 bits of entropy from `secrets`.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
_CODE_INPUT_MAP = str.maketrans({"O": "0", "I": "1", "L": "1"})


def format_code(symbols: str) -> str:
    return "-".join(symbols[i : i + 4] for i in range(0, len(symbols), 4))


def code_from_int(value: int) -> str:
    symbols = []
    for _ in range(CODE_LENGTH):
        value, r = divmod(value, 32)
        symbols.append(CODE_ALPHABET[r])
    return format_code("".join(symbols))


def new_code() -> str:
    """A fresh random code like "7K2M-QX9D-B4TN" (60 bits from the OS's CSPRNG)."""
    import secrets

    return code_from_int(secrets.randbits(5 * CODE_LENGTH))


def normalize_code(text: str) -> str | None:
    """The code's 12 symbols, or None if the text cannot be a code."""
    symbols = "".join(ch for ch in text.upper() if ch not in " -\t").translate(_CODE_INPUT_MAP)
    if len(symbols) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in symbols):
        return None
    return symbols


def code_hash(symbols: str) -> str:
    return keyed_hash("code", symbols)
