"""Receipt codes: shown once to the voter, stored only as a SHA-256 hash on the ballot.

A receipt proves that a ballot is in the published ballot file (inclusion), never what it contains: the
published receipt list and the ballot contents are ordered independently, so a voter cannot prove how they
voted (no vote selling). The code is 80 random bits written as 16 characters of Crockford's base32 in groups
of four ("7KQ2-MX9D-…"): easy to read aloud and to type back, no I/L/O/U to confuse.
"""

from __future__ import annotations

import hashlib
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
GROUPS = 4
GROUP_LEN = 4
# Look-alikes a person may type for a Crockford digit.
_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def receipt_normalize(code: str) -> str:
    """Upper-case, drop spaces and dashes, fix look-alike letters: what the voter typed -> canonical."""
    return "".join(ch for ch in code.upper() if ch.isalnum()).translate(_TYPOS)


def receipt_hash(code: str) -> str:
    return hashlib.sha256(f"pb-receipt:{receipt_normalize(code)}".encode()).hexdigest()


def receipt_new() -> tuple[str, str]:
    """A fresh receipt: (code to show once, hash to store)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LEN))
    code = "-".join(raw[i : i + GROUP_LEN] for i in range(0, len(raw), GROUP_LEN))
    return code, receipt_hash(code)


def receipt_unshown_hash() -> str:
    """A receipt hash for a ballot whose voter gets no receipt (paper ballots): random, never shown."""
    return receipt_hash(secrets.token_hex(16))
