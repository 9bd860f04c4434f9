import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from pb.core.exceptions import DomainError
from pb.core.models import Election, Phase
from pb.core.permissions import allowed, require
from proposals import selectors, services
from proposals.comments.views import comments_context
from proposals.exceptions import ImportInvalid, NotAuthor, ProposalInvalid
from proposals.forms import FilterForm, ImportForm, MergeForm, ProposalForm, ReviewForm
from proposals.models import Proposal, ProposalImportJob, ProposalStatus
from proposals.tasks import proposal_import_check_task, proposal_import_run_task

PAGE_SIZE = 12


def _error_page(request, exc: DomainError):
    return render(request, "core/error.html", {"message": exc.message}, status=exc.status_code)


def _apply_errors(form, exc: ProposalInvalid) -> None:
    # The summary message is shown too unless a field error already says it ("Choose another one."
    # alone does not tell the official why).
    if not any(exc.message in msgs for msgs in exc.errors.values()):
        form.add_error(None, exc.message)
    for name, msgs in exc.errors.items():
        for msg in msgs:
            form.add_error(name if name in form.fields else None, msg)


def _get_proposal(request, slug, code) -> Proposal:
    proposal = get_object_or_404(
        Proposal.objects.select_related("election", "pot", "category", "merged_into", "author"),
        election__slug=slug,
        code=code,
    )
    if not selectors.proposal_visible(proposal, request.user):
        raise Http404
    return proposal


@vary_on_headers("HX-Request")
def proposal_list(request, slug):
    election = get_object_or_404(Election.objects.prefetch_related("pots", "categories"), slug=slug)
    form = FilterForm(request.GET or None, election=election)
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    # cleaned_data holds only the valid filters: a mistyped cost must not throw away the search and district.
    filters = form.cleaned_data if form.is_bound else {}
    page = Paginator(selectors.proposals_public(election=election, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    ctx = {
        "election": election,
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "filters_active": any(
            request.GET.get(k) for k in ("pot", "category", "status", "cost_min", "cost_max")
        ),
        # Anonymous visitors see the link too: it leads through sign-in to the form.
        "can_propose": allowed(request.user, "proposal.submit", election)
        or (not request.user.is_authenticated and election.phase == Phase.PROPOSALS_OPEN),
    }
    # A history-restore request (back button after the cache expired) needs the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "proposals/proposal_list.html#results" if partial else "proposals/proposal_list.html"
    return render(request, template, ctx, status=status)


def proposal_detail(request, slug, code):
    proposal = _get_proposal(request, slug, code)
    election = proposal.election
    is_author = request.user.is_authenticated and proposal.author_id == request.user.pk
    ctx = {
        "election": election,
        "proposal": proposal,
        "merged_from": proposal.merged_from.all(),
        "can_edit": is_author and proposal.status == ProposalStatus.DRAFT,
        "can_review": allowed(request.user, "proposal.review", election),
        **comments_context(request, proposal),
    }
    return render(request, "proposals/proposal_detail.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def proposal_create(request, slug):
    election = get_object_or_404(Election, slug=slug)
    try:
        require(request.user, "proposal.submit", election)
    except DomainError as exc:
        return _error_page(request, exc)
    form = ProposalForm(request.POST or None, request.FILES or None, election=election)
    if request.method == "POST":
        if form.is_valid():
            try:
                proposal = services.proposal_create(
                    actor=request.user,
                    election=election,
                    language=get_language(),
                    submit="submit" in request.POST,
                    **form.cleaned_data,
                )
            except ProposalInvalid as exc:
                _apply_errors(form, exc)
            except DomainError as exc:
                return _error_page(request, exc)
            else:
                if proposal.status == ProposalStatus.SUBMITTED:
                    messages.success(
                        request, _("Thank you! Proposal %(code)s was submitted.") % {"code": proposal.code}
                    )
                else:
                    messages.success(request, _("Draft %(code)s saved.") % {"code": proposal.code})
                return redirect("proposals:detail", slug=slug, code=proposal.code)
        return render(
            request, "proposals/proposal_form.html", {"election": election, "form": form}, status=400
        )
    return render(request, "proposals/proposal_form.html", {"election": election, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def proposal_edit(request, slug, code):
    proposal = _get_proposal(request, slug, code)
    election = proposal.election
    if proposal.author_id != request.user.pk:
        return _error_page(
            request, NotAuthor(_("Only the author of proposal %(code)s can change it.") % {"code": code})
        )
    form = ProposalForm(request.POST or None, request.FILES or None, instance=proposal, election=election)
    ctx = {"election": election, "form": form, "proposal": proposal}
    if request.method == "POST":
        if form.is_valid():
            try:
                services.proposal_update(actor=request.user, proposal=proposal, **form.cleaned_data)
                if "submit" in request.POST:
                    services.proposal_submit(actor=request.user, proposal=proposal)
            except ProposalInvalid as exc:
                _apply_errors(form, exc)
            except DomainError as exc:
                return _error_page(request, exc)
            else:
                messages.success(request, _("Proposal %(code)s saved.") % {"code": code})
                return redirect("proposals:detail", slug=slug, code=code)
        return render(request, "proposals/proposal_form.html", ctx, status=400)
    try:
        services._ensure_draft(proposal)
    except DomainError as exc:
        return _error_page(request, exc)
    return render(request, "proposals/proposal_form.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def proposal_submit(request, slug, code):
    # These POST-only addresses end up in the address bar after a form error; opening one again (GET)
    # leads back to the page with the form instead of a blank "405".
    if request.method == "GET":
        return redirect("proposals:detail", slug=slug, code=code)
    proposal = _get_proposal(request, slug, code)
    try:
        services.proposal_submit(actor=request.user, proposal=proposal)
    except DomainError as exc:
        return _error_page(request, exc)
    messages.success(request, _("Thank you! Proposal %(code)s was submitted.") % {"code": code})
    return redirect("proposals:detail", slug=slug, code=code)


@login_required
def proposals_mine(request, slug):
    election = get_object_or_404(Election, slug=slug)
    proposals = Proposal.objects.filter(election=election, author=request.user).select_related("pot")
    return render(request, "proposals/proposal_mine.html", {"election": election, "proposals": proposals})


@login_required
@require_http_methods(["GET", "POST"])
def proposal_review(request, slug, code):
    proposal = _get_proposal(request, slug, code)
    election = proposal.election
    try:
        require(request.user, "proposal.review", election)
    except DomainError as exc:
        return _error_page(request, exc)
    initial = {
        "decision": "not_feasible" if proposal.status == ProposalStatus.NOT_FEASIBLE else "feasible",
        "reason": proposal.review_reason,
        "adjusted_cost": proposal.adjusted_cost,
        "cost_note": proposal.cost_note,
    }
    form = ReviewForm(request.POST or None, initial=initial)
    merge_form = MergeForm()
    ctx = {"election": election, "proposal": proposal, "form": form, "merge_form": merge_form}
    if request.method == "POST":
        if form.is_valid():
            try:
                services.proposal_review(
                    actor=request.user,
                    proposal=proposal,
                    feasible=form.cleaned_data["decision"] == "feasible",
                    reason=form.cleaned_data["reason"],
                    adjusted_cost=form.cleaned_data["adjusted_cost"],
                    cost_note=form.cleaned_data["cost_note"],
                )
            except ProposalInvalid as exc:
                _apply_errors(form, exc)
            except DomainError as exc:
                return _error_page(request, exc)
            else:
                messages.success(request, _("Review of %(code)s saved.") % {"code": code})
                return redirect("core:manage", slug=slug)
        return render(request, "proposals/proposal_review.html", ctx, status=400)
    return render(request, "proposals/proposal_review.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def proposal_merge(request, slug, code):
    if request.method == "GET":
        return redirect("proposals:review", slug=slug, code=code)
    duplicate = _get_proposal(request, slug, code)
    election = duplicate.election
    merge_form = MergeForm(request.POST)
    ctx = {"election": election, "proposal": duplicate, "form": ReviewForm(), "merge_form": merge_form}
    if merge_form.is_valid():
        # Officials type "p012" as often as "P012"; project ids are unique per election, case aside.
        keep = Proposal.objects.filter(
            election=election, code__iexact=merge_form.cleaned_data["keep"].strip()
        ).first()
        if keep is None:
            merge_form.add_error("keep", _("There is no proposal with this project id in this election."))
        else:
            try:
                services.proposal_merge(
                    actor=request.user,
                    duplicate=duplicate,
                    keep=keep,
                    reason=merge_form.cleaned_data["reason"],
                )
            except ProposalInvalid as exc:
                _apply_errors(merge_form, exc)
            except DomainError as exc:
                return _error_page(request, exc)
            else:
                messages.success(
                    request, _("%(dup)s merged into %(keep)s.") % {"dup": code, "keep": keep.code}
                )
                return redirect("core:manage", slug=slug)
    return render(request, "proposals/proposal_review.html", ctx, status=400)


def _import_page(request, slug, permission: str = "proposal.import"):
    """The election, or the error page of an official who may not import in it."""
    election = get_object_or_404(Election, slug=slug)
    try:
        require(request.user, permission, election)
    except DomainError as exc:
        return election, _error_page(request, exc)
    return election, None


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
        return _error_page(request, exc)
    proposal_import_check_task.enqueue(str(job.pk))
    return redirect("proposals:import_job", slug=slug, job_id=job.pk)


def _job_context(election: Election, job: ProposalImportJob, **extra) -> dict:
    from proposals.resources import ImportReport  # import-export is only needed here

    running = job.status in services.RUNNING_STATUSES
    progress = services.import_job_progress(job.pk) if running else {}
    total, done = progress.get("total") or 0, progress.get("done") or 0
    report = ImportReport.from_json(job.report) if job.report else None
    return {
        "election": election,
        "job": job,
        "report": report,
        "running": running,
        "retryable": services.proposal_import_job_retryable(job),
        "progress_done": done,
        "progress_total": total,
        "progress_percent": int(100 * done / total) if total else 0,
        **extra,
    }


def _job_page(request, election, job, *, status: int = 200, **extra) -> HttpResponse:
    template = "proposals/proposal_import_job.html"
    if request.htmx:
        template += "#job-panel"
    return render(request, template, _job_context(election, job, **extra), status=status)


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
        return _error_page(request, exc)
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
    election = get_object_or_404(Election.objects.prefetch_related("pots", "categories"), slug=slug)
    try:
        require(request.user, "proposal.import", election)
    except DomainError as exc:
        return _error_page(request, exc)
    from proposals.resources import template_csv

    response = HttpResponse(
        template_csv(election).encode("utf-8-sig"), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{election.slug}-import-template.csv"'
    return response
