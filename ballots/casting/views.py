"""Casting pages (the voter's pots, a ballot, review, cast, receipt); officials' paper and turnout pages.

The ballot never lives on the server before it is cast: the review page carries the choice back in hidden
fields, and the receipt is rendered in the response to the cast (no redirect), so the receipt code is not
kept anywhere, not even in the session. Every form works without JavaScript; htmx only refreshes the bar.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from ballots.casting import castctx, selectors, services
from ballots.casting.forms import (
    PaperAcceptForm,
    PaperBatchForm,
    PaperEntryForm,
    PaperMarkForm,
    ballot_hidden_fields,
    ballot_rows,
    raw_ballot_from_post,
    review_choices,
)
from ballots.casting.validation import RawBallot, ballot_status, money
from ballots.exceptions import AlreadyVoted, BallotInvalid
from ballots.models import Channel, PaperBatch, VoterRollEntry
from ballots.reminders.forms import reminder_form_context
from ballots.roll import identity
from ballots.roll.eligibility import pot_by_slug
from ballots.roll.identification import already_voted_message
from pb.core.exceptions import DomainError, PhaseError
from pb.core.models import BallotType, Election, Phase, Pot
from pb.core.permissions import allowed, require


def _error(request, exc: DomainError, election: Election | None = None):
    ctx = {"message": exc.message, "election": election}
    return render(request, "ballots/vote_error.html", ctx, status=exc.status_code)


def voter_required(view):
    """Resolve the election and the voter identified in this browser; otherwise go and identify."""

    @wraps(view)
    def inner(request, slug, *args, **kwargs):
        voter = identity.session_voter(request, slug)  # the voter with their election, in one query
        if voter is None:
            get_object_or_404(Election, slug=slug)
            return redirect("ballots:identify", slug=slug)
        return view(request, voter.election, voter, *args, **kwargs)

    return inner


def _channel(request, election: Election) -> tuple[str, str]:
    if identity.current_method(request, election) == "booth":
        return Channel.BOOTH, identity.booth_name(request, election)
    return Channel.ONLINE, ""


# --- Voters -------------------------------------------------------------------------------------------------


@never_cache
@voter_required
def pots(request, election: Election, voter):
    """The pots this voter may vote in, done or not."""
    rows = selectors.voter_pots(voter)
    channel, booth = _channel(request, election)
    ctx = {
        "election": election,
        "rows": rows,
        "all_done": all(r.done for r in rows),
        "voting_open": election.phase == Phase.VOTING_OPEN,
        "at_booth": channel == Channel.BOOTH,
        "booth": booth,
        "paper_form": PaperMarkForm(initial={"booth": booth}),
    }
    if ctx["voting_open"] and not ctx["all_done"] and channel != Channel.BOOTH:
        ctx.update(reminder_form_context(request, election, voter))  # "remind me before voting closes"
    return render(request, "ballots/pots.html", ctx)


def _ballot_context(election, pot, spec, raw, status=None):
    status = status or ballot_status(spec, raw)
    return {
        "election": election,
        "pot": pot,
        "spec": spec,
        "rows": ballot_rows(spec, raw),
        "status": status,
        "hidden": ballot_hidden_fields(spec, raw),
        "ranks": range(1, spec.max_rank + 1),
        "budget_text": money(spec.budget, spec.currency),
        "min_spend_text": money(spec.min_spend, spec.currency) if spec.min_spend_percent else "",
        "cost_text": money(status.cost, spec.currency),
        "remaining_text": money(max(status.remaining, 0), spec.currency),
        "over_text": money(status.over_budget, spec.currency),
        # Over the limit the bar said "(-1 left)"; the problems list says by how much instead.
        "points_left": max(status.points_left or 0, 0),
        "BallotType": BallotType,
        # Over the limit, the meter's scale grows so the bar shows the excess (past `high`: a warning colour).
        "meter_max": max(spec.points_total or 0, status.points_used)
        if spec.ballot_type == BallotType.POINTS
        else max(spec.budget, status.cost),
        "choices": review_choices(spec, status.clean) if status.clean else [],
    }


def _with_descriptions(ctx: dict, texts: dict[str, selectors.ProjectText], version: str) -> dict:
    """Give each ballot row its proposal's description, shown in a disclosure so a voter can read what a
    project is without leaving the ballot (the live bar's partial does not need them); titles and
    descriptions in the voter's language where officials translated them (display only: the marks are
    codes, and the frozen definition keeps the original titles)."""
    # The cached blank project list is keyed by this too: a translated title or a new picture shows at once.
    ctx["list_version"] = version
    for row in ctx["rows"]:
        text = texts.get(row.code)
        if text is None:
            row.description, row.thumb_alt, row.thumb_url = "", "", ""
            continue
        row.title, row.description, row.thumb_alt = text.title, text.description, text.alt
        row.thumb_url = default_storage.url(text.thumb) if text.thumb else ""  # the proposal's picture, small
    for choice in ctx["choices"]:
        if choice.code in texts:
            choice.title = texts[choice.code].title
    return ctx


def _pot(election: Election, pot_slug: str) -> Pot:
    pot = pot_by_slug(election, pot_slug)
    if pot is None:
        raise Http404("No such pot.")
    return pot


def _open_ballot(election: Election, voter, pot_slug: str):
    """The pot, if this voter may still vote in it now; else the DomainError that says why. One query, the
    voter's participations: the election's pots are kept (ballots.roll.eligibility.election_pots)."""
    pot = _pot(election, pot_slug)
    if election.phase != Phase.VOTING_OPEN:
        raise PhaseError(_("Voting is not open in this election."))
    identity.check_eligible(voter, pot)
    if pot.pk in identity.voted_pots(voter):
        raise AlreadyVoted(already_voted_message(voter, pot))  # on paper: says so
    return pot


@never_cache
@voter_required
@require_http_methods(["GET", "POST"])
def ballot(request, election: Election, voter, pot_slug: str):
    """GET: the ballot. POST: check it; problems re-show the ballot (400), else the review page."""
    try:
        pot = _open_ballot(election, voter, pot_slug)
    except DomainError as exc:
        return _error(request, exc, election)
    spec, texts, version = selectors.ballot_page(pot)
    raw = raw_ballot_from_post(pot.ballot_type, request.POST) if request.method == "POST" else RawBallot()
    ctx = _with_descriptions(_ballot_context(election, pot, spec, raw), texts, version)
    if request.method == "GET" or "edit" in request.POST:
        ctx["blank"] = request.method == "GET"  # nothing marked yet: the project list is cached
        return render(request, "ballots/ballot_form.html", ctx)
    if not ctx["status"].ok:
        ctx["show_problems"] = True
        return render(request, "ballots/ballot_form.html", ctx, status=400)
    return render(request, "ballots/ballot_review.html", ctx)


@voter_required
@require_POST
def ballot_check(request, election: Election, voter, pot_slug: str):
    """htmx: the live budget / count / points bar for the marks so far (a partial of the ballot page)."""
    pot = _pot(election, pot_slug)
    spec = selectors.ballot_spec(pot)
    ctx = _ballot_context(election, pot, spec, raw_ballot_from_post(pot.ballot_type, request.POST))
    return render(request, "ballots/ballot_form.html#budget-bar", ctx)


@never_cache
@require_POST
def ballot_cast(request, slug: str, pot_slug: str):
    """Cast the reviewed ballot; the response is the receipt, shown this once. The voter's roll entry is read
    once, under its lock, inside `services.ballot_cast`, in the statement that also re-reads the election's
    phase and frozen definition."""
    ctx = castctx.pot_context(slug, pot_slug)
    if ctx is None:
        raise Http404("No such pot.")
    election, pot = ctx.election, ctx.pot
    voter_id = identity.current_voter_id(request, election)
    if voter_id is None:
        return redirect("ballots:identify", slug=slug)
    raw = raw_ballot_from_post(pot.ballot_type, request.POST)
    channel, booth = _channel(request, election)
    try:
        result = services.ballot_cast(
            actor=identity.cast_actor(request, election),  # at a booth: the official who identified
            election=election,
            pot=pot,
            voter=voter_id,
            raw=raw,
            channel=channel,
            booth=booth,
            context=ctx,
            identity_version=identity.current_voter_version(request, election),
        )
    except VoterRollEntry.DoesNotExist:  # the identification names a roll entry that is no longer there
        return identity.forget_voter(request, redirect("ballots:identify", slug=slug))
    except BallotInvalid:
        _spec, texts, version = selectors.ballot_page(pot)
        form_page = _with_descriptions(_ballot_context(election, pot, ctx.spec, raw), texts, version)
        form_page["show_problems"] = True
        return render(request, "ballots/ballot_form.html", form_page, status=400)
    except DomainError as exc:
        return _error(request, exc, election)
    ctx = {
        "election": election,
        "pot": pot,
        "pots_left": result.pots_left > 0,
        "receipt": result.receipt_code,
    }
    return render(request, "ballots/ballot_receipt.html", ctx)


@voter_required
@require_POST
def paper_mark(request, election: Election, voter):
    """At a booth: the identified resident takes paper ballots instead (marked on the roll)."""
    form = PaperMarkForm(request.POST)
    if not form.is_valid():
        return _error(
            request, BallotInvalid(_("Say at which booth the paper ballots are handed out.")), election
        )
    try:
        marked = services.paper_voter_mark(
            actor=identity.cast_actor(request, election),
            election=election,
            voter=voter,
            booth=form.cleaned_data["booth"],
        )
    except DomainError as exc:
        return _error(request, exc, election)
    messages.success(
        request,
        _("Marked on the roll: hand out paper ballots for %(pots)s.")
        % {"pots": ", ".join(p.pot.name for p in marked)},
    )
    return identity.forget_voter(request, redirect("ballots:booth", slug=election.slug))


# --- Officials ----------------------------------------------------------------------------------------------


def official_action(action: str):
    def deco(view):
        @login_required
        @wraps(view)
        def inner(request, slug, *args, **kwargs):
            election = get_object_or_404(Election, slug=slug)
            try:
                require(request.user, action, election)
            except DomainError as exc:
                return _error(request, exc, election)
            return view(request, election, *args, **kwargs)

        return inner

    return deco


@official_action("turnout.view")
def turnout(request, election: Election):
    k = castctx.frozen_anonymity_k(election.pk)  # cells under K hidden, totals exact
    ctx = {
        "election": election,
        "rows": selectors.turnout(election, anonymity_k=k),
        "anonymity_k": k,
        "channels": Channel.choices,
        "published": election.phase == Phase.PUBLISHED,
    }
    return render(request, "ballots/turnout.html", ctx)


@official_action("paper.enter")
@require_http_methods(["GET", "POST"])
def paper_batches(request, election: Election):
    """Batches of paper ballots, a form to open one, and the per-booth reconciliation."""
    form = PaperBatchForm(request.POST or None, election=election)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                batch = services.paper_batch_create(
                    actor=request.user, election=election, **form.cleaned_data
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                return redirect("ballots:paper_batch", slug=election.slug, batch_id=batch.pk)
        else:
            status = 400
    ctx = {
        "election": election,
        "form": form,
        "batches": selectors.paper_batches(election),
        "reconciliation": selectors.paper_reconciliation(election),
    }
    return render(request, "ballots/paper_batches.html", ctx, status=status)


@official_action("paper.enter")
@require_http_methods(["GET", "POST"])
def paper_batch(request, election: Election, batch_id: int):
    """Enter a batch (each official on their own), see the differences, accept."""
    batch = get_object_or_404(
        PaperBatch.objects.select_related("pot", "election"), pk=batch_id, election=election
    )
    mine = batch.entries.filter(entered_by=request.user).first()
    entry_form = PaperEntryForm(
        request.POST if request.POST.get("action") == "enter" else None,
        initial={"text": mine.text if mine else ""},
    )
    status = 200
    error = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "enter":
                if not entry_form.is_valid():
                    raise services.PaperError(_("Type at least one line: one paper ballot per line."))
                services.paper_batch_enter(
                    actor=request.user, batch=batch, text=entry_form.cleaned_data["text"]
                )
                messages.success(request, _("Your entry of this batch is saved."))
                return redirect("ballots:paper_batch", slug=election.slug, batch_id=batch.pk)
            if action == "accept":
                cmp = services.paper_batch_compare(batch=batch)
                accept_form = PaperAcceptForm(request.POST, differences=cmp.differences)
                accept_form.is_valid()
                services.paper_batch_accept(
                    actor=request.user,
                    batch=batch,
                    resolution=accept_form.resolution(),
                    note=accept_form.cleaned_data.get("note", ""),
                )
                messages.success(request, _("The batch is accepted."))
                return redirect("ballots:paper_batch", slug=election.slug, batch_id=batch.pk)
        except DomainError as exc:
            error, status = exc.message, exc.status_code
        batch.refresh_from_db()
    cmp = services.paper_batch_compare(batch=batch)
    ctx = {
        "election": election,
        "batch": batch,
        "mine": mine,
        "entry_form": entry_form,
        "comparison": cmp,
        "accept_form": PaperAcceptForm(request.POST or None, differences=cmp.differences)
        if request.POST.get("action") == "accept"
        else PaperAcceptForm(differences=cmp.differences),
        "error": error,
        "is_open": batch.status == "open",
        "format_help": _paper_format_help(batch.pot.ballot_type),
    }
    return render(request, "ballots/paper_batch.html", ctx, status=status)


def _paper_format_help(ballot_type: str) -> str:
    return {
        BallotType.KNAPSACK: _("Project codes on the ballot, e.g. “P001 P004”. A blank ballot: “-”."),
        BallotType.APPROVAL: _("Project codes on the ballot, e.g. “P001 P004”. A blank ballot: “-”."),
        BallotType.RANKED: _("Codes best first, e.g. “P004 P001”, or code:rank pairs, e.g. “P001:2 P004:1”."),
        BallotType.POINTS: _("Code:points pairs, e.g. “P001:3 P004:2”."),
    }[ballot_type]


def can_see_turnout(user, election: Election) -> bool:
    return allowed(user, "turnout.view", election)
