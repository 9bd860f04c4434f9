"""Voting-code letters as a job (pb.core.jobs): the request only queues it, a worker makes the codes and the
PDF, and the PDF waits on the server sealed to the official who asked for it, until they download it once.

The secrecy constraint: plaintext codes are never stored. So the worker seals the PDF (pb.core.sealedbox:
X25519 + HKDF-SHA256 + AES-256-GCM) to a public key made when the official started the job, and the private
key exists only while the official downloads. It is derived from two random halves kept apart:

- one in the official's server-side session (deleted with it: signing out, or the session expiring);
- one in an HttpOnly, SameSite=Strict cookie of their browser, scoped to the letters' page and not stored
  on the server.

So the database and the files alone (a backup, the database administrator, another official, a copy of the
sealed file) cannot open the letters, nor can the cookie alone: it takes the server's session of that
browser and that browser's cookie, i.e. the official's own signed-in browser (or someone who controls the
running server while they download, which no storage scheme prevents). The job row holds only the public
key; the sealed file is deleted once downloaded, and a batch not downloaded within LETTERS_MAX_AGE is
deleted and its codes voided (audited), so no voter is left with a code nobody received.

Exactly once: the codes, the job's "done" and this batch's record commit in one transaction (the job's,
pb.core.jobs.services.job_run), after the sealed file and the mail-merge file were written under names of
the job's own. A worker that dies earlier committed nothing: the retry (or the task taken back) chooses the
voters again and replaces both files. The slow part (laying out the letters) runs before the election's row
lock is taken; ballots.roll.codes.codes_issue then refuses the batch if any of its voters got a code
meanwhile, so no voter holds two active codes. A second delivery of a done job finds its codes and does
nothing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ballots.models import CodeLetterBatch, CodeStatus, VotingCode
from ballots.roll import codes as code_services
from ballots.roll.codes_pdf import code_sheets_pdf, public_identify_url
from pb.core import sealedbox
from pb.core.audit import audit_record
from pb.core.exceptions import DomainError, PermissionDenied, PhaseError
from pb.core.jobs.services import JobKind, job_kind_register, job_start
from pb.core.models import Election, Job, Pot
from pb.core.permissions import require
from pb.core.secretfiles import write_secret

KIND = "ballots.code_letters"
# How long finished letters wait for their download; then they are deleted and their codes voided.
LETTERS_MAX_AGE = dt.timedelta(hours=24)
# How long the browser keeps its half of the key: a queued job, a retry and the download must fit in it.
COOKIE_MAX_AGE = dt.timedelta(days=3)
SESSION_KEY = "pb_code_letters"
COOKIE_PREFIX = "pb_letters_"
_REFS_INFO = b"pb code letter references v1"


class LettersGone(DomainError):
    status_code = 410


# --- The key halves ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterKeys:
    """The two halves the private key is derived from: the browser's (cookie) and the session's."""

    browser: bytes
    session: bytes

    @classmethod
    def new(cls) -> LetterKeys:
        return cls(secrets.token_bytes(32), secrets.token_bytes(32))

    def private_key(self, election_id: int):
        return sealedbox.recipient_key(
            secrets=[self.browser, self.session], context=f"code-letters:{election_id}".encode()
        )

    def public_key(self, election_id: int) -> bytes:
        return sealedbox.public_bytes(self.private_key(election_id))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes | None:
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if len(data) == 32 else None


def cookie_name(job_id) -> str:
    return COOKIE_PREFIX + str(job_id).replace("-", "")


def letters_url(job: Job) -> str:
    return reverse("ballots:codes_letters", args=[job.election.slug, job.pk])


def keys_keep(request, response, *, job: Job, keys: LetterKeys) -> None:
    """Give the session its half and the browser (cookie on the letters' page only) the other."""
    halves = dict(request.session.get(SESSION_KEY) or {})
    halves[str(job.pk)] = _b64(keys.session)
    request.session[SESSION_KEY] = halves
    response.set_cookie(
        cookie_name(job.pk),
        _b64(keys.browser),
        max_age=int(COOKIE_MAX_AGE.total_seconds()),
        path=letters_url(job),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )


def keys_of(request, job: Job) -> LetterKeys | None:
    """This browser's and this session's halves for `job`, if both are here (and well formed)."""
    session = _unb64(str((request.session.get(SESSION_KEY) or {}).get(str(job.pk), "")))
    browser = _unb64(request.COOKIES.get(cookie_name(job.pk), ""))
    return LetterKeys(browser, session) if session and browser else None


def keys_forget(request, response, job: Job) -> None:
    halves = dict(request.session.get(SESSION_KEY) or {})
    if halves.pop(str(job.pk), None) is not None:
        request.session[SESSION_KEY] = halves
    response.delete_cookie(cookie_name(job.pk), path=letters_url(job), samesite="Strict")


# --- The official's references, sealed with the server key --------------------------------------------------


@lru_cache(maxsize=4)
def _refs_aead(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_REFS_INFO).derive(secret.encode())
    return AESGCM(key)


def _refs_key() -> AESGCM:
    return _refs_aead(str(getattr(settings, "PB_HMAC_KEY", None) or settings.SECRET_KEY))


def _refs_seal(references: list[str], job_id) -> bytes:
    nonce = os.urandom(12)
    body = json.dumps(references, ensure_ascii=False).encode()
    return nonce + _refs_key().encrypt(nonce, body, str(job_id).encode())


def _refs_open(blob: bytes, job_id) -> list[str]:
    try:
        return json.loads(_refs_key().decrypt(blob[:12], blob[12:], str(job_id).encode()))
    except (InvalidTag, ValueError) as exc:
        raise DomainError(
            _("The list of references of this batch cannot be read (the server key changed?): start again.")
        ) from exc


# --- Starting -----------------------------------------------------------------------------------------------


def _precheck(*, actor, election: Election) -> None:
    require(actor, "codes.manage", election)
    public_identify_url(election)  # letters that cannot say where to vote are refused before anything


def code_letters_start(
    *,
    actor,
    election: Election,
    district: Pot | None,
    references: list[str] | None,
    limit: int,
    public_key: bytes,
) -> tuple[Job, bool]:
    """Queue a batch of letters sealed to `public_key`; (the job, whether it is a new one). An official's
    batch already queued or running is returned as it is (a double click): its letters are sealed to the
    key of the request that started it."""
    created: list[Job] = []

    def record(job: Job) -> None:
        CodeLetterBatch.objects.create(
            job=job,
            election=election,
            district=district,
            limit=limit,
            by_reference=references is not None,
            references_sealed=_refs_seal(references, job.pk) if references is not None else b"",
            public_key=public_key,
            batch=f"letters-{job.pk.hex[:20]}",
        )
        created.append(job)

    job = job_start(actor=actor, election=election, kind=KIND, prepare=record)
    return job, bool(created)


# --- The work (on the worker) -------------------------------------------------------------------------------


def _dir(election_id: int) -> Path:
    d = Path(settings.PB_VAR_DIR) / "code_letters" / str(election_id)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def sealed_path(batch: CodeLetterBatch) -> Path:
    return _dir(batch.election_id) / f"{batch.job_id.hex}.letters.sealed"


def _aad(job_id) -> bytes:
    return f"pb-code-letters/1:{job_id}".encode()


def _mailmerge_name(job_id) -> str:
    return f"letters-{job_id.hex}"


def _result(batch: CodeLetterBatch) -> dict[str, Any]:
    return {"letters": batch.letters, "batch": batch.batch}


def _run(job: Job, progress) -> dict[str, Any]:
    letters = CodeLetterBatch.objects.select_related("district").get(job=job)
    election = job.election
    if VotingCode.objects.filter(election=election, batch=letters.batch).exists():
        return _result(letters)  # an earlier delivery of this job committed its batch
    actor = job.started_by
    if actor is None:
        raise DomainError(_("The account that started this job no longer exists: start it again."))
    require(actor, "codes.manage", election)  # the official may have lost the role since
    identify_url = public_identify_url(election)
    progress(phase=_("Choosing the voters"))
    references = _refs_open(bytes(letters.references_sealed), job.pk) if letters.by_reference else None
    chosen = code_services.codes_select(
        election=election, district=letters.district, references=references, limit=letters.limit
    )
    prepared = code_services.codes_prepare(election=election, chosen=chosen, batch=letters.batch)
    n = len(prepared.sheets)
    laying_out = _("Laying out the letters")
    progress(phase=laying_out, done=0, total=n)
    pdf = code_sheets_pdf(
        election,
        prepared.sheets,
        identify_url=identify_url,
        progress=lambda k: progress(phase=laying_out, done=k),
    )
    progress(phase=_("Sealing the letters for you and recording the codes"), done=n)
    path = sealed_path(letters)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    box = sealedbox.seal(pdf, recipient=bytes(letters.public_key), aad=_aad(job.pk))
    del pdf
    write_secret(tmp, box, exclusive=True)
    os.replace(tmp, path)  # a run again replaces the earlier run's file, never leaves two
    try:
        code_services.codes_issue(
            actor=actor,
            election=election,
            prepared=prepared,
            batch=letters.batch,
            district=letters.district,
            by_reference=letters.by_reference,
        )
        code_services.codes_mailmerge_write(
            actor=actor,
            election=election,
            sheets=prepared.sheets,
            batch=letters.batch,
            name=_mailmerge_name(job.pk),
        )
    except BaseException:
        # Nothing of this batch commits: its letters would carry codes that do not exist.
        path.unlink(missing_ok=True)
        code_services.codes_mailmerge_discard(election=election, name=_mailmerge_name(job.pk))
        raise
    letters.letters = n
    letters.references_sealed = b""
    letters.expires_at = timezone.now() + LETTERS_MAX_AGE
    letters.save(update_fields=["letters", "references_sealed", "expires_at"])
    transaction.on_commit(lambda: _sweep_later(election, letters.expires_at))
    return _result(letters)


@task(queue_name="default")
def code_letters_sweep_task(election_id: int) -> int:
    """The sweep, run by the worker when a batch's letters expire (queued for that time by the job): codes
    nobody received are voided on time even if no official opens the codes page. Idempotent."""
    election = Election.objects.filter(pk=election_id).first()
    return code_letters_sweep(election=election) if election is not None else 0


def _sweep_later(election: Election, expires_at: dt.datetime) -> None:
    # A backend that cannot run a task later (the immediate one of the tests and the demo) has the codes and
    # letters pages, which sweep when opened.
    if code_letters_sweep_task.get_backend().supports_defer:
        when = expires_at + dt.timedelta(minutes=1)
        code_letters_sweep_task.using(run_after=when).enqueue(election.pk)


# --- The download -------------------------------------------------------------------------------------------


@transaction.atomic
def code_letters_take(*, actor, job: Job, keys: LetterKeys | None) -> bytes:
    """The letters' PDF, once, for the official who asked for them, in the browser that asked; the sealed
    file is deleted when this commits."""
    letters = CodeLetterBatch.objects.select_for_update().get(job_id=job.pk)
    require(actor, "election.manage", letters.election)
    if job.started_by_id != actor.pk:
        raise PermissionDenied(_("Only the official who asked for these letters can download them."))
    job.refresh_from_db()
    if job.status != Job.Status.DONE:
        raise PhaseError(_("These letters are not ready yet: wait until the job is done."))
    if letters.downloaded_at is not None:
        raise LettersGone(
            _("These letters were already downloaded, and deleted from the server. Reissue lost letters.")
        )
    path = sealed_path(letters)
    if letters.expired_at is not None or not path.exists():
        raise LettersGone(
            _(
                "These letters were not downloaded in time and were deleted; their codes were voided. "
                "Generate the letters again."
            )
        )
    if keys is None:
        raise PermissionDenied(
            _(
                "These letters can only be opened in the browser where you asked for them, while you are "
                "still signed in there. If that is no longer possible, wait until they expire (their codes "
                "are then voided) or void the codes, and generate the letters again."
            )
        )
    try:
        pdf = sealedbox.open_box(
            path.read_bytes(), key=keys.private_key(letters.election_id), aad=_aad(job.pk)
        )
    except sealedbox.SealedBoxError:
        raise PermissionDenied(_("These letters do not open with this browser's key.")) from None
    letters.downloaded_at = timezone.now()
    letters.save(update_fields=["downloaded_at"])
    audit_record(
        actor=actor,
        action="codes.letters_download",
        election=letters.election,
        obj=job,
        data={"batch": letters.batch, "letters": letters.letters},
    )
    # Deleted now, not after the commit: should the commit fail, the batch is left undownloaded without its
    # file, and the sweep voids its codes when it expires (nobody received them), as for any other.
    path.unlink(missing_ok=True)
    return pdf


# --- Letters nobody downloaded ------------------------------------------------------------------------------


def code_letters_sweep(*, election: Election) -> int:
    """Delete letters past LETTERS_MAX_AGE and void their codes (nobody received them); delete what is left
    of downloaded or never finished batches. Returns how many batches expired."""
    now = timezone.now()
    expired = 0
    due = CodeLetterBatch.objects.filter(
        election=election, expires_at__lt=now, downloaded_at__isnull=True, expired_at__isnull=True
    ).values_list("job_id", flat=True)
    for job_id in due:
        with transaction.atomic():
            letters = CodeLetterBatch.objects.select_for_update().filter(job_id=job_id).first()
            if letters is None or letters.downloaded_at or letters.expired_at:
                continue  # downloaded or swept meanwhile
            ids = list(
                VotingCode.objects.filter(
                    election=election, batch=letters.batch, status=CodeStatus.ACTIVE
                ).values_list("pk", flat=True)
            )
            VotingCode.objects.filter(pk__in=ids).update(status=CodeStatus.VOID)
            letters.expired_at = now
            letters.save(update_fields=["expired_at"])
            audit_record(
                actor=None,
                action="codes.letters_expired",
                election=election,
                obj=letters.job,
                data={"batch": letters.batch, "voided": len(ids)},
            )
            # The files go with the codes (a failed commit leaves the batch due: the next sweep voids it).
            sealed_path(letters).unlink(missing_ok=True)
            code_services.codes_mailmerge_discard(election=election, name=_mailmerge_name(job_id))
            expired += 1
    # Unfinished for longer than the letters would wait (never retried): no code exists, drop the rest.
    stale = CodeLetterBatch.objects.filter(
        election=election,
        job__status__in=[Job.Status.FAILED, *Job.ACTIVE],
        job__created_at__lt=now - LETTERS_MAX_AGE,
    ).exclude(references_sealed=b"")
    for letters in stale:
        sealed_path(letters).unlink(missing_ok=True)
        CodeLetterBatch.objects.filter(pk=letters.pk).update(references_sealed=b"")
    # What a worker killed between writing and renaming its sealed file left (ciphertext, but litter).
    for tmp in _dir(election.pk).glob("*.letters.sealed.*.tmp"):
        try:
            if tmp.stat().st_mtime < (now - LETTERS_MAX_AGE).timestamp():
                tmp.unlink(missing_ok=True)
        except OSError:
            continue
    return expired


def code_letters_mine(*, actor, election: Election) -> list[CodeLetterBatch]:
    """The official's batches of letters still to download (or still being made)."""
    return list(
        CodeLetterBatch.objects.select_related("job")
        .filter(
            election=election,
            job__started_by_id=actor.pk,
            downloaded_at__isnull=True,
            expired_at__isnull=True,
            job__status__in=[Job.Status.DONE, *Job.ACTIVE],
        )
        .order_by("-job__created_at")
    )


def _result_text(job: Job) -> str:
    n = int(job.result.get("letters") or 0)
    return ngettext(
        "%(n)s letter is ready. Download it once, in the browser where you asked for it.",
        "%(n)s letters are ready. Download them once, in the browser where you asked for them.",
        n,
    ) % {"n": n}


def register() -> None:
    job_kind_register(
        JobKind(
            kind=KIND,
            label=gettext_lazy("Voting-code letters"),
            permission="codes.manage",
            precheck=_precheck,
            run=_run,
            result_url=letters_url,
            result_text=_result_text,
            personal=True,  # sealed to one official's browser: theirs to follow, retry and download
        )
    )
