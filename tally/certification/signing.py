"""The council's keys. The Ed25519 private key lives outside the database: a PEM file at
settings.PB_SIGNING_KEY_FILE (mode 0600), or the PB_SIGNING_KEY environment variable. An X.509 certificate and
its key (ECDSA or RSA; settings.PB_SIGNING_CERT_FILE / PB_SIGNING_CERT_KEY_FILE, made by `manage.py
council_certgen`) sign the PDF itself (PAdES), because PDF readers cannot check Ed25519. The certificate is
bound to the Ed25519 key by the signed manifest, which names the SHA-256 of its DER encoding."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils.translation import gettext as _

from pb.core.exceptions import DomainError
from pb.core.secretfiles import private_key_pem, write_secret
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
    key = Ed25519PrivateKey.generate()
    write_secret(path, private_key_pem(key))
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


# ------------------------------------------------------------------------------------------------ PAdES


@dataclass(frozen=True)
class PadesCertificate:
    """The certificate that PAdES-signs result PDFs, with its key file. `sha256` (of the DER encoding) and
    `subject` go into the signed manifest as "pdf_signing_certificate"."""

    cert_file: Path
    key_file: Path
    sha256: str
    subject: str
    not_after: dt.datetime

    def manifest_entry(self) -> dict[str, str]:
        return {"sha256": self.sha256, "subject": self.subject}


def pades_paths() -> tuple[Path, Path]:
    return (
        Path(getattr(settings, "PB_SIGNING_CERT_FILE", "") or ""),
        Path(getattr(settings, "PB_SIGNING_CERT_KEY_FILE", "") or ""),
    )


def certificate_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def load_pades_certificate(*, now: dt.datetime | None = None) -> PadesCertificate:
    """The configured PAdES certificate, checked: present, ECDSA or RSA (PDF readers cannot check Ed25519),
    its key file holds the matching private key, and valid now. Raises KeyMissing naming what to do."""
    cert_file, key_file = pades_paths()
    hint = _(
        "run “manage.py council_certgen” on the server "
        "(or set PB_SIGNING_CERT_FILE and PB_SIGNING_CERT_KEY_FILE)"
    )
    if not str(cert_file) or str(cert_file) == "." or not cert_file.is_file():
        raise KeyMissing(
            _("The certificate that signs the result PDF is not set up: %(hint)s.") % {"hint": hint}
        )
    if not str(key_file) or str(key_file) == "." or not key_file.is_file():
        raise KeyMissing(
            _("The private key of the PDF signing certificate is missing: %(hint)s.") % {"hint": hint}
        )
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except ValueError:
        raise KeyMissing(
            _("%(file)s is not a PEM X.509 certificate: %(hint)s.") % {"file": cert_file, "hint": hint}
        ) from None
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise KeyMissing(_("%(file)s is not an unencrypted PEM private key.") % {"file": key_file}) from None
    if not isinstance(cert.public_key(), ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise KeyMissing(
            _("The PDF signing certificate must hold an ECDSA or RSA key (PDF readers cannot check Ed25519).")
        )
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, pub) != cert.public_key().public_bytes(
        serialization.Encoding.DER, pub
    ):
        raise KeyMissing(
            _("The key in %(key)s does not belong to the certificate %(cert)s.")
            % {"key": key_file, "cert": cert_file}
        )
    now = now or dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise KeyMissing(
            _("The PDF signing certificate is not valid now (valid %(a)s to %(b)s): %(hint)s.")
            % {
                "a": cert.not_valid_before_utc.date().isoformat(),
                "b": cert.not_valid_after_utc.date().isoformat(),
                "hint": hint,
            }
        )
    return PadesCertificate(
        cert_file=cert_file,
        key_file=key_file,
        sha256=certificate_sha256(cert),
        subject=cert.subject.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
    )


def _years_later(when: dt.datetime, years: int) -> dt.datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def generate_pades_certificate(
    cert_file: Path,
    key_file: Path,
    *,
    common_name: str,
    organization: str = "",
    country: str = "",
    years: int = 5,
    overwrite: bool = False,
) -> PadesCertificate:
    """A self-signed ECDSA P-256 certificate for the PAdES signature (key usage: digital signature and
    non-repudiation). Self-signed is enough: what binds it to the council is the Ed25519-signed manifest."""
    if not overwrite and (cert_file.exists() or key_file.exists()):
        raise FileExistsError(cert_file if cert_file.exists() else key_file)
    if not 1 <= years <= 100:
        raise ValueError("years must be between 1 and 100")
    attrs = []
    if country:
        attrs.append(x509.NameAttribute(x509.NameOID.COUNTRY_NAME, country))
    if organization:
        attrs.append(x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name))
    name = x509.Name(attrs)
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(_years_later(start, years))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_secret(key_file, private_key_pem(key))
    cert_file.parent.mkdir(parents=True, exist_ok=True)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return PadesCertificate(
        cert_file=cert_file,
        key_file=key_file,
        sha256=certificate_sha256(cert),
        subject=cert.subject.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
    )
