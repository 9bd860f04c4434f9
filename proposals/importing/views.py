"""Pages of the proposal import (upload, job progress, confirm, retry), the export and the import template."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from pb.core.errorpages import domain_error_page, election_page
from pb.core.exceptions import DomainError
from pb.core.jobs.imports import import_job_page
from pb.core.models import Election
from proposals.exceptions import ImportInvalid
from proposals.forms import ImportForm
from proposals.importing import services
from proposals.importing.tasks import proposal_import_check_task, proposal_import_run_task
from proposals.models import ProposalImportJob


def _import_page(request, slug, permission: str = "proposal.import"):
    """The election, or the error page of an official who may not import in it."""
    return election_page(request, slug, permission)


@login_required
@require_http_methods(["GET", "POST"])
def proposals_import(request, slug):
    """Upload: store the file, enqueue its check, go to the job page (which polls until the preview is in)."""
    election, denied = _import_page(request, slug)
    if denied:
        return denied
    form = ImportForm(request.POST or None, request.FILES or None)
    ctx = {"election": election, "form": form}
    if request.method == "GET":
        return render(request, "proposals/proposal_import.html", ctx)
    if not form.is_valid():
        return render(request, "proposals/proposal_import.html", ctx, status=400)
    try:
        job = services.proposal_import_job_create(
            actor=request.user, election=election, uploaded=form.cleaned_data["file"]
        )
    except ImportInvalid as exc:
        form.add_error("file", exc.message)
        return render(request, "proposals/proposal_import.html", ctx, status=400)
    except DomainError as exc:
        return domain_error_page(request, exc)
    proposal_import_check_task.enqueue(str(job.pk))
    return redirect("proposals:import_job", slug=slug, job_id=job.pk)


def _job_page(request, election, job, *, status: int = 200, **extra) -> HttpResponse:
    from proposals.importing.resources import ImportReport  # import-export is only needed here

    report = ImportReport.from_json(job.report) if job.report else None
    return import_job_page(
        request, "proposals/proposal_import_job.html", election, job, status=status, report=report, **extra
    )


@login_required
def proposals_import_job(request, slug, job_id):
    """The job: progress while it is checked or imported (polled), then the preview with every row's
    outcome and the confirm button, or the reason it failed and a Retry button."""
    election, denied = _import_page(request, slug)
    if denied:
        return denied
    job = get_object_or_404(ProposalImportJob, pk=job_id, election=election)
    if services.proposal_import_jobs_expire_stalled(election=election):
        job.refresh_from_db()
    return _job_page(request, election, job)


@login_required
@require_http_methods(["GET", "POST"])
def proposals_import_confirm(request, slug):
    """Confirm a checked job (its id in the form): the import is enqueued, all or nothing, once."""
    if request.method == "GET":
        return redirect("proposals:import", slug=slug)
    election, denied = _import_page(request, slug)
    if denied:
        return denied
    job = get_object_or_404(ProposalImportJob, pk=_job_id(request.POST.get("job")), election=election)
    try:
        services.proposal_import_job_confirm(actor=request.user, job=job)
    except DomainError as exc:
        return _job_page(request, election, job, status=exc.status_code, error=exc.message)
    proposal_import_run_task.enqueue(str(job.pk))
    job.refresh_from_db()
    if job.status == ProposalImportJob.Status.DONE:
        n = job.imported
        messages.success(
            request, ngettext("%(n)d proposal imported.", "%(n)d proposals imported.", n) % {"n": n}
        )
    return redirect("proposals:import_job", slug=slug, job_id=job.pk)


@login_required
@require_POST
def proposals_import_retry(request, slug, job_id):
    """Check a failed job's file again (the check is enqueued; nothing is imported until confirmed)."""
    election, denied = _import_page(request, slug)
    if denied:
        return denied
    job = get_object_or_404(ProposalImportJob, pk=job_id, election=election)
    try:
        job = services.proposal_import_job_retry(actor=request.user, job=job)
    except DomainError as exc:
        return _job_page(request, election, job, status=exc.status_code, error=exc.message)
    proposal_import_check_task.enqueue(str(job.pk))
    return redirect("proposals:import_job", slug=slug, job_id=job.pk)


def _job_id(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Http404 from None


@login_required
def proposals_export(request, slug, fmt):
    election = get_object_or_404(Election, slug=slug)
    try:
        data = services.proposals_export(actor=request.user, election=election, file_format=fmt)
    except DomainError as exc:
        return domain_error_page(request, exc)
    content_type = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[fmt]
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{election.slug}-proposals.{fmt}"'
    return response


@login_required
def proposals_import_template(request, slug):
    """A CSV with every import column and one example row using this election's districts and categories."""
    election, denied = election_page(
        request, slug, "proposal.import", queryset=Election.objects.prefetch_related("pots", "categories")
    )
    if denied:
        return denied
    from proposals.importing.resources import template_csv

    response = HttpResponse(
        template_csv(election).encode("utf-8-sig"), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{election.slug}-import-template.csv"'
    return response
