"""Pages of the voting reminders: the voter asks (pots page and its own page), the signed link cancels, an
official sends them now or plans when they go out."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from ballots.casting.views import official_action, voter_required
from ballots.reminders import links, services
from ballots.reminders.forms import ReminderForm, ReminderPlanForm, reminder_form_context
from ballots.reminders.selectors import reminders_dashboard
from ballots.roll import identity
from ballots.roll.entries import keyed_hash
from ballots.roll.throttle import client_key
from pb.core.clientip import client_ip
from pb.core.errorpages import domain_error_page
from pb.core.exceptions import DomainError
from pb.core.models import Election


def _error(request, exc: DomainError, election: Election):
    ctx = {"message": exc.message, "election": election}
    return render(request, "ballots/vote_error.html", ctx, status=exc.status_code)


@never_cache
@voter_required
@require_http_methods(["GET", "POST"])
def reminder(request, election: Election, voter):
    """GET: the form. POST: remember the address (or replace it), back to the pots page."""
    if identity.current_method(request, election) == "booth":  # the device is the official's
        return _error(
            request, DomainError(_("Ask for a reminder on your own device, not at a booth.")), election
        )
    if request.method == "POST":
        form = ReminderForm(request.POST)
        try:
            services.reminder_request(
                election=election,
                voter=voter,
                email=request.POST.get("email", ""),
                client_key=keyed_hash("ip", client_key(client_ip(request)))[:40],
            )
        except DomainError as exc:
            form.is_valid()
            form.errors.clear()
            form.add_error("email" if isinstance(exc, services.ReminderInvalid) else None, exc.message)
            ctx = reminder_form_context(request, election, voter, form)
            return render(request, "ballots/reminder_form.html", ctx, status=exc.status_code)
        messages.success(
            request, _("We will remind you once before voting closes, if you have not voted by then.")
        )
        return redirect("ballots:pots", slug=election.slug)
    return render(request, "ballots/reminder_form.html", reminder_form_context(request, election, voter))


# No CSRF token: mail programs POST here themselves (RFC 8058 one-click), without a session. The signed
# token is the proof, and all the link can do is delete the reminder it names.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def reminder_cancel(request, token: str):
    """GET: one button (link scanners and previews change nothing). POST: delete the reminder."""
    try:
        links.cancel_check(token)
        done = services.reminder_cancel(token=token) if request.method == "POST" else None
    except DomainError as exc:
        return domain_error_page(request, exc)
    ctx = {"token": token, "done": request.method == "POST", "deleted": done}
    return render(request, "ballots/reminder_cancel.html", ctx)


@official_action("ballot.remind")
@require_POST
def reminders_send(request, election: Election):
    try:
        waiting = services.reminders_send_now(actor=request.user, election=election)
    except DomainError as exc:
        return _error(request, exc, election)
    if waiting:
        messages.success(
            request,
            ngettext("%(n)d reminder is being sent.", "%(n)d reminders are being sent.", waiting)
            % {"n": waiting},
        )
    else:
        messages.info(request, _("No reminder is waiting: nothing to send."))
    return redirect("core:manage", slug=election.slug)


@official_action("ballot.remind")
@require_http_methods(["GET", "POST"])
def reminders_plan(request, election: Election):
    """When the reminders go out by themselves: the announced closing time and how long before it."""
    form = ReminderPlanForm(request.POST or None, initial={"hours_before": services.hours_before_default()})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.reminder_plan_set(actor=request.user, election=election, **form.cleaned_data)
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("The reminders will be sent by themselves at the planned time."))
                return redirect("ballots:reminders_plan", slug=election.slug)
        else:
            status = 400
    ctx = {
        "election": election,
        "form": form,
        "scheduling_possible": services.scheduling_possible(),
        **reminders_dashboard(request.user, election),
    }
    return render(request, "ballots/reminders_plan.html", ctx, status=status)
