from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from pb.core.errorpages import domain_error_page
from pb.core.exceptions import DomainError
from proposals.follows import services
from proposals.models import Proposal
from proposals.selectors import proposal_visible


@login_required
@require_POST
def follow_toggle(request, slug, code):
    """POST action=follow or action=unfollow (a plain form: works without JavaScript)."""
    proposal = get_object_or_404(Proposal.objects.select_related("election"), election__slug=slug, code=code)
    if not proposal_visible(proposal, request.user):
        raise Http404
    try:
        if request.POST.get("action") == "unfollow":
            services.follow_delete(actor=request.user, proposal=proposal)
            messages.success(request, _("You no longer follow %(code)s.") % {"code": proposal.code})
        else:
            services.follow_create(actor=request.user, proposal=proposal)
            messages.success(
                request,
                _("You follow %(code)s: you will be notified when it changes.") % {"code": proposal.code},
            )
    except DomainError as exc:
        return domain_error_page(request, exc)
    return redirect("proposals:detail", slug=slug, code=code)
