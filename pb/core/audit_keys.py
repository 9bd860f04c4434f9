"""The server's audit key: an Ed25519 key, kept outside the database (settings.PB_AUDIT_KEY_FILE, mode 0600),
that signs the audit log's checkpoints (pb.core.audit.audit_checkpoint). Distinct from the council key: the
server signs checkpoints without anyone present; the council signs results.

Made by `manage.py audit_keygen`, or on first use when DEBUG is on (a local demo needs no set-up)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils.translation import gettext as _

from pb.core.exceptions import DomainError
from pb.core.secretfiles import private_key_pem, write_secret


class AuditKeyMissing(DomainError):
    status_code = 409


@dataclass(frozen=True)
class AuditPublicKey:
    raw_hex: str
    fingerprint: str
    pem: str


def audit_key_path() -> Path:
    return Path(settings.PB_AUDIT_KEY_FILE)


def audit_key_generate(path: Path, *, overwrite: bool = False) -> AuditPublicKey:
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    key = Ed25519PrivateKey.generate()
    write_secret(path, private_key_pem(key))
    return audit_public_info(key.public_key())


def audit_public_info(key: Ed25519PublicKey) -> AuditPublicKey:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return AuditPublicKey(raw_hex=raw.hex(), fingerprint=hashlib.sha256(raw).hexdigest(), pem=pem.decode())


def audit_key_load(*, create: bool = False) -> Ed25519PrivateKey:
    """The audit key. Missing: created when `create` and DEBUG are both on, else AuditKeyMissing."""
    path = audit_key_path()
    if not path.exists() and create and settings.DEBUG:
        audit_key_generate(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise AuditKeyMissing(
            _(
                "The audit signing key is not set up (PB_AUDIT_KEY_FILE=%(path)s): "
                "run “manage.py audit_keygen” on the server."
            )
            % {"path": path}
        ) from None
    except ValueError:
        raise AuditKeyMissing(_("%(path)s is not an unencrypted PEM private key.") % {"path": path}) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyMissing(_("The audit key file does not hold an Ed25519 key."))
    return key


def audit_public_key() -> AuditPublicKey | None:
    try:
        return audit_public_info(audit_key_load().public_key())
    except AuditKeyMissing:
        return None
