"""Views of identification (voters, booth officials), the voter roll import and voting codes."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods, require_POST

from ballots import identity, services_roll, throttle
from ballots.exceptions import Throttled
from ballots.forms_roll import BoothIdentifyForm, CodeIdentifyForm, RollIdentifyForm
from pb.core.exceptions import DomainError
from pb.core.models import Election, Phase
from pb.core.permissions import allowed, require


def _error_response(response: HttpResponse, exc: DomainError) -> HttpResponse:
    response.status_code = exc.status_code
    if isinstance(exc, Throttled):
        response["Retry-After"] = str(exc.retry_after)
    return response


def _pots_url(election: Election) -> str:
    try:
        return reverse("ballots:pots", kwargs={"slug": election.slug})
    except NoReverseMatch:  # the casting pages are not installed (yet): stay on the identify page
        return reverse("ballots:identify", kwargs={"slug": election.slug})


# --- Voter identification -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def identify(request, slug):
    """Identify with a voting code or by roll match; on success go to the choice of pots."""
    election = get_object_or_404(Election, slug=slug)
    method = request.POST.get("method", "code") if request.method == "POST" else None
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
            voter = services_roll.voter_identify_code(
                election=election, code=form.cleaned_data["code"], ip=ip, actor=actor
            )
        else:
            voter = services_roll.voter_identify_roll(
                election=election,
                reference=form.cleaned_data["reference"],
                date_of_birth=form.cleaned_data["date_of_birth"],
                ip=ip,
                actor=actor,
            )
    except DomainError as exc:
        ctx["error"] = exc.message
        return _error_response(render(request, "ballots/identify.html", ctx), exc)
    identity.identify_session(request, election=election, voter=voter, method=method)
    return redirect(_pots_url(election))


@require_POST
def identify_forget(request, slug):
    """End the voter's identification in this browser (e.g. a shared computer or the booth device)."""
    election = get_object_or_404(Election, slug=slug)
    identity.forget_voter(request)
    if allowed(request.user, "ballot.booth", election):
        return redirect("ballots:booth", slug=slug)
    return redirect("ballots:identify", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def booth(request, slug):
    """An official identifies a resident at a booth by roll match; the resident then votes on this device."""
    election = get_object_or_404(Election, slug=slug)
    form = BoothIdentifyForm(
        request.POST or None, initial={"booth": request.session.get("pb_booth_name", "")}, prefix="booth"
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
        return render(request, "core/error.html", {"message": exc.message}, status=exc.status_code)
    if request.method == "GET":
        return render(request, "ballots/identify_booth.html", ctx)
    if not form.is_valid():
        return render(request, "ballots/identify_booth.html", ctx, status=400)
    try:
        voter = services_roll.booth_identify(
            actor=request.user,
            election=election,
            reference=form.cleaned_data["reference"],
            date_of_birth=form.cleaned_data["date_of_birth"],
            booth=form.cleaned_data["booth"],
        )
    except DomainError as exc:
        ctx["error"] = exc.message
        return _error_response(render(request, "ballots/identify_booth.html", ctx), exc)
    identity.identify_session(request, election=election, voter=voter, method="booth")
    # After cycle_key: keep the booth name for the next resident and for the casting page (channel booth).
    request.session["pb_booth_name"] = form.cleaned_data["booth"]
    return redirect(_pots_url(election))
