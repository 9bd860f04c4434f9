"""Generate the server's audit key (Ed25519, file at settings.PB_AUDIT_KEY_FILE, mode 0600)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pb.core import audit_keys


class Command(BaseCommand):
    help = "Generate the Ed25519 key that signs the audit log's checkpoints; print its public key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace an existing key (checkpoints signed with the old key then no longer verify here: "
            "keep its public key published)",
        )
        parser.add_argument("--public-out", type=Path, help="also write the public key (PEM) to this file")

    def handle(self, *args, force=False, public_out=None, **options):
        path = audit_keys.audit_key_path()
        try:
            info = audit_keys.audit_key_generate(path, overwrite=force)
        except FileExistsError:
            raise CommandError(f"{path} exists; use --force to replace it") from None
        if public_out:
            public_out.write_text(info.pem)
        self.stdout.write(f"audit key written to {path} (mode 0600; back it up offline)\n")
        self.stdout.write(info.pem)
        self.stdout.write(f"public key (hex): {info.raw_hex}\n")
        self.stdout.write(f"fingerprint (SHA-256 of the raw public key): {info.fingerprint}\n")
