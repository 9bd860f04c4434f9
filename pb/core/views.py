from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from pb.core import services
from pb.core.exceptions import DomainError
from pb.core.models import PHASE_ORDER, Election


def home(request):
    elections = Election.objects.exclude(phase="draft").prefetch_related("pots")
    return render(request, "core/home.html", {"elections": elections})


def election_detail(request, slug):
    election = get_object_or_404(Election.objects.prefetch_related("pots", "categories"), slug=slug)
    idx = PHASE_ORDER.index(election.phase)
    next_phase = PHASE_ORDER[idx + 1] if idx + 1 < len(PHASE_ORDER) else None
    return render(
        request,
        "core/election_detail.html",
        {"election": election, "next_phase": next_phase, "phases": PHASE_ORDER},
    )


@login_required
@require_POST
def election_advance_view(request, slug):
    election = get_object_or_404(Election, slug=slug)
    try:
        services.election_advance(
            actor=request.user, election=election, to_phase=request.POST.get("to_phase", "")
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(
            request,
            "core/election_detail.html",
            {"election": election, "phases": PHASE_ORDER, "error": exc.message},
            status=exc.status_code,
        )
    messages.success(request, "Phase changed.")
    return redirect("core:election", slug=slug)
