"""Stage 6, certification: the council signs the result. `election_certify` writes the result manifest
(tally.engine.manifest: the definition, every file's hash, the count, the sign-offs, the audit anchor),
signs it with the council's Ed25519 key, renders and PAdES-signs the PDF (tally.certification.pdf,
tally.certification.signing) and stores everything atomically. `certification_check` re-checks a
certified election's records on the server."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.ballotbox.sealing import secrecy_summary
from ballots.definition import frozen_definition
from ballots.exceptions import CountMismatch
from ballots.models import (
    BallotLog,
    RollSnapshot,
)
from ballots.reconciliation.selectors import reconciliation_manifest
from ballots.reconciliation.services import reconciliation_require_resolved
from pb.core.audit import audit_record, audit_verify
from pb.core.exceptions import DomainError, PhaseError
from pb.core.models import AuditHead, Election, Phase
from pb.core.permissions import is_council, require
from pb.core.services import election_advance
from tally import publication
from tally.certification import records
from tally.counting import official_run
from tally.engine import auditlog
from tally.engine import manifest as mf
from tally.engine.canonical import sha256_hex
from tally.filestore import (
    audit_file,
    build_files,
    election_dir,
    files_store,
    staging_discard,
    staging_open,
    staging_publish_on_commit,
    stored_file,
)
from tally.models import (
    Certification,
    ExportFile,
    SignOff,
)
from tally.signoff import signoff_status


def _manifest(
    election, run, definition, sha, files, audit_seq, audit_head, fingerprint, at, pdf_certificate
) -> dict:
    log = BallotLog.objects.get(election=election)
    snap = RollSnapshot.objects.filter(election=election).first()
    return {
        "format": mf.MANIFEST_FORMAT,
        "election": {"slug": election.slug, "name": election.name, "city": election.city},
        "definition": definition,
        "definition_sha256": sha,
        "roll_snapshot": {"entries": snap.entries, "sha256": snap.sha256} if snap else definition["roll"],
        "ballot_log": {"head": log.head, "batches": log.seq, "ballots": log.ballots},
        # The audit head at certification with the audit key's signed checkpoint of it (pb.core.audit).
        "audit_log": publication.audit_log_anchor(election=election, seq=audit_seq, head=audit_head),
        # Digests of the roll's companions: participations, receipts, paper flags
        # (tally.certification.records).
        **records.manifest_records(election),
        "files": files,
        "engine": {"name": run.engine_name, "version": run.engine_version},
        "rule": definition["counting"],
        "pots": run.summary,
        # Per pot: participations and ballots per channel, and the resolutions of their differences.
        "reconciliation": reconciliation_manifest(election),
        # Pots with fewer than K ballots in all were sealed as one batch: their secrecy is weaker.
        "secrecy": secrecy_summary(definition, run.summary, election),
        "certified_at": at.isoformat(),
        "council_key_fingerprint": fingerprint,
        # Binds the PAdES certificate that signs the PDF to the council's Ed25519 key (issue 9).
        "pdf_signing_certificate": pdf_certificate,
        # Who independently re-counted, how (an offline count uploaded, or a re-count on the server) and
        # whether it matched: the standing sign-offs, withdrawn ones are in the audit log.
        "signoffs": [
            {
                "official": s.official.get_full_name() or s.official.get_username(),
                "method": s.method,
                "matched": s.matched,
            }
            for s in SignOff.objects.filter(run=run, withdrawn_at__isnull=True)
            .select_related("official")
            .order_by("created_at", "pk")
        ],
    }


class AlreadyCertified(PhaseError):
    status_code = 409


def _refuse_if_certified(actor, election: Election) -> None:
    """On the locked row: a second certification (a double click, or the losing side of a race) is told who
    certified and when. Someone without the council's role is told that instead, by require()."""
    done = Certification.objects.filter(election=election).select_related("certified_by").first()
    if done is None:
        return
    if not is_council(actor, election):
        require(actor, "tally.certify", election)
    who = done.certified_by.get_full_name() or done.certified_by.get_username()
    raise AlreadyCertified(
        _("This result was already certified by %(who)s at %(at)s.")
        % {"who": who, "at": timezone.localtime(done.certified_at).strftime("%Y-%m-%d %H:%M:%S %Z")}
    )


def certify_precheck(*, actor, election: Election) -> None:
    """What refuses a certification at once, checked on the locked election row before a job is queued for
    it (tally.jobs): already certified, no permission, no quorum of matching re-counts, differences not
    resolved, no council key or PDF certificate. The job checks all of it again, and the files."""
    from tally.certification import signing

    _refuse_if_certified(actor, election)
    require(actor, "tally.certify", election)
    _require_quorum(election)
    reconciliation_require_resolved(election)
    signing.load_private_key()
    signing.load_pades_certificate()


def _require_quorum(election: Election):
    run = official_run(election)
    status = signoff_status(election)
    if run is None or not status["reached"]:
        raise PhaseError(
            _("Certification needs %(q)s officials whose independent re-counts match (now %(m)s%(x)s).")
            % {
                "q": status["quorum"],
                "m": status["matched"],
                "x": _(", with a mismatch to resolve") if status["mismatched"] else "",
            }
        )
    return run


def _noop(**_kw) -> None:
    pass


@transaction.atomic
def election_certify(*, actor, election: Election, progress: Callable[..., None] = _noop) -> Certification:
    """Certify and sign the result. `progress(phase=..., done=..., total=...)` is told each step (the job
    page shows it; tally.jobs runs this as a job)."""
    from tally.certification import pdf, signing

    # Lock the row FIRST, then look: council members certifying at once queue here, and all but the first
    # find the certification and stop before building anything (the phase used to be read before the lock,
    # and a losing request rewrote the published audit.jsonl, then failed with a 500).
    election = Election.objects.select_for_update().get(pk=election.pk)
    _refuse_if_certified(actor, election)
    require(actor, "tally.certify", election)
    run = _require_quorum(election)
    reconciliation_require_resolved(election)
    progress(phase=_("Checking the audit log and the counted files"), done=0, total=4)
    # The ballot table was checked against the sealed log when the files were exported; what is certified is
    # those files, re-checked here by hash (certification_check re-checks the table at any time).
    problems = []
    _head, _n, audit_bad = audit_verify()
    if audit_bad:
        problems.append(_("audit log: %(p)s") % {"p": f"#{audit_bad[0].seq} {audit_bad[0].reason}"})
    for name, digest in run.input_hashes.items():
        try:
            stored_file(election, name)
        except (DomainError, OSError):
            problems.append(_("%(name)s changed after the count") % {"name": name})
        if (
            ExportFile.objects.filter(election=election, name=name).values_list("sha256", flat=True).first()
            != digest
        ):
            problems.append(_("%(name)s is not the file that was counted") % {"name": name})
    snap = RollSnapshot.objects.filter(election=election).first()
    frozen_roll = frozen_definition(election)[0]["roll"]
    if snap is not None and frozen_roll is not None and snap.sha256 != frozen_roll["sha256"]:
        problems.append(_("the voter roll snapshot differs from the one frozen at opening"))
    if problems:
        raise CountMismatch(_("Certification refused: %(p)s") % {"p": "; ".join(problems)})
    key = signing.load_private_key()
    info = signing.public_info(key.public_key())
    # Every certified PDF is PAdES-signed: refuse before anything is written when no certificate is set.
    pdf_certificate = signing.load_pades_certificate()
    at = timezone.now().replace(microsecond=0)
    head = AuditHead.objects.select_for_update().get(pk=1)
    audit = audit_file(head.seq)
    files = dict(run.input_hashes)
    files[mf.AUDIT_FILE] = sha256_hex(audit)  # stored with the PDF below, published on commit
    definition, sha = frozen_definition(election)
    manifest = _manifest(
        election,
        run,
        definition,
        sha,
        files,
        head.seq,
        head.hash,
        info.fingerprint,
        at,
        pdf_certificate.manifest_entry(),
    )
    progress(phase=_("Signing the result manifest"), done=1)
    body = mf.manifest_bytes(manifest)
    signature = key.sign(body).hex()
    cert = Certification.objects.create(
        election=election,
        run=run,
        manifest=body.decode(),
        manifest_sha256=sha256_hex(body),
        signature=signature,
        key_fingerprint=info.fingerprint,
        certified_by=actor,
        certified_at=at,
    )
    progress(phase=_("Rendering and signing the result PDF"), done=2)
    pdf_bytes = pdf.render_result_pdf(election=election, certification=cert)
    progress(phase=_("Storing the certified files"), done=3)
    name = f"result-{election.slug}.pdf"
    # Both files are written to a staging folder now and moved into place only on commit: a request that
    # fails from here on (or whose transaction is rolled back) leaves the published folder untouched.
    staging = staging_open(election)
    try:
        digest = files_store(election, {mf.AUDIT_FILE: audit, name: pdf_bytes}, staging=staging)[name]
        cert.pdf_name, cert.pdf_sha256 = name, digest
        cert.save(update_fields=["pdf_name", "pdf_sha256"])
        audit_record(
            actor=actor,
            action="tally.certified",
            election=election,
            obj=cert,
            data={"manifest_sha256": cert.manifest_sha256, "pdf_sha256": digest, "key": info.fingerprint},
        )
        election_advance(actor=actor, election=election, to_phase=Phase.CERTIFIED)
    except BaseException:
        staging_discard(staging)
        raise
    staging_publish_on_commit(election, staging)
    return cert


def certification_check(election: Election):
    """Server-side verification of a certified election against the database as it is now: rebuilds every
    published file from the tables (ballots, log, audit) and runs the independent verifier on them, so a
    ballot row or an audit entry changed after certification makes it FAIL."""
    from tally.engine import verify

    cert = Certification.objects.get(election=election)
    manifest = json.loads(cert.manifest)
    files = build_files(election, audit_seq=manifest["audit_log"]["seq"])
    stored_problem = ""
    if ExportFile.objects.filter(election=election, name=auditlog.PUBLICATION_FILE).exists():
        # Published: the signed publication record as stored, and the audit log rebuilt up to its head.
        try:
            for name in (auditlog.PUBLICATION_FILE, auditlog.PUBLICATION_SIG):
                files[name] = stored_file(election, name)
            files[mf.AUDIT_FILE] = audit_file(
                json.loads(files[auditlog.PUBLICATION_FILE])["audit_log"]["seq"]
            )
        except (DomainError, OSError, ValueError, KeyError, TypeError) as exc:
            stored_problem = str(getattr(exc, "message", exc))
    pdf_bytes = (election_dir(election) / cert.pdf_name).read_bytes()
    report = verify.verify_pdf(pdf_bytes, public_key=bytes.fromhex(_public_raw_hex(manifest)), files=files)
    if stored_problem:
        report.add(_("stored publication record"), False, stored_problem)
    # The records behind the ballots, recomputed from the tables (tally.certification.records), and the whole
    # audit log with its keys and signed checkpoints (pb.core.audit.audit_verify).
    for name, ok, detail in records.record_checks(election, manifest):
        report.add(name, ok, detail)
    _head, count, problems = audit_verify()
    report.add(
        _("audit log keys and signed checkpoints"),
        not problems,
        "; ".join(f"entry #{p.seq}: {p.reason}" for p in problems[:3]) or _("%(n)s entries") % {"n": count},
    )
    return report


def _public_raw_hex(manifest: dict) -> str:
    from tally.certification import signing

    info = signing.council_public_key()
    if info is None:
        raise DomainError(_("The council key is not available on this server."))
    return info.raw_hex
