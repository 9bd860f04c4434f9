from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from pb.core.errorpages import domain_error_page, election_page
from pb.core.exceptions import DomainError
from pb.core.models import Election, Phase
from pb.core.permissions import allowed, require
from proposals import maps, selectors, services
from proposals.comments.views import comments_context
from proposals.exceptions import NotAuthor, ProposalInvalid
from proposals.forms import FilterForm, MergeForm, ProposalForm, ReviewForm, TranslateForm
from proposals.models import Proposal, ProposalStatus
from proposals.supports.selectors import support_box, with_support_counts

PAGE_SIZE = 12


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
    proposals = selectors.proposals_public(election=election, filters=filters)
    if election.supports_enabled:
        proposals = with_support_counts(proposals)
    page = Paginator(proposals, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    ctx = {
        "election": election,
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "filters_active": any(
            request.GET.get(k) for k in ("pot", "category", "status", "cost_min", "cost_max", "funded")
        ),
        "results_published": selectors.funded_codes(election) is not None,
        # Anonymous visitors see the link too: it leads through sign-in to the form.
        "can_propose": allowed(request.user, "proposal.submit", election)
        or (not request.user.is_authenticated and election.phase == Phase.PROPOSALS_OPEN),
    }
    # A history-restore request (back button after the cache expired) needs the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "proposals/proposal_list.html#results" if partial else "proposals/proposal_list.html"
    return render(request, template, ctx, status=status)


def proposal_map(request, slug):
    """The proposals (after the vote: the funded projects) on a map, filtered like the list, with the same
    proposals listed below the map for keyboard and screen-reader users."""
    election = get_object_or_404(Election.objects.prefetch_related("pots", "categories"), slug=slug)
    form = FilterForm(request.GET or None, election=election)
    valid = not form.is_bound or form.is_valid()
    funded = selectors.funded_codes(election)
    proposals = list(
        selectors.proposals_public(election=election, filters=form.cleaned_data if form.is_bound else {})[
            : maps.MAX_MARKERS
        ]
    )
    ctx = {
        "election": election,
        "form": form,
        "proposals": proposals,
        "markers": maps.map_markers(proposals, slug=slug, funded=funded),
        "map": maps.map_settings(election),
        "funded": funded or set(),
        "results_published": funded is not None,
        "query": request.GET.urlencode(),
    }
    return render(request, "proposals/proposal_map.html", ctx, status=200 if valid else 400)


def proposal_detail(request, slug, code):
    proposal = _get_proposal(request, slug, code)
    election = proposal.election
    is_author = request.user.is_authenticated and proposal.author_id == request.user.pk
    can_review = allowed(request.user, "proposal.review", election)
    ctx = {
        "election": election,
        "proposal": proposal,
        "merged_from": proposal.merged_from.all(),
        "can_edit": is_author and proposal.status == ProposalStatus.DRAFT,
        "support": support_box(request.user, proposal),
        "can_review": can_review,
        # The author and the reviewers are told; the public page does not single the proposal out.
        "over_budget": (is_author or can_review) and selectors.over_pot_budget(proposal),
        "markers": maps.proposal_marker(proposal),
        "map": maps.map_settings(election),
        **comments_context(request, proposal),
        "can_translate": allowed(request.user, "content.translate", election),
    }
    return render(request, "proposals/proposal_detail.html", ctx)


def _over_budget_text(proposal: Proposal) -> str:
    return _(
        "The cost of %(code)s (%(cost)s %(currency)s) is more than the whole budget of %(pot)s "
        "(%(budget)s %(currency)s): as it is, it cannot be funded."
    ) % {
        "code": proposal.code,
        "cost": f"{proposal.final_cost:,}",
        "budget": f"{proposal.pot.budget:,}",
        "currency": proposal.election.currency,
        "pot": proposal.pot.name,
    }


@login_required
@require_http_methods(["GET", "POST"])
def proposal_create(request, slug):
    election, denied = election_page(request, slug, "proposal.submit")
    if denied:
        return denied
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
                return domain_error_page(request, exc)
            else:
                if proposal.status == ProposalStatus.SUBMITTED:
                    messages.success(
                        request, _("Thank you! Proposal %(code)s was submitted.") % {"code": proposal.code}
                    )
                else:
                    messages.success(request, _("Draft %(code)s saved.") % {"code": proposal.code})
                return redirect("proposals:detail", slug=slug, code=proposal.code)
        ctx = {"election": election, "form": form, "map": maps.map_settings(election)}
        return render(request, "proposals/proposal_form.html", ctx, status=400)
    ctx = {"election": election, "form": form, "map": maps.map_settings(election)}
    return render(request, "proposals/proposal_form.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def proposal_edit(request, slug, code):
    proposal = _get_proposal(request, slug, code)
    election = proposal.election
    if proposal.author_id != request.user.pk:
        return domain_error_page(
            request, NotAuthor(_("Only the author of proposal %(code)s can change it.") % {"code": code})
        )
    form = ProposalForm(request.POST or None, request.FILES or None, instance=proposal, election=election)
    ctx = {"election": election, "form": form, "proposal": proposal, "map": maps.map_settings(election)}
    if request.method == "POST":
        if form.is_valid():
            try:
                services.proposal_update(actor=request.user, proposal=proposal, **form.cleaned_data)
                if "submit" in request.POST:
                    services.proposal_submit(actor=request.user, proposal=proposal)
            except ProposalInvalid as exc:
                _apply_errors(form, exc)
            except DomainError as exc:
                return domain_error_page(request, exc)
            else:
                messages.success(request, _("Proposal %(code)s saved.") % {"code": code})
                return redirect("proposals:detail", slug=slug, code=code)
        return render(request, "proposals/proposal_form.html", ctx, status=400)
    try:
        services._ensure_draft(proposal)
    except DomainError as exc:
        return domain_error_page(request, exc)
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
        return domain_error_page(request, exc)
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
        return domain_error_page(request, exc)
    # No decision is preselected, not even for a proposal reviewed before: saving must be a choice.
    initial = {
        "reason": proposal.review_reason,
        "adjusted_cost": proposal.adjusted_cost,
        "cost_note": proposal.cost_note,
    }
    form = ReviewForm(request.POST or None, initial=initial)
    merge_form = MergeForm()
    ctx = {
        "election": election,
        "proposal": proposal,
        "form": form,
        "merge_form": merge_form,
        "over_budget_text": _over_budget_text(proposal) if selectors.over_pot_budget(proposal) else "",
    }
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
                return domain_error_page(request, exc)
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
    ctx = {
        "election": election,
        "proposal": duplicate,
        "form": ReviewForm(),
        "merge_form": merge_form,
        "over_budget_text": _over_budget_text(duplicate) if selectors.over_pot_budget(duplicate) else "",
    }
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
                return domain_error_page(request, exc)
            else:
                messages.success(
                    request, _("%(dup)s merged into %(keep)s.") % {"dup": code, "keep": keep.code}
                )
                return redirect("core:manage", slug=slug)
    return render(request, "proposals/proposal_review.html", ctx, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def proposal_translate(request, slug, code):
    """Officials give the title and description in the site's other languages (display only)."""
    proposal = _get_proposal(request, slug, code)
    try:
        require(request.user, "content.translate", proposal.election)
    except DomainError as exc:
        return domain_error_page(request, exc)
    form = TranslateForm(request.POST or None, proposal=proposal)
    ctx = {"election": proposal.election, "proposal": proposal, "form": form}
    if request.method == "POST" and form.is_valid():
        try:
            services.proposal_translate(
                actor=request.user,
                proposal=proposal,
                titles=form.texts("title"),
                descriptions=form.texts("description"),
            )
        except ProposalInvalid as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Translations of %(code)s saved.") % {"code": code})
            return redirect("proposals:detail", slug=slug, code=code)
    return render(request, "proposals/proposal_translate.html", ctx, status=400 if form.is_bound else 200)
