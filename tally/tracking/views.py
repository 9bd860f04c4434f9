"""Pages of project tracking: "what we built" (every funded project of the published elections, filtered),
one project's page, its officials' page, and the Atom feed of updates."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.syndication.views import Feed
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from pb.core.errorpages import domain_error_page
from pb.core.exceptions import DomainError
from pb.core.models import Election, Phase
from pb.core.permissions import allowed, require
from tally.tracking import selectors, services
from tally.tracking.forms import MilestoneForm, TrackingForm, UpdateForm
from tally.tracking.models import TrackingStatus

PAGE_SIZE = 24


def projects(request):
    f = {k: request.GET.get(k, "")[:80] for k in ("election", "status", "pot")}
    qs = selectors.tracked_projects(election_slug=f["election"], status=f["status"], pot=f["pot"])
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    elections = (
        Election.objects.filter(phase=Phase.PUBLISHED).prefetch_related("pots").order_by("-created_at")
    )
    ctx = {"page": page, "filters": f, "elections": elections, "statuses": TrackingStatus.choices}
    ctx |= selectors.funded_map(qs, election=next((e for e in elections if e.slug == f["election"]), None))
    return render(request, "tally/tracking/projects.html", ctx)


def project(request, slug, code):
    tracking = selectors.tracked_project(slug, code)
    ctx = {
        "t": tracking,
        "election": tracking.election,
        "milestones": tracking.milestones.all(),
        "updates": tracking.updates.all(),
        "can_edit": allowed(request.user, "tracking.edit", tracking.election),
    }
    return render(request, "tally/tracking/project.html", ctx)


FORMS = {"status": TrackingForm, "milestone": MilestoneForm, "update": UpdateForm}


def _apply(request, tracking, which: str, form) -> None:
    data = form.cleaned_data
    if which == "status":
        services.tracking_update(actor=request.user, tracking=tracking, **data)
    elif which == "milestone":
        services.milestone_add(actor=request.user, tracking=tracking, **data)
    else:
        services.update_post(actor=request.user, tracking=tracking, **data)


@login_required
@require_http_methods(["GET", "POST"])
def project_manage(request, slug, code):
    tracking = selectors.tracked_project(slug, code)
    try:
        require(request.user, "tracking.edit", tracking.election)
    except DomainError as exc:
        return domain_error_page(request, exc)
    which = request.POST.get("form", "") if request.method == "POST" else ""
    forms = {
        "status": TrackingForm(
            initial={
                "status": tracking.status,
                "progress": tracking.progress,
                "department": tracking.department,
                "actual_spend": tracking.actual_spend,
                "spend_note": tracking.spend_note,
                "cancel_reason": tracking.cancel_reason,
            }
        ),
        "milestone": MilestoneForm(),
        "update": UpdateForm(),
    }
    status = 200
    if which in FORMS:
        form = FORMS[which](request.POST, request.FILES)
        forms[which] = form
        if form.is_valid():
            try:
                _apply(request, tracking, which, form)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Saved: the project's page shows it now."))
                return redirect("tracking:manage", slug=slug, code=code)
        status = 400
    elif request.method == "POST":
        status = 400
    ctx = {"t": tracking, "election": tracking.election, "forms": forms}
    return render(request, "tally/tracking/manage.html", ctx, status=status)


class UpdatesFeed(Feed):
    """Atom feed of the latest updates on funded projects (all published elections)."""

    feed_type = Atom1Feed
    title = gettext_lazy("pb: what happens to the funded projects")
    subtitle = gettext_lazy("Updates from the officials on projects residents voted for.")

    def link(self):
        return reverse("tracking:projects")

    def items(self):
        return selectors.latest_updates()

    def item_title(self, item):
        p = item.tracking.proposal
        return f"{p.code} {p.title}: {item.tracking.get_status_display()}, {item.tracking.progress}%"

    def item_description(self, item):
        return item.text

    def item_link(self, item):
        p = item.tracking.proposal
        return reverse("tracking:project", args=[item.tracking.election.slug, p.code]) + f"#update-{item.pk}"

    def item_pubdate(self, item):
        return item.created_at

    def item_updateddate(self, item):
        return item.created_at
