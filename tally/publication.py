"""Stage 7, publication: `election_publish` and the signed publication record (docs/verification.md section
7b): what the council signs when it publishes a
certified result, so that the audit entries written after certification (the certification itself, the
phase changes) are covered by a signed record too.

publication.json = canonical JSON of
  {"format": "pb-publication/1", "election": <slug>, "manifest_sha256": <SHA-256 of manifest.json>,
   "audit_log": {"head", "seq", "checkpoint": {the audit key's signed checkpoint at that head}},
   "files": {"audit.jsonl": <SHA-256 of the published audit file, entries 1..seq>},
   "published_at": <ISO time>, "council_key_fingerprint": <fingerprint>}
publication.sig = hex Ed25519 signature (council key) of those bytes and "\\n".
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from pb.core.audit import audit_checkpoint, checkpoint_public
from pb.core.models import AuditHead, Election, Phase
from pb.core.permissions import require
from pb.core.services import election_advance
from proposals.follows.services import followers_notify_result
from tally.engine import auditlog
from tally.engine import manifest as mf
from tally.engine.canonical import canonical_json, sha256_hex
from tally.filestore import audit_file, election_dir, files_store, staging_discard, staging_publish_on_commit
from tally.models import Certification
from tally.selectors import certified_funded_codes


def audit_log_anchor(*, election: Election, seq: int, head: str) -> dict[str, Any]:
    """The manifest's "audit_log": the head at certification and the audit key's signed checkpoint of it.
    Called while election_certify holds the head row's lock, so the checkpoint is at exactly `seq`."""
    checkpoint = audit_checkpoint(reason="certification", election=election)
    if (checkpoint.seq, checkpoint.head) != (seq, head):
        raise RuntimeError("the audit head moved while certifying")  # the head row lock makes this impossible
    return {"head": head, "seq": seq, "checkpoint": checkpoint_public(checkpoint)}


def publication_files(*, election: Election, files_of_audit) -> dict[str, bytes]:
    """Build the publication record at the current audit head (to be called inside the publishing
    transaction, after the phase change: the head row is locked, so what is signed is what commits).
    `files_of_audit(seq)` gives the audit file up to `seq` (tally.filestore.audit_file). Returns the files to
    store: the extended audit.jsonl, publication.json and publication.sig."""
    from tally.certification import signing

    cert = Certification.objects.get(election=election)
    head = AuditHead.objects.select_for_update().get(pk=1)
    checkpoint = audit_checkpoint(reason="publication", election=election)
    audit = files_of_audit(head.seq)
    key = signing.load_private_key()
    info = signing.public_info(key.public_key())
    record: dict[str, Any] = {
        "format": auditlog.PUBLICATION_FORMAT,
        "election": election.slug,
        "manifest_sha256": cert.manifest_sha256,
        "audit_log": {"head": head.hash, "seq": head.seq, "checkpoint": checkpoint_public(checkpoint)},
        "files": {mf.AUDIT_FILE: sha256_hex(audit)},
        "published_at": timezone.now().replace(microsecond=0).isoformat(),
        "council_key_fingerprint": info.fingerprint,
    }
    body = canonical_json(record)
    return {
        mf.AUDIT_FILE: audit,
        auditlog.PUBLICATION_FILE: body,
        auditlog.PUBLICATION_SIG: (key.sign(body).hex() + "\n").encode(),
    }


@transaction.atomic
def election_publish(*, actor, election: Election) -> Election:
    """Publish a certified result. The council signs a publication record (tally.publication) at the audit
    head after the phase change, so the entries written since certification are covered too, and the
    published audit.jsonl is extended up to it; the files move into place when the transaction commits."""
    require(actor, "election.publish", election)
    election = election_advance(actor=actor, election=election, to_phase=Phase.PUBLISHED)
    # Followers of every project on the ballot learn whether it was funded (once per election).
    followers_notify_result(election=election, funded_codes=certified_funded_codes(election))
    # A staging folder of our own, without staging_open's clean-up: certifying and publishing in one
    # transaction (the demo) must not discard the certification's files still waiting for the commit.
    staging = election_dir(election) / f".staging-{secrets.token_hex(8)}"
    staging.mkdir(parents=True)
    try:
        files_store(
            election,
            publication_files(election=election, files_of_audit=audit_file),
            staging=staging,
        )
    except BaseException:
        staging_discard(staging)
        raise
    staging_publish_on_commit(election, staging)
    return election
