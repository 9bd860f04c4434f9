"""The shape every Ed25519 key-generating command shares (`audit_keygen`, `council_keygen`): refuse to
replace a key without --force, write the private key owner-only, print the public key, its hex and its
fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class KeygenCommand(BaseCommand):
    """Subclasses set `help`, `force_help`, `written` (what the file holds) and the two functions."""

    force_help = "replace an existing key"
    written = "private key"
    key_path: Callable[[], Path]
    key_generate: Callable[..., Any]  # (path, overwrite=bool) -> info with .pem, .raw_hex, .fingerprint

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help=self.force_help)
        parser.add_argument("--public-out", type=Path, help="also write the public key (PEM) to this file")

    def handle(self, *args, force=False, public_out=None, **options):
        path = self.key_path()
        try:
            info = self.key_generate(path, overwrite=force)
        except FileExistsError:
            raise CommandError(f"{path} exists; use --force to replace it") from None
        if public_out:
            public_out.write_text(info.pem)
        self.stdout.write(f"{self.written} written to {path} (mode 0600; back it up offline)\n")
        self.stdout.write(info.pem)
        self.stdout.write(f"public key (hex): {info.raw_hex}\n")
        self.stdout.write(f"fingerprint (SHA-256 of the raw public key): {info.fingerprint}\n")
