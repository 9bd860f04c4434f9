from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from pb.core.clientip import client_ip
from pb.core.errorpages import domain_error_page, election_page
from pb.core.exceptions import DomainError
from pb.core.models import Election
from pb.core.permissions import allowed, require
from proposals import selectors as proposal_selectors
from proposals.comments import selectors, services
from proposals.comments.forms import CommentForm, HideForm, ReportForm
from proposals.comments.models import Comment
from proposals.follows.models import Follow
from proposals.models import Proposal, ProposalStatus


def comments_context(request, proposal: Proposal, form: CommentForm | None = None) -> dict:
    """What the proposal page needs for its comments section and follow button."""
    user = request.user
    signed_in = user.is_authenticated
    comments = selectors.comments_for_proposal(proposal=proposal)
    everything = [c for top in comments for c in (top, *top.replies_list)]
    return {
        "comments": comments,
        "editable_ids": {c.pk for c in everything if services.comment_editable(c, user)},
        "comment_form": form or CommentForm(),
        "can_comment": proposal.status != ProposalStatus.DRAFT
        and allowed(user, "comment.post", proposal.election),
        "can_moderate": allowed(user, "comment.moderate", proposal.election),
        "following": signed_in and Follow.objects.filter(user_id=user.pk, proposal=proposal).exists(),
        "user_id": user.pk if signed_in else None,
    }


def _proposal(request, slug, code) -> Proposal:
    proposal = get_object_or_404(
        Proposal.objects.select_related("election", "pot", "category", "merged_into", "author"),
        election__slug=slug,
        code=code,
    )
    if not proposal_selectors.proposal_visible(proposal, request.user):
        raise Http404
    return proposal


def _comment(request, slug, code, pk) -> Comment:
    proposal = _proposal(request, slug, code)
    comment = get_object_or_404(
        Comment.objects.select_related("author", "proposal"), pk=pk, proposal=proposal
    )
    comment.proposal = proposal
    return comment


def _anchor(comment: Comment) -> str:
    return services.comment_url(comment)


def _form_page(request, template: str, comment, form):
    """A comment's report or hide page; 400 while its form has errors."""
    ctx = {
        "comment": comment,
        "proposal": comment.proposal,
        "election": comment.proposal.election,
        "form": form,
    }
    return render(request, template, ctx, status=400 if form.errors else 200)


@login_required
@require_POST
def comment_create(request, slug, code):
    proposal = _proposal(request, slug, code)
    form = CommentForm(request.POST)
    if form.is_valid():
        parent = form.cleaned_data.get("parent")
        try:
            comment = services.comment_post(
                actor=request.user,
                proposal=proposal,
                body=form.cleaned_data["body"],
                parent=Comment(pk=parent) if parent else None,
            )
        except services.CommentInvalid as exc:
            form.add_error("body", exc.message)
        except DomainError as exc:
            return domain_error_page(request, exc)
        else:
            if request.htmx:  # the section again, with the new comment and an empty form
                ctx = {
                    "election": proposal.election,
                    "proposal": proposal,
                    **comments_context(request, proposal),
                }
                return render(request, "proposals/proposal_detail.html#comments", {**ctx, "posted": comment})
            messages.success(request, _("Your comment was posted."))
            return redirect(_anchor(comment))
    ctx = {"election": proposal.election, "proposal": proposal, **comments_context(request, proposal, form)}
    if request.htmx:  # htmx swaps only 2xx answers: the form with its errors comes back as 200
        return render(request, "proposals/proposal_detail.html#comments", ctx)
    ctx["merged_from"] = proposal.merged_from.all()
    return render(request, "proposals/proposal_detail.html", ctx, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def comment_edit(request, slug, code, pk):
    comment = _comment(request, slug, code, pk)
    form = CommentForm(request.POST or None, initial={"body": comment.body})
    if not services.comment_editable(comment, request.user):
        return domain_error_page(
            request, services.CommentNotAllowed(_("This comment can no longer be edited."))
        )
    if request.method == "POST" and form.is_valid():
        try:
            services.comment_edit(actor=request.user, comment=comment, body=form.cleaned_data["body"])
        except services.CommentInvalid as exc:
            form.add_error("body", exc.message)
        except DomainError as exc:
            return domain_error_page(request, exc)
        else:
            return redirect(_anchor(comment))
    ctx = {
        "comment": comment,
        "proposal": comment.proposal,
        "election": comment.proposal.election,
        "form": form,
    }
    return render(request, "proposals/comments/comment_edit.html", ctx, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def comment_report(request, slug, code, pk):
    comment = _comment(request, slug, code, pk)
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.comment_report(
                actor=request.user,
                comment=comment,
                reason=form.cleaned_data["reason"],
                client_key=client_ip(request),
            )
        except DomainError as exc:
            return domain_error_page(request, exc)
        messages.success(request, _("Thank you. The officials will look at this comment."))
        return redirect(_anchor(comment))
    return _form_page(request, "proposals/comments/comment_report.html", comment, form)


@login_required
@require_http_methods(["GET", "POST"])
def comment_hide(request, slug, code, pk):
    comment = _comment(request, slug, code, pk)
    try:
        require(request.user, "comment.moderate", comment.proposal.election)
    except DomainError as exc:
        return domain_error_page(request, exc)
    form = HideForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.comment_hide(actor=request.user, comment=comment, reason=form.cleaned_data["reason"])
        except services.CommentInvalid as exc:
            form.add_error("reason", exc.message)
        except DomainError as exc:
            return domain_error_page(request, exc)
        else:
            messages.success(request, _("The comment is hidden; the reason is shown in its place."))
            return redirect(_anchor(comment))
    return _form_page(request, "proposals/comments/comment_hide.html", comment, form)


@login_required
def comments_moderation(request, slug):
    election, denied = election_page(request, slug, "comment.moderate")
    if denied:
        return denied
    ctx = {"election": election, "comments": selectors.comments_reported(election=election)}
    return render(request, "proposals/comments/comments_moderation.html", ctx)


def moderation_url(election: Election) -> str:
    return reverse("proposals:comments_moderation", args=[election.slug])
