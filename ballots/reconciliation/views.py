"""The officials' reconciliation page: ballots against participations per pot, channel and booth, and the
two-official resolutions of the differences. Plain forms (POST, redirect after POST); no JavaScript needed."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from ballots.exceptions import ReconciliationError
from ballots.models import ReconciliationChannel
from ballots.reconciliation import services
from ballots.reconciliation.selectors import reconciliation_status
from pb.core.exceptions import DomainError
from pb.core.models import Election, Pot
from pb.core.permissions import allowed, require


class ResolutionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("propose", "propose"), ("confirm", "confirm"), ("withdraw", "withdraw")]
    )
    pot = forms.IntegerField(required=False, min_value=1)
    channel = forms.ChoiceField(choices=ReconciliationChannel.choices, required=False)
    booth = forms.CharField(max_length=80, required=False, strip=True)
    reason = forms.CharField(
        label=gettext_lazy("Reason (published with the results)"),
        required=False,
        max_length=services.REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    resolution = forms.IntegerField(required=False, min_value=1)


def _act(user, election: Election, data: dict) -> str:
    if data["action"] == "propose":
        pot = Pot.objects.filter(pk=data["pot"] or 0, election=election).first()
        if pot is None or not data["channel"]:
            raise ReconciliationError(_("Say which pot and channel the resolution is for."))
        services.reconciliation_resolve_propose(
            actor=user,
            election=election,
            pot=pot,
            channel=data["channel"],
            booth=data["booth"],
            reason=data["reason"],
        )
        return _("Resolution proposed: a second, different official must confirm it.")
    if not data["resolution"]:
        raise ReconciliationError(_("Say which resolution."))
    if data["action"] == "confirm":
        services.reconciliation_resolve_confirm(actor=user, election=election, resolution=data["resolution"])
        return _("Resolution confirmed.")
    services.reconciliation_resolve_withdraw(actor=user, election=election, resolution=data["resolution"])
    return _("Proposal withdrawn.")


@login_required
@require_http_methods(["GET", "POST"])
def reconciliation(request, slug: str):
    election = get_object_or_404(Election, slug=slug)
    try:
        require(request.user, "turnout.view", election)
    except DomainError as exc:
        ctx = {"message": exc.message, "election": election}
        return render(request, "ballots/vote_error.html", ctx, status=exc.status_code)
    error, status = "", 200
    if request.method == "POST":
        form = ResolutionForm(request.POST)
        try:
            if not form.is_valid():
                raise ReconciliationError(
                    "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
                )
            done = _act(request.user, election, form.cleaned_data)
        except DomainError as exc:
            error, status = exc.message, exc.status_code
        else:
            messages.success(request, done)
            return redirect("ballots:reconciliation", slug=election.slug)
    ctx = {
        "election": election,
        "status": reconciliation_status(election),
        "can_resolve": allowed(request.user, "reconciliation.resolve", election),
        "reason_field": ResolutionForm().fields["reason"],
        "error": error,
    }
    return render(request, "ballots/reconciliation.html", ctx, status=status)
