"""The election's files on disk (PB_VAR_DIR/elections/<slug>/): building the ballot, log, receipt and audit
files from the database (`build_files`), storing them with their hashes (`files_store`, an `ExportFile`
row per file), and the staging folder that certification and publication fill inside their transaction
and move into place only when it commits."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.ballotbox.sealing import PotRows, ballot_lines_by_pot, batch_dict
from ballots.definition import frozen_definition
from ballots.exceptions import CountMismatch
from ballots.models import LogBatch
from pb.core.audit import _entry_payload
from pb.core.exceptions import DomainError
from pb.core.models import AuditEvent, Election, Pot
from tally.engine import auditlog, pabulib
from tally.engine import manifest as mf
from tally.engine.canonical import canonical_json, sha256_hex
from tally.models import ExportFile, ExportKind


def election_dir(election: Election) -> Path:
    return Path(settings.PB_VAR_DIR) / "elections" / election.slug


def build_files(
    election: Election, *, audit_seq: int | None = None, lines: PotRows | None = None
) -> dict[str, bytes]:
    """The published files, built from the database: ballots per pot (.jsonl and .pb), log, receipts and,
    given `audit_seq`, the audit log up to that entry."""
    definition, _sha = frozen_definition(election)
    lines = lines if lines is not None else ballot_lines_by_pot(election)
    files: dict[str, bytes] = {}
    for pot_def in definition["pots"]:
        slug = pot_def["slug"]
        rows = sorted(lines.get(slug, []), key=lambda row: row[0])  # content order: the canonical line bytes
        pot_lines = [row[0] for row in rows]
        files[mf.jsonl_file(slug)] = mf.jsonl_bytes(pot_lines)
        pb = mf.pabulib_election(definition, pot_def, pot_lines, [(row[1], row[2]) for row in rows])
        files[mf.pb_file(slug)] = pabulib.write(pb).encode()
    batches = list(LogBatch.objects.filter(election=election).order_by("seq"))
    files[mf.LOG_FILE] = mf.jsonl_bytes([mf.canonical_fast(batch_dict(b, election.slug)) for b in batches])
    receipts = sorted(r for b in batches for r in b.receipts)
    files[mf.RECEIPTS_FILE] = "".join(r + "\n" for r in receipts).encode()
    if audit_seq is not None:
        files[mf.AUDIT_FILE] = audit_file(audit_seq)
    return files


def audit_file(upto_seq: int) -> bytes:
    entries = AuditEvent.objects.filter(seq__lte=upto_seq).order_by("seq").iterator(2000)
    return mf.jsonl_bytes([canonical_json({"hash": e.hash, "payload": _entry_payload(e)}) for e in entries])


_KIND = {".pb": ExportKind.PABULIB, ".jsonl": ExportKind.JSONL, ".pdf": ExportKind.PDF}


def _kind(name: str) -> str:
    if name == mf.LOG_FILE:
        return ExportKind.LOG
    if name == mf.AUDIT_FILE:
        return ExportKind.AUDIT
    if name == mf.RECEIPTS_FILE:
        return ExportKind.RECEIPTS
    if name in (auditlog.PUBLICATION_FILE, auditlog.PUBLICATION_SIG):
        return ExportKind.PUBLICATION
    return _KIND[Path(name).suffix]


def files_store(
    election: Election, files: dict[str, bytes], *, staging: Path | None = None
) -> dict[str, str]:
    """Write files read-only under the election's directory and record their hashes. With `staging` (a
    folder from `staging_open`), the files are written there now and moved into place only when the
    transaction commits (`staging_publish_on_commit`): a rolled-back request changes nothing on disk."""
    folder = election_dir(election)
    folder.mkdir(parents=True, exist_ok=True)
    pots = {p.slug: p for p in Pot.objects.filter(election=election)}
    hashes = {}
    now = timezone.now()
    for name, data in files.items():
        path = folder / name
        tmp = (staging / name) if staging is not None else folder / f".{name}.{secrets.token_hex(4)}"
        tmp.write_bytes(data)
        os.chmod(tmp, 0o444)
        if staging is None:
            os.replace(tmp, path)
        digest = sha256_hex(data)
        hashes[name] = digest
        slug = name.removeprefix("ballots-").rsplit(".", 1)[0] if name.startswith("ballots-") else None
        ExportFile.objects.update_or_create(
            election=election,
            name=name,
            defaults={
                "pot": pots.get(slug) if slug else None,
                "kind": _kind(name),
                "sha256": digest,
                "size": len(data),
                "created_at": now,
            },
        )
    return hashes


def staging_open(election: Election) -> Path:
    """A fresh hidden folder next to the published files (same file system, so the final move is an atomic
    rename)."""
    folder = election_dir(election)
    folder.mkdir(parents=True, exist_ok=True)
    # Callers hold the election row lock, so any staging folder still here is what a transaction rolled back
    # after its service returned (Django has no on-rollback hook) left behind.
    for old in folder.glob(".staging-*"):
        staging_discard(old)
    staging = folder / f".staging-{secrets.token_hex(8)}"
    staging.mkdir()
    return staging


def staging_discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def staging_publish_on_commit(election: Election, staging: Path) -> None:
    """Move every staged file into place once the transaction has committed (never before: a losing or
    failing request must leave the published folder as it was)."""
    folder = election_dir(election)

    def publish() -> None:
        for path in sorted(staging.iterdir()):
            os.replace(path, folder / path.name)
        staging.rmdir()

    # robust: the database has committed; a failed move is logged (the staged copy stays for the operator)
    # and shows up as a file that no longer matches its hash (stored_file, certification_check).
    transaction.on_commit(publish, robust=True)


def stored_file(election: Election, name: str) -> bytes:
    """A stored file's bytes, checked against its recorded hash."""
    rec = ExportFile.objects.filter(election=election, name=name).first()
    if rec is None:
        raise DomainError(_("No such file."))
    data = (election_dir(election) / name).read_bytes()
    if sha256_hex(data) != rec.sha256:
        raise CountMismatch(
            _("The stored file %(name)s no longer matches its recorded hash.") % {"name": name}
        )
    return data
