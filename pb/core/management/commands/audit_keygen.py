"""Generate the server's audit key (Ed25519, file at settings.PB_AUDIT_KEY_FILE, mode 0600)."""

from pb.core import audit_keys
from pb.core.keygen import KeygenCommand


class Command(KeygenCommand):
    help = "Generate the Ed25519 key that signs the audit log's checkpoints; print its public key."
    force_help = (
        "replace an existing key (checkpoints signed with the old key then no longer verify here: "
        "keep its public key published)"
    )
    written = "audit key"
    key_path = staticmethod(audit_keys.audit_key_path)
    key_generate = staticmethod(audit_keys.audit_key_generate)
