"""Make the council's PAdES certificate: a self-signed ECDSA P-256 X.509 certificate and its key (mode 0600)
at settings.PB_SIGNING_CERT_FILE / PB_SIGNING_CERT_KEY_FILE. Every result PDF is signed with it, and the
signed manifest names its SHA-256 fingerprint: that binds it to the council's Ed25519 key
(docs/verification.md)."""

from django.core.management.base import BaseCommand, CommandError

from tally.certification import signing


class Command(BaseCommand):
    help = (
        "Make the council's self-signed ECDSA P-256 certificate for the result PDFs; print its fingerprint."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--common-name", required=True, help="subject CN, e.g. 'Riverton City Council - results'"
        )
        parser.add_argument("--organization", default="", help="subject O, e.g. 'Riverton City Council'")
        parser.add_argument("--country", default="", help="subject C: two letters, e.g. NL")
        parser.add_argument("--years", type=int, default=5, help="validity in years (1-100, default 5)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace an existing certificate (results certified before keep naming the old one)",
        )

    def handle(self, *args, common_name, organization, country, years, force=False, **options):
        common_name, organization, country = common_name.strip(), organization.strip(), country.strip()
        if not common_name:
            raise CommandError("--common-name must not be empty")
        if country and (len(country) != 2 or not country.isalpha() or not country.isascii()):
            raise CommandError("--country must be a two-letter country code, e.g. NL")
        if not 1 <= years <= 100:
            raise CommandError("--years must be between 1 and 100")
        cert_file, key_file = signing.pades_paths()
        if not str(cert_file) or str(cert_file) == "." or not str(key_file) or str(key_file) == ".":
            raise CommandError("set PB_SIGNING_CERT_FILE and PB_SIGNING_CERT_KEY_FILE first")
        try:
            info = signing.generate_pades_certificate(
                cert_file,
                key_file,
                common_name=common_name,
                organization=organization,
                country=country.upper(),
                years=years,
                overwrite=force,
            )
        except FileExistsError as exc:
            raise CommandError(f"{exc} exists; use --force to replace it") from None
        self.stdout.write(f"certificate written to {info.cert_file}\n")
        self.stdout.write(f"private key written to {info.key_file} (mode 0600; back it up offline)\n")
        self.stdout.write(f"subject: {info.subject}\n")
        self.stdout.write(f"valid until: {info.not_after.date().isoformat()}\n")
        self.stdout.write(f"fingerprint (SHA-256 of the DER certificate): {info.sha256}\n")
