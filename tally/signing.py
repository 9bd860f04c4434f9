"""The council's keys. The Ed25519 private key lives outside the database: a PEM file at
settings.PB_SIGNING_KEY_FILE (mode 0600), or the PB_SIGNING_KEY environment variable. An optional X.509
certificate and its key (ECDSA or RSA; settings.PB_SIGNING_CERT_FILE / PB_SIGNING_CERT_KEY_FILE) sign the PDF
itself (PAdES), because PDF readers cannot check Ed25519."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils.translation import gettext as _

from pb.core.exceptions import DomainError
from tally.engine.manifest import key_fingerprint


class KeyMissing(DomainError):
    status_code = 409


@dataclass(frozen=True)
class PublicKeyInfo:
    pem: str
    raw_hex: str
    fingerprint: str


def key_path() -> Path:
    return Path(settings.PB_SIGNING_KEY_FILE)


def generate(path: Path, *, overwrite: bool = False) -> PublicKeyInfo:
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Create with 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)
    return public_info(key.public_key())


def _key_from_environment() -> Ed25519PrivateKey | None:
    """PB_SIGNING_KEY (setting, else environment variable): a PEM private key or the 32-byte seed in hex.
    For hosts that inject secrets as environment variables instead of files."""
    text = (getattr(settings, "PB_SIGNING_KEY", "") or os.environ.get("PB_SIGNING_KEY", "")).strip()
    if not text:
        return None
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyMissing(_("PB_SIGNING_KEY does not hold an Ed25519 key."))
        return key
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))
    except ValueError:
        raise KeyMissing(_("PB_SIGNING_KEY must be a PEM key or 64 hex digits.")) from None


def load_private_key() -> Ed25519PrivateKey:
    from_env = _key_from_environment()
    if from_env is not None:
        return from_env
    path = key_path()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyMissing(
            _("The council signing key is not set up: run “manage.py council_keygen” on the server.")
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMissing(_("The council signing key file does not hold an Ed25519 key."))
    return key


def public_info(key: Ed25519PublicKey) -> PublicKeyInfo:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return PublicKeyInfo(pem=pem.decode(), raw_hex=raw.hex(), fingerprint=key_fingerprint(raw))


def council_public_key() -> PublicKeyInfo | None:
    try:
        return public_info(load_private_key().public_key())
    except KeyMissing:
        return None


def sign(message: bytes) -> tuple[bytes, PublicKeyInfo]:
    key = load_private_key()
    return key.sign(message), public_info(key.public_key())


def pades_credentials() -> tuple[Path, Path] | None:
    """(certificate, key) files for the PAdES signature, if configured and present."""
    cert = getattr(settings, "PB_SIGNING_CERT_FILE", "") or ""
    key = getattr(settings, "PB_SIGNING_CERT_KEY_FILE", "") or ""
    if cert and key and Path(cert).exists() and Path(key).exists():
        return Path(cert), Path(key)
    return None
