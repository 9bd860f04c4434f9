"""Generate the council's Ed25519 signing key (file at settings.PB_SIGNING_KEY_FILE, mode 0600)."""

from pb.core.keygen import KeygenCommand
from tally.certification import signing


class Command(KeygenCommand):
    help = "Generate the council's Ed25519 key; print the public key and its fingerprint."
    force_help = (
        "replace an existing key (old results then verify only with the old public key: keep it published)"
    )
    key_path = staticmethod(signing.key_path)
    key_generate = staticmethod(signing.generate)
