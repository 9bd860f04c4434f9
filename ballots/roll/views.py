"""Views of identification (voters, booth officials), the voter roll import and voting codes.

Long module: the identification, roll import and voting-code pages share the election and
permission look-ups and the job-page helpers.
"""

from __future__ import annotations

import csv
import io
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from ballots.exceptions import Throttled
from ballots.models import CodeStatus, ImportJob, RollSnapshot, VoterRollEntry, VotingCode
from ballots.roll import codes as code_services
from ballots.roll import codes_pdf as pdf_codes
from ballots.roll import identity, letters, resources, throttle
from ballots.roll import services as services_roll
from ballots.roll.forms import (
    BoothIdentifyForm,
    CodeIdentifyForm,
    CodeReissueForm,
    CodesGenerateForm,
    CodeVoidForm,
    RollIdentifyForm,
    RollUploadForm,
)
from ballots.roll.identification import booth_identify, voter_identify_code, voter_identify_roll
from ballots.roll.tasks import roll_job_check_task, roll_job_import_task
from pb.core.errorpages import domain_error_page, election_page
from pb.core.exceptions import DomainError
from pb.core.jobs.imports import import_job_page
from pb.core.models import Election, Job, Phase
from pb.core.permissions import allowed, require
from pb.core.spreadsheet import safe_row


def _error_response(response: HttpResponse, exc: DomainError) -> HttpResponse:
    response.status_code = exc.status_code
    if isinstance(exc, Throttled):
        response["Retry-After"] = str(exc.retry_after)
    return response


def _pots_url(election: Election) -> str:
    return reverse("ballots:pots", kwargs={"slug": election.slug})


# --- Voter identification -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def identify(request, slug):
    """Identify with a voting code or by roll match; on success go to the choice of pots."""
    election = get_object_or_404(Election, slug=slug)
    # Only "code" or "roll" here: "booth" is set by the booth view alone (it records the booth channel).
    method = None
    if request.method == "POST":
        method = "roll" if request.POST.get("method") == "roll" else "code"
    code_form = CodeIdentifyForm(request.POST if method == "code" else None, prefix="code")
    roll_form = RollIdentifyForm(request.POST if method == "roll" else None, prefix="roll")
    ctx = {
        "election": election,
        "code_form": code_form,
        "roll_form": roll_form,
        "voting_open": election.phase == Phase.VOTING_OPEN,
        "voter": identity.current_voter(request, election),
        "active": method or "code",
        "pots_url": _pots_url(election),
    }
    if request.method == "GET":
        return render(request, "ballots/identify.html", ctx)
    form = code_form if method == "code" else roll_form
    if not form.is_valid():
        return render(request, "ballots/identify.html", ctx, status=400)
    actor = request.user if request.user.is_authenticated else None
    ip = throttle.client_ip(request)
    try:
        if method == "code":
            voter = voter_identify_code(election=election, code=form.cleaned_data["code"], ip=ip, actor=actor)
        else:
            voter = voter_identify_roll(
                election=election,
                reference=form.cleaned_data["reference"],
                date_of_birth=form.cleaned_data["date_of_birth"],
                ip=ip,
                actor=actor,
            )
    except DomainError as exc:
        ctx["error"] = exc.message
        return _error_response(render(request, "ballots/identify.html", ctx), exc)
    return identity.remember_voter(redirect(ctx["pots_url"]), election=election, voter=voter, method=method)


@require_POST
def identify_forget(request, slug):
    """End the voter's identification in this browser (e.g. a shared computer or the booth device)."""
    election = get_object_or_404(Election, slug=slug)
    handed_over = identity.booth_official(request, election) is not None
    # A booth device goes back to the booth page, which asks the official to sign in again.
    if handed_over or allowed(request.user, "ballot.booth", election):
        return identity.forget_voter(request, redirect("ballots:booth", slug=slug))
    return identity.forget_voter(request, redirect("ballots:identify", slug=slug))


@login_required
@require_http_methods(["GET", "POST"])
def booth(request, slug):
    """An official identifies a resident at a booth by roll match; the resident then votes on this device,
    which is handed over: the official is signed out of it until they sign in again."""
    election = get_object_or_404(Election, slug=slug)
    form = BoothIdentifyForm(
        request.POST or None,
        initial={"booth": request.session.get(identity.BOOTH_NAME_KEY, "")},
        prefix="booth",
    )
    ctx = {
        "election": election,
        "form": form,
        "voter": identity.current_voter(request, election),
        "pots_url": _pots_url(election),
    }
    try:
        require(request.user, "ballot.booth", election)
    except DomainError as exc:
        return domain_error_page(request, exc)
    if request.method == "GET":
        return render(request, "ballots/identify_booth.html", ctx)
    if not form.is_valid():
        return render(request, "ballots/identify_booth.html", ctx, status=400)
    try:
        voter = booth_identify(
            actor=request.user,
            election=election,
            reference=form.cleaned_data["reference"],
            date_of_birth=form.cleaned_data["date_of_birth"],
            booth=form.cleaned_data["booth"],
        )
    except DomainError as exc:
        ctx["error"] = exc.message
        return _error_response(render(request, "ballots/identify_booth.html", ctx), exc)
    # The device is the resident's now: the official is signed out of this browser (ballots.roll.identity).
    return identity.booth_handover(
        request,
        redirect(_pots_url(election)),
        election=election,
        voter=voter,
        official=request.user,
        booth=form.cleaned_data["booth"],
    )


# --- Voter roll (officials) ---------------------------------------------------------------------------------


def _official_page(request, slug, action: str = "election.manage"):
    """The election, or an error response if the user may not do `action` now."""
    return election_page(request, slug, action)


def _jobs(election: Election):
    # A dead worker's job says so (and can be retried) instead of "checking" for good.
    services_roll.roll_jobs_expire_stalled(election=election)
    return ImportJob.objects.filter(election=election).order_by("-created_at")[:10]


def _job_id_or_none(value) -> uuid.UUID | None:
    """The job id the upload page polls, if it is one (a forged or blank hidden field is not)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _roll_context(request, election: Election, form=None) -> dict:
    form = form or RollUploadForm(initial={"job_id": uuid.uuid4()})
    counts = (
        VoterRollEntry.objects.filter(election=election)
        .values("district__name")
        .annotate(n=Count("id"), eligible=Count("id", filter=Q(age_eligible=True)))
        .order_by("district__name")
    )
    return {
        "election": election,
        "form": form,
        "progress_job_id": _job_id_or_none(form["job_id"].value()),
        "counts": counts,
        "total": sum(c["n"] for c in counts),
        "snapshot": RollSnapshot.objects.filter(election=election).first(),
        "can_import": allowed(request.user, "roll.import", election),
        "can_codes": allowed(request.user, "codes.manage", election),
        "jobs": _jobs(election),
    }


@login_required
@require_http_methods(["GET", "POST"])
def roll_manage(request, slug):
    """The roll: entries per district, the snapshot, and the upload of a roll file (then its preview)."""
    election, denied = _official_page(request, slug)
    if denied:
        return denied
    if request.method == "GET":
        return render(request, "ballots/roll_manage.html", _roll_context(request, election))
    form = RollUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "ballots/roll_manage.html", _roll_context(request, election, form), status=400)
    try:
        job = services_roll.roll_job_create(
            actor=request.user,
            election=election,
            uploaded=form.cleaned_data["file"],
            job_id=form.cleaned_data["job_id"],
        )
    except DomainError as exc:
        form.add_error(None, exc.message)
        return render(
            request,
            "ballots/roll_manage.html",
            _roll_context(request, election, form),
            status=exc.status_code,
        )
    roll_job_check_task.enqueue(str(job.pk))
    return redirect("ballots:roll_job", slug=slug, job_id=job.pk)


def _job_page(request, election: Election, job: ImportJob, *, status: int = 200, **extra) -> HttpResponse:
    return import_job_page(request, "ballots/roll_job.html", election, job, status=status, **extra)


@login_required
def roll_job(request, slug, job_id):
    """Preview of an upload: rows, per-row errors, and the confirm button; polls while running."""
    election, denied = _official_page(request, slug)
    if denied:
        return denied
    job = get_object_or_404(ImportJob, pk=job_id, election=election)
    if services_roll.roll_jobs_expire_stalled(election=election):
        job.refresh_from_db()
    return _job_page(request, election, job)


@login_required
@require_POST
def roll_job_retry(request, slug, job_id):
    """Check a stalled (failed) job's file again: re-enqueues the check; nothing is imported twice."""
    election, denied = _official_page(request, slug, "roll.import")
    if denied:
        return denied
    job = get_object_or_404(ImportJob, pk=job_id, election=election)
    try:
        job = services_roll.roll_job_retry(actor=request.user, job=job)
    except DomainError as exc:
        return _job_page(request, election, job, status=exc.status_code, error=exc.message)
    roll_job_check_task.enqueue(str(job.pk))
    return redirect("ballots:roll_job", slug=slug, job_id=job.pk)


@login_required
@require_POST
def roll_job_confirm(request, slug, job_id):
    election, denied = _official_page(request, slug, "roll.import")
    if denied:
        return denied
    job = get_object_or_404(ImportJob, pk=job_id, election=election)
    if job.status != ImportJob.Status.READY:
        return _job_page(
            request, election, job, status=409, error=_("This import is not ready: check the file first.")
        )
    roll_job_import_task.enqueue(str(job.pk))
    job.refresh_from_db()
    if job.status == ImportJob.Status.DONE:
        messages.success(request, _("%(n)s voters were added to the roll.") % {"n": job.imported})
    return redirect("ballots:roll_job", slug=slug, job_id=job.pk)


@login_required
@require_POST
def roll_job_discard(request, slug, job_id):
    election, denied = _official_page(request, slug)
    if denied:
        return denied
    job = get_object_or_404(ImportJob, pk=job_id, election=election)
    services_roll.roll_job_discard_file(job)
    if job.status == ImportJob.Status.READY:
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED)
    return redirect("ballots:roll", slug=slug)


@login_required
def roll_job_errors(request, slug, job_id):
    """The row-error report as CSV or XLSX (django-import-export)."""
    election, denied = _official_page(request, slug)
    if denied:
        return denied
    job = get_object_or_404(ImportJob, pk=job_id, election=election)
    fmt = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    content_type = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[fmt]
    response = HttpResponse(resources.error_report(job, fmt), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="roll-errors.{fmt}"'
    return response


@login_required
def roll_export(request, slug):
    """The roll as CSV or XLSX (django-import-export): hashes, district, birth year; nothing in clear."""
    election, denied = _official_page(request, slug)
    if denied:
        return denied
    fmt = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    content_type = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[fmt]
    response = HttpResponse(resources.roll_export(election, fmt), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="voter-roll-{election.slug}.{fmt}"'
    return response


# --- Voting codes (officials) -------------------------------------------------------------------------------


def _codes_context(request, election: Election, **forms) -> dict:
    status = dict(
        VotingCode.objects.filter(election=election).values_list("status").annotate(n=Count("id")).order_by()
    )
    ctx = {
        "election": election,
        "generate_form": CodesGenerateForm(election=election),
        "void_form": CodeVoidForm(),
        "reissue_form": CodeReissueForm(),
        "status_counts": [(s.label, status.get(s.value, 0)) for s in CodeStatus],
        "roll_total": VoterRollEntry.objects.filter(election=election).count(),
        "mailmerge_files": code_services.codes_mailmerge_list(actor=request.user, election=election),
        "letter_batches": letters.code_letters_mine(actor=request.user, election=election),
    }
    ctx.update(forms)
    return ctx


def _codes_page(request, election, *, status: int = 200, error: str = "", **forms) -> HttpResponse:
    ctx = _codes_context(request, election, **forms)
    if error:
        ctx["error"] = error
    return render(request, "ballots/codes_manage.html", ctx, status=status)


def _codes_error(request, election, exc: DomainError, **forms) -> HttpResponse:
    return _codes_page(request, election, status=exc.status_code, error=exc.message, **forms)


@login_required
def codes_manage(request, slug):
    election, denied = _official_page(request, slug, "codes.manage")
    if denied:
        return denied
    letters.code_letters_sweep(election=election)
    return _codes_page(request, election)


def _sheet_response(
    request, election, sheets, fmt: str, filename: str, *, identify_url: str = ""
) -> HttpResponse:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["reference", "roll_entry", "district", "code", "letter_reference"])
        for sheet in sheets:
            # The reference comes from the official's file: never let it reach a spreadsheet as a formula.
            row = [sheet.reference, sheet.voter.pk, sheet.voter.district.slug, sheet.code, sheet.letter]
            writer.writerow(safe_row(row))
        response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
        filename = filename.replace(".pdf", ".csv")
    else:
        response = HttpResponse(
            pdf_codes.code_sheets_pdf(
                election,
                sheets,
                identify_url=identify_url,  # PB_PUBLIC_URL's, never the request's host
            ),
            content_type="application/pdf",
        )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # The plaintext codes exist only in this response: never cache it anywhere.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def codes_generate(request, slug):
    """Generate codes: as a CSV at once (codes only, fast), or as PDF letters made by a job on the worker and
    sealed to this browser (ballots.roll.letters); the request then only queues the job."""
    election, denied = _official_page(request, slug, "codes.manage")
    if denied:
        return denied
    form = CodesGenerateForm(request.POST, request.FILES, election=election)
    if not form.is_valid():
        return _codes_page(request, election, status=400, generate_form=form)
    if form.cleaned_data["output"] == "pdf":
        return _letters_start(request, election, form)
    batch = timezone.now().strftime("%Y%m%d-%H%M%S")
    try:
        with transaction.atomic():
            sheets = code_services.codes_generate(
                actor=request.user,
                election=election,
                district=form.cleaned_data["district"],
                references=form.cleaned_data["references"],
                limit=form.cleaned_data["limit"],
                batch=batch,
            )
            response = _sheet_response(request, election, sheets, "csv", f"voting-codes-{election.slug}.csv")
    except DomainError as exc:
        return _codes_error(request, election, exc, generate_form=form)
    return response


def _letters_start(request, election: Election, form: CodesGenerateForm) -> HttpResponse:
    keys = letters.LetterKeys.new()
    try:
        job, created = letters.code_letters_start(
            actor=request.user,
            election=election,
            district=form.cleaned_data["district"],
            references=form.cleaned_data["references"],
            limit=form.cleaned_data["limit"],
            public_key=keys.public_key(election.pk),
        )
    except DomainError as exc:
        return _codes_error(request, election, exc, generate_form=form)
    response = redirect("core:job", pk=job.pk)
    if created:  # a batch already under way keeps the key it was started with
        letters.keys_keep(request, response, job=job, keys=keys)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def codes_letters(request, slug, job_id):
    """A batch of letters made by a job: its state, and (POST) its PDF, once, for the official who asked for
    it, in the browser where they asked."""
    election, denied = _official_page(request, slug)
    if denied:
        return denied
    job = get_object_or_404(Job, pk=job_id, election=election, kind=letters.KIND)
    letters.code_letters_sweep(election=election)
    if request.method == "POST":
        try:
            pdf = letters.code_letters_take(actor=request.user, job=job, keys=letters.keys_of(request, job))
        except DomainError as exc:
            return _letters_page(request, job, error=exc.message, status=exc.status_code)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="voting-codes-{election.slug}.pdf"'
        response["Cache-Control"] = "no-store"  # the plaintext codes exist only in this response
        letters.keys_forget(request, response, job)
        return response
    return _letters_page(request, job)


def _letters_page(request, job: Job, *, error: str = "", status: int = 200) -> HttpResponse:
    batch = job.code_letters
    ctx = {
        "election": job.election,
        "job": job,
        "batch": batch,
        "mine": job.started_by_id == request.user.pk,
        "has_keys": letters.keys_of(request, job) is not None,
        "error": error,
    }
    return render(request, "ballots/codes_letters.html", ctx, status=status)


@login_required
@require_POST
def codes_mailmerge(request, slug, name):
    """The mail-merge file of a batch of letters (letter reference -> roll entry), once, for the official who
    generated the batch; it is deleted as it is downloaded."""
    election, denied = _official_page(request, slug)
    if denied:
        return denied
    try:
        data = code_services.codes_mailmerge_take(actor=request.user, election=election, name=name)
    except DomainError as exc:
        return _codes_error(request, election, exc)
    response = HttpResponse(data, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="letters-{election.slug}-mailmerge.csv"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def codes_void(request, slug):
    election, denied = _official_page(request, slug, "codes.manage")
    if denied:
        return denied
    form = CodeVoidForm(request.POST)
    if not form.is_valid():
        return _codes_page(request, election, status=400, void_form=form)
    try:
        n = code_services.code_void(actor=request.user, election=election, **form.cleaned_data)
    except DomainError as exc:
        return _codes_error(request, election, exc, void_form=form)
    messages.success(request, _("%(n)s voting code(s) voided.") % {"n": n})
    return redirect("ballots:codes", slug=slug)


@login_required
@require_POST
def codes_reissue(request, slug):
    """Void the voter's code and return a new one, once, as a one-page PDF."""
    election, denied = _official_page(request, slug, "codes.manage")
    if denied:
        return denied
    form = CodeReissueForm(request.POST)
    if not form.is_valid():
        return _codes_page(request, election, status=400, reissue_form=form)
    try:
        identify_url = pdf_codes.public_identify_url(election)  # before the old code is voided
        with transaction.atomic():
            sheet = code_services.code_reissue(
                actor=request.user, election=election, reference=form.cleaned_data["reference"]
            )
            return _sheet_response(
                request,
                election,
                [sheet],
                "pdf",
                f"voting-code-reissued-{sheet.letter}.pdf",
                identify_url=identify_url,
            )
    except DomainError as exc:
        return _codes_error(request, election, exc, reissue_form=form)
