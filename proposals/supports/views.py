"""Support a proposal, or take the support back (POST; HTMX swaps the support box, without JavaScript the
page reloads with a message); the officials' settings of the supports phase."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from pb.core.errorpages import election_page
from pb.core.exceptions import DomainError
from proposals.models import Proposal
from proposals.supports import services
from proposals.supports.forms import SupportsForm
from proposals.supports.selectors import support_box

ACTIONS = {"support": services.proposal_support, "withdraw": services.proposal_support_withdraw}
DONE = {
    "support": gettext_lazy("Your support is counted."),
    "withdraw": gettext_lazy("Your support was taken back."),
}


@login_required
@require_POST
def proposal_support(request, slug, code):
    proposal = get_object_or_404(
        Proposal.objects.select_related("election", "pot"), election__slug=slug, code=code
    )
    action = request.POST.get("action", "")
    error = ""
    try:
        if action not in ACTIONS:
            raise DomainError(_("Choose to support the proposal or to take your support back."))
        ACTIONS[action](actor=request.user, proposal=proposal)
    except DomainError as exc:
        error = exc.message
    if not request.htmx:
        (messages.error if error else messages.success)(request, error or DONE[action])
        return redirect("proposals:detail", slug=slug, code=code)
    ctx = {
        "election": proposal.election,
        "proposal": proposal,
        "support": support_box(request.user, proposal),
        "support_error": error,
        "support_done": "" if error else DONE[action],
    }
    # 200 even for a refusal: htmx swaps only 2xx answers; the refusal shows inside the box (role=alert).
    return render(request, "proposals/proposal_detail.html#support-box", ctx)


@login_required
def supports_settings(request, slug):
    """The election's supports phase and its rules (officials, before the phase starts)."""
    election, denied = election_page(request, slug, "election.edit")
    if denied:
        return denied
    form = SupportsForm(request.POST or None, election=election)
    if request.method == "POST" and form.is_valid():
        try:
            services.election_supports_configure(actor=request.user, election=election, **form.rules())
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The supports phase is set."))
            return redirect("core:manage", slug=slug)
    status = 400 if form.errors else 200
    return render(
        request, "proposals/supports_settings.html", {"election": election, "form": form}, status=status
    )
