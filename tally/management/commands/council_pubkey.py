"""Print the council's public key (PEM) and fingerprint, from the private key file."""

from django.core.management.base import BaseCommand, CommandError

from tally.certification import signing


class Command(BaseCommand):
    help = "Print the council's public key (PEM) and its fingerprint."

    def handle(self, *args, **options):
        info = signing.council_public_key()
        if info is None:
            raise CommandError(f"no key at {signing.key_path()}: run council_keygen")
        self.stdout.write(info.pem)
        self.stdout.write(f"fingerprint: {info.fingerprint}\n")
