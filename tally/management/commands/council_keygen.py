"""Generate the council's Ed25519 signing key (file at settings.PB_SIGNING_KEY_FILE, mode 0600)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tally.certification import signing


class Command(BaseCommand):
    help = "Generate the council's Ed25519 key; print the public key and its fingerprint."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace an existing key (old results then "
            "verify only with the old public key: keep it published)",
        )
        parser.add_argument("--public-out", type=Path, help="also write the public key (PEM) to this file")

    def handle(self, *args, force=False, public_out=None, **options):
        path = signing.key_path()
        try:
            info = signing.generate(path, overwrite=force)
        except FileExistsError:
            raise CommandError(f"{path} exists; use --force to replace it") from None
        if public_out:
            public_out.write_text(info.pem)
        self.stdout.write(f"private key written to {path} (mode 0600; back it up offline)\n")
        self.stdout.write(info.pem)
        self.stdout.write(f"public key (hex): {info.raw_hex}\n")
        self.stdout.write(f"fingerprint (SHA-256 of the raw public key): {info.fingerprint}\n")
