"""The one page every job is watched on (pb.core.jobs): a progress bar the page polls with HTMX (a refreshing
page without JavaScript), then the result or the reason it failed, with "Retry" for a failed job."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from pb.core.exceptions import DomainError
from pb.core.jobs import services as jobs
from pb.core.models import Job


def _job_for(request, pk) -> Job:
    job = get_object_or_404(Job.objects.select_related("election", "started_by"), pk=pk)
    if not jobs.job_can_view(request.user, job):
        raise Http404  # another election's job: not even its existence
    return job


def _context(job: Job, **extra) -> dict:
    spec = jobs.KINDS.get(job.kind)
    done = job.status == Job.Status.DONE and spec is not None
    return {
        "job": job,
        "election": job.election,
        "label": spec.label if spec else job.kind,
        "result_url": spec.result_url(job) if done else "",
        "result_text": spec.result_text(job) if done else "",
        **extra,
    }


@login_required
@require_GET
def job_detail(request, pk):
    job = _job_for(request, pk)
    if request.htmx:
        return render(request, "core/job_detail.html#job-status", _context(job))
    return render(request, "core/job_detail.html", _context(job))


@login_required
@require_POST
def job_retry_view(request, pk):
    job = _job_for(request, pk)
    try:
        job = jobs.job_retry(actor=request.user, job_id=job.pk)
    except DomainError as exc:
        job.refresh_from_db()
        return render(
            request, "core/job_detail.html", _context(job, error=exc.message), status=exc.status_code
        )
    messages.success(request, _("The job was started again."))
    return redirect("core:job", pk=job.pk)
