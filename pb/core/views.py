import datetime as dt

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from pb.core import navigation, services
from pb.core.errorpages import domain_error_page, election_page
from pb.core.exceptions import DomainError
from pb.core.forms import NamesTranslateForm
from pb.core.models import PHASE_ORDER, Election, Phase
from pb.core.permissions import allowed, require

# What a visitor can do now comes first: vote, then propose; then the count; finished editions last.
_HOME_ORDER = (
    Phase.VOTING_OPEN,
    Phase.PROPOSALS_OPEN,
    Phase.SUPPORTS,
    Phase.REVIEW,
    Phase.VOTING_CLOSED,
    Phase.TALLIED,
    Phase.CERTIFIED,
    Phase.PUBLISHED,
)
# Entries about these objects are named on the dashboard ("P011 Eastfield playground", a district's name).
# Only these: other entries may be about voters, whose names and codes never appear there.
_NAMED_IN_LOG = ("proposals.proposal", "core.pot", "core.category")


def home(request):
    """Elections grouped by phase (in _HOME_ORDER), newest first within a phase."""
    elections = Election.objects.exclude(phase=Phase.DRAFT).prefetch_related("pots").order_by("-created_at")
    groups: dict[str, list] = {phase: [] for phase in _HOME_ORDER}
    for election in elections:  # what awaits an official or council member here (nothing for residents)
        election.todo = navigation.todo_for(request.user, election)
        groups.setdefault(election.phase, []).append(election)
    phases = [(phase, Phase(phase).label, items) for phase, items in groups.items() if items]
    ordered = [election for _phase, _label, items in phases for election in items]
    return render(request, "core/home.html", {"phases": phases, "elections": ordered})


def _audit_lines(events) -> list:
    """The dashboard's recent entries with their object's name instead of a raw id; models are looked up by
    label, so pb.core imports no app above it."""
    events = list(events)
    names: dict[tuple[str, str], str] = {}
    for label in _NAMED_IN_LOG:
        ids = {e.object_id for e in events if e.object_type == label and e.object_id.isdigit()}
        if not ids:
            continue
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        for obj in model._default_manager.filter(pk__in=ids):
            names[(label, str(obj.pk))] = str(obj)
    for e in events:
        e.object_name = names.get((e.object_type, e.object_id), "")
    return events


def _phase_context(request, election: Election) -> dict:
    to_phase = services.next_phase(election)
    phases = services.election_phases(election)
    can_advance = to_phase is not None and allowed(
        request.user, services.ADVANCE_ACTION.get(to_phase, "election.advance"), election
    )
    return {
        "election": election,
        "next_phase": to_phase,
        # Steps after the vote are taken on the page of a higher layer (e.g. closing takes two officials).
        "advance_url": navigation.phase_page(election, to_phase),
        "next_phase_label": Phase(to_phase).label if to_phase else "",
        "can_advance": can_advance,
        "phases": [(p, Phase(p).label) for p in phases],
        "current_index": phases.index(election.phase),
        "voting_started": PHASE_ORDER.index(election.phase) >= PHASE_ORDER.index(Phase.VOTING_OPEN),
    }


def election_detail(request, slug):
    election = get_object_or_404(Election.objects.prefetch_related("pots", "categories"), slug=slug)
    ctx = _phase_context(request, election)
    ctx["can_manage"] = allowed(request.user, "election.manage", election)
    ctx["todo"] = navigation.todo_for(request.user, election)
    ctx["can_propose"] = allowed(request.user, "proposal.submit", election) or (
        not request.user.is_authenticated and election.phase == Phase.PROPOSALS_OPEN
    )
    return render(request, "core/election_detail.html", ctx)


# Written by the identification throttle (ballots.roll.throttle.ALERT_ACTION) when an election's codes or roll
# match see a flood of failures; shown on the manage page for this long.
IDENTIFY_ALERT_ACTION = "identify.alert"
IDENTIFY_ALERT_SHOWN = dt.timedelta(minutes=30)


def _identify_alerts(election: Election) -> list:
    since = timezone.now() - IDENTIFY_ALERT_SHOWN
    return list(
        election.audit_events.filter(action=IDENTIFY_ALERT_ACTION, at__gte=since).order_by("-seq")[:5]
    )


@login_required
def election_manage(request, slug):
    """The official's dashboard: proposals waiting for review, the phase button, import/export."""
    election, denied = election_page(
        request, slug, "election.manage", queryset=Election.objects.prefetch_related("pots", "categories")
    )
    if denied:
        return denied
    ctx = _phase_context(request, election)
    ctx.update(navigation.dashboard_context(request.user, election))  # proposals: review queue, import/export
    ctx.update(
        {
            "recent_events": _audit_lines(election.audit_events.order_by("-seq")[:10]),
            "identify_alerts": _identify_alerts(election),
        }
    )
    return render(request, "core/election_manage.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def election_advance_view(request, slug):
    """GET asks for confirmation; POST moves the election one phase forward."""
    election = get_object_or_404(Election, slug=slug)
    ctx = _phase_context(request, election)
    if ctx["advance_url"] and (request.method == "GET" or request.POST.get("to_phase") == ctx["next_phase"]):
        # Not a plain move: lead into the flow that takes this step, rather than refuse and offer it again.
        messages.info(
            request,
            _("Moving to “%(phase)s” is done here.") % {"phase": ctx["next_phase_label"]},
        )
        return redirect(ctx["advance_url"])
    if request.method == "GET":
        if ctx["next_phase"] is not None:
            try:
                require(
                    request.user, services.ADVANCE_ACTION.get(ctx["next_phase"], "election.advance"), election
                )
            except DomainError as exc:
                return domain_error_page(request, exc)
        ctx.update(navigation.dashboard_context(request.user, election))  # e.g. proposals still unreviewed
        return render(request, "core/election_advance.html", ctx)
    try:
        services.election_advance(
            actor=request.user, election=election, to_phase=request.POST.get("to_phase", "")
        )
    except DomainError as exc:
        ctx["error"] = exc.message
        return render(request, "core/election_advance.html", ctx, status=exc.status_code)
    election.refresh_from_db()
    messages.success(
        request, _("The election is now in the “%(phase)s” phase.") % {"phase": election.get_phase_display()}
    )
    if allowed(request.user, "election.manage", election):
        return redirect("core:manage", slug=slug)
    return redirect("core:election", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def election_translate(request, slug):
    """Officials give the pots' and categories' names in the site's other languages (display only)."""
    election, denied = election_page(request, slug, "content.translate")
    if denied:
        return denied
    form = NamesTranslateForm(request.POST or None, election=election)
    if request.method == "POST" and form.is_valid():
        try:
            services.election_names_translate(
                actor=request.user,
                election=election,
                pots=form.translations("pot"),
                categories=form.translations("category"),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Translations saved."))
            return redirect("core:translate", slug=slug)
    status = 400 if form.is_bound else 200
    return render(
        request, "core/election_translate.html", {"election": election, "form": form}, status=status
    )
