"""Results pages: the public ballot log, the officials' close/count/sign-off/certify page, the published
results with receipt lookup, published files, the council key and the public verifier."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.csp import CSP
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ballots.definition import definition_changed, definition_is_frozen, frozen_definition
from pb.core.audit import audit_latest_checkpoint
from pb.core.audit_keys import audit_public_key
from pb.core.errorpages import domain_error_page
from pb.core.exceptions import DomainError
from pb.core.jobs.services import KINDS, job_start
from pb.core.models import Election, Job, Pot
from pb.core.permissions import allowed, is_council, is_official
from tally import jobs, selectors
from tally.certification import signing
from tally.closing import close_cancel, close_confirm, close_request
from tally.counting import tally_start
from tally.engine import manifest as mf
from tally.engine.canonical import sha256_hex
from tally.filestore import election_dir, stored_file
from tally.forms import ReceiptForm, SignOffUploadForm, SignOffWithdrawForm, VerifyForm, WhatIfForm
from tally.models import CloseRequest, ExportFile, VerifyJob
from tally.signoff import signoff_status, signoff_upload, signoff_withdraw
from tally.verification import jobs as verify_jobs
from tally.verification import limits as verify_limits


def ballot_log(request, slug):
    election = get_object_or_404(Election, slug=slug)
    published = election.phase == "published"
    return render(
        request,
        "tally/log.html",
        {
            "election": election,
            "log": selectors.log_summary(election),
            "batches": selectors.log_batches(election) if published else None,
            "freeze": getattr(election, "definition_freeze", None),
        },
    )


def ballot_log_json(request, slug):
    """The log head for observers' scripts: note it during voting, check it against log.jsonl later."""
    from django.http import JsonResponse

    election = get_object_or_404(Election, slug=slug)
    freeze = getattr(election, "definition_freeze", None)
    return JsonResponse(
        {
            "election": election.slug,
            "definition_sha256": freeze.sha256 if freeze else None,
            **selectors.log_summary(election),
        }
    )


def _manage_context(request, election: Election, **extra) -> dict:
    user = request.user
    status = signoff_status(election)
    cert = selectors.certification(election)
    ctx = {
        "election": election,
        "log": selectors.log_summary(election),
        "freeze": getattr(election, "definition_freeze", None),
        "definition_changed": definition_is_frozen(election) and definition_changed(election),
        "close_request": CloseRequest.objects.filter(election=election, confirmed_by=None, cancelled=False)
        .select_related("requested_by")
        .first(),
        "can_close": allowed(user, "tally.close", election),
        "can_run": allowed(user, "tally.run", election),
        "can_signoff": allowed(user, "tally.signoff", election),
        "can_certify": allowed(user, "tally.certify", election),
        "can_publish": allowed(user, "election.publish", election),
        "run": selectors.latest_run(election),
        "official": selectors.official_run(election),
        "whatifs": selectors.whatif_runs(election),
        "signoff": status,
        "cert": cert,
        "key": signing.council_public_key(),
        "whatif_form": WhatIfForm(pots=_pot_vote_types(election)),
        "upload_form": SignOffUploadForm(),
        "withdraw_form": SignOffWithdrawForm(),
        "files": selectors.export_files(election),
        # The latest sign-off, certification and publication jobs, with links to their pages (pb.core.jobs).
        "jobs": list(Job.objects.filter(election=election).select_related("started_by")[:5]),
    }
    for j in ctx["jobs"]:
        j.label = KINDS[j.kind].label if j.kind in KINDS else j.kind
    names = dict(Pot.objects.filter(election=election).values_list("slug", "name"))
    if ctx["official"] is not None:
        # The offline re-count, pot by pot, exactly as the upload expects it (tally.signoff.signoff_upload).
        slugs = sorted(ctx["official"].summary)
        freeze = ctx["freeze"]
        counting = json.loads(freeze.canonical)["counting"] if freeze is not None else {}
        commands = selectors.offline_commands(counting, slugs)
        ctx["offline_one_step"] = selectors.signoff_one_step_command(counting, slugs)
        ctx["offline_pots"] = [
            {"slug": s, "name": names.get(s, s), "file": mf.pb_file(s), "command": c}
            for s, c in zip(slugs, commands, strict=True)
        ]
        ctx["offline_bundle"] = selectors.signoff_bundle_command(slugs)
        ctx["my_signoff"] = next((s for s in status["signoffs"] if s.official_id == user.pk), None)
    for s in [*status["signoffs"], *status["withdrawn"]]:
        for d in getattr(s, "differences", []):
            d["pot_name"] = names.get(d["pot"], d["pot"])
    for run in [ctx["official"], *ctx["whatifs"]]:
        if run is not None:
            run.rows = _summary_rows(run, names)
    ctx.update(extra)
    return ctx


def _pot_vote_types(election: Election) -> list[tuple[str, str]]:
    """(name, engine vote type) of each pot as frozen at opening (what a count reads), else as defined now."""
    freeze = getattr(election, "definition_freeze", None)
    if freeze is not None:
        pots = json.loads(freeze.canonical)["pots"]
    else:
        pots = Pot.objects.filter(election=election).values("name", "ballot_type")
    return [(p["name"], mf.VOTE_TYPE[p["ballot_type"]]) for p in pots]


def _summary_rows(run, names: dict[str, str]) -> list[dict]:
    """A run's per-pot summary for the officials' tables, with the pots' names (not their slugs)."""
    return [{"pot": names.get(slug, slug), **s} for slug, s in (run.summary or {}).items()]


def _staff_election(request, slug) -> Election:
    election = get_object_or_404(Election, slug=slug)
    if not (is_official(request.user, election) or is_council(request.user, election)):
        raise DomainError(_("Only election officials and the council can see this page."))
    return election


@login_required
def manage(request, slug):
    try:
        election = _staff_election(request, slug)
    except DomainError as exc:
        return render(request, "core/error.html", {"message": exc.message}, status=403)
    return render(request, "tally/manage.html", _manage_context(request, election))


@login_required
@require_GET
def run_status(request, slug):
    try:
        election = _staff_election(request, slug)
    except DomainError as exc:
        return HttpResponse(exc.message, status=403)
    return render(request, "tally/manage.html#run-status", _manage_context(request, election))


def _do(request, election, action):
    user = request.user
    if action == "close-request":
        close_request(actor=user, election=election)
        return _("Closing requested: a second official must confirm.")
    if action == "close-confirm":
        close_confirm(actor=user, election=election)
        return _("The vote is closed.")
    if action == "close-cancel":
        close_cancel(actor=user, election=election)
        return _("The close request was withdrawn.")
    if action == "count":
        tally_start(actor=user, election=election)
        return _("The official count has started.")
    if action == "whatif":
        form = WhatIfForm(request.POST, pots=_pot_vote_types(election))
        if not form.is_valid():
            raise DomainError(_("Choose a counting rule."))
        tally_start(actor=user, election=election, rule=form.cleaned_data["rule"])
        return _("The “what if” count has started. It is not the official result.")
    if action == "signoff-upload":
        form = SignOffUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            errors = form.errors.get("result") or [_("Attach the JSON result of your offline count.")]
            raise DomainError(" ".join(str(e) for e in errors))
        s = signoff_upload(actor=user, election=election, data=form.cleaned_data["result"].read())
        return (
            _("Your count matches the official count.")
            if s.matched
            else _("Your count does NOT match the official count.")
        )
    if action == "signoff-withdraw":
        form = SignOffWithdrawForm(request.POST)
        if not form.is_valid():
            raise DomainError(_("Say which sign-off you withdraw and why."))
        signoff_withdraw(
            actor=user,
            election=election,
            signoff_id=form.cleaned_data["signoff"],
            reason=form.cleaned_data["reason"],
        )
        return _("Your sign-off is withdrawn; you may re-count and sign off again.")
    raise Http404


# The buttons whose work is long: the request only queues a job (pb.core.jobs, tally.jobs) and sends the
# official to its page.
JOB_ACTIONS = {"certify": jobs.CERTIFY, "signoff-recount": jobs.SIGNOFF_RECOUNT, "publish": jobs.PUBLISH}


@login_required
@require_POST
def manage_action(request, slug, action):
    election = get_object_or_404(Election, slug=slug)
    try:
        if action in JOB_ACTIONS:
            job = job_start(actor=request.user, election=election, kind=JOB_ACTIONS[action])
            return redirect("core:job", pk=job.pk)
        done = _do(request, election, action)
    except DomainError as exc:
        election.refresh_from_db()
        ctx = _manage_context(request, election, error=exc.message)
        return render(request, "tally/manage.html", ctx, status=exc.status_code)
    from django.contrib import messages

    messages.success(request, done)
    return redirect("tally:manage", slug=slug)


@login_required
@require_GET
@xframe_options_sameorigin
@csp_override({"default-src": [CSP.NONE], "frame-ancestors": [CSP.SELF]})
def staff_file(request, slug, name):
    """An exported or certified file for the election's officials and council, before publication too: the
    bytes are served only after their SHA-256 matches the recorded one (a PDF inline, for the preview)."""
    try:
        election = _staff_election(request, slug)
    except DomainError as exc:
        return render(request, "core/error.html", {"message": exc.message}, status=403)
    if not ExportFile.objects.filter(election=election, name=name).exists():
        raise Http404
    try:
        data = stored_file(election, name)
    except FileNotFoundError:
        message = _("The file %(name)s is missing from the server's storage.") % {"name": name}
        return render(request, "core/error.html", {"message": message}, status=409)
    except DomainError as exc:
        return domain_error_page(request, exc)
    is_pdf = name.endswith(".pdf")
    resp = HttpResponse(data, content_type="application/pdf" if is_pdf else "text/plain; charset=utf-8")
    disposition = "inline" if is_pdf and request.GET.get("download") is None else "attachment"
    resp["Content-Disposition"] = f'{disposition}; filename="{name}"'
    resp["X-Content-SHA256"] = sha256_hex(data)
    resp["Cache-Control"] = "private, no-store"
    return resp


def results(request, slug):
    election = selectors.published_election(slug)
    cert = selectors.certification(election)
    manifest = selectors.manifest_of(cert)
    official = cert.run
    whatifs = selectors.whatif_runs(election)
    definition, _sha = frozen_definition(election)
    from tally.certification import pdf

    found = None
    form = ReceiptForm(request.GET or None)
    if form.is_valid():
        found = receipt_found(election, form.cleaned_data["receipt"])
    pots = pdf.readable_pots(
        pdf.pot_views(election, official, definition, with_metrics=True),
        election.currency,
        pdf.content_names(election),
    )
    names = {p["slug"]: p["name"] for p in pots}
    comparison = selectors.comparison(election, official, whatifs)
    for row in comparison:
        # A "what if" rule that could not count this pot's ballots funds nothing here: say why, not "".
        row["others"] = [
            (rule, [skipped] if (skipped := run.summary.get(row["pot"], {}).get("skipped")) else sel)
            for run, (rule, sel) in zip(whatifs, row["others"], strict=True)
        ]
        row["pot"] = names.get(row["pot"], row["pot"])
    turnout = pdf.readable_turnout(pdf.turnout(election))
    ctx = {
        "election": election,
        "cert": cert,
        "manifest": manifest,
        "resolutions": selectors.reconciliation_resolutions(manifest),
        "pots": pots,
        "turnout": turnout,
        "comparison": comparison,
        "files": selectors.export_files(election),
        "form": form,
        "found": found,
        "key": signing.council_public_key(),
    }
    if request.htmx and form.is_bound:
        return render(request, "tally/results.html#receipt-result", ctx)
    return render(request, "tally/results.html", ctx)


def receipt_found(election: Election, code: str) -> bool:
    """Is the receipt among the sealed ballots (the receipts of the published log)? Uses the unique index on
    Ballot.receipt_hash; certification_check proves the table and the published log agree."""
    from ballots.ballotbox.receipts import receipt_hash
    from ballots.models import Ballot

    return Ballot.objects.filter(
        election=election, receipt_hash=receipt_hash(code), sealed_batch__isnull=False
    ).exists()


def published_file(request, slug, name):
    election = selectors.published_election(slug)
    rec = get_object_or_404(ExportFile, election=election, name=name)
    path = election_dir(election) / rec.name
    if not path.exists():
        raise Http404
    content_type = "application/pdf" if name.endswith(".pdf") else "text/plain; charset=utf-8"
    resp = FileResponse(path.open("rb"), content_type=content_type, as_attachment=not name.endswith(".pdf"))
    resp["X-Content-SHA256"] = rec.sha256
    return resp


def council_key(request):
    info = signing.council_public_key()
    if request.GET.get("format") == "pem":
        if info is None:
            raise Http404
        return HttpResponse(info.pem, content_type="application/x-pem-file")
    # The latest signed audit head, for observers to note down (pb.core.audit checkpoints).
    ctx = {"key": info, "checkpoint": audit_latest_checkpoint(), "audit_key": audit_public_key()}
    return render(request, "tally/key.html", ctx)


def _verify_context(form, report=None, **extra) -> dict:
    from django.conf import settings

    return {
        "form": form,
        "report": report,
        "key": signing.council_public_key(),
        "manifest_file": mf.MANIFEST_FILE,
        "max_mb": settings.PB_VERIFY_MAX_BYTES // (1024 * 1024),
        **extra,
    }


@require_http_methods(["GET", "POST"])
@csrf_exempt  # checked in _verify_post, after the limits: the CSRF check reads the whole upload
def verify_page(request):
    """The public verifier. A POST is refused (429, Retry-After) before its upload is read when the client
    has verified too often or the site's verification slots are taken (tally.verification.limits); the body
    size
    was already bounded by PB_VERIFY_MAX_BYTES (pb.core.middleware). An accepted upload is checked by a task
    on the "public" queue (tally.verification.jobs) and the browser is sent to its result page."""
    if request.method != "POST":
        return render(request, "tally/verify.html", _verify_context(VerifyForm()))
    try:
        verify_limits.verify_rate_count(request)
        job = verify_limits.verify_job_reserve()
    except verify_limits.VerifyBusy as exc:
        response = render(
            request, "tally/verify.html", _verify_context(VerifyForm(), error=exc.message), status=429
        )
        response["Retry-After"] = str(exc.retry_after)
        return response
    try:
        return _verify_post(request, job)
    finally:
        if not job.upload:  # refused (form, CSRF) or broken off before it was stored: the slot is given back
            job.delete()


@csrf_protect
def _verify_post(request, job):
    info = signing.council_public_key()
    form = VerifyForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "tally/verify.html", _verify_context(form), status=400)
    if info is None:
        form.add_error(None, _("This site has no council key to verify against."))
        return render(request, "tally/verify.html", _verify_context(form))
    files = {f.name.rsplit("/", 1)[-1]: f.read() for f in form.cleaned_data["files"]} or None
    verify_jobs.verify_job_submit(job=job, pdf=form.cleaned_data["pdf"].read(), files=files)
    return redirect("tally:verify_result", token=job.pk)


@require_GET
def verify_result(request, token):
    """A verification's result page: polls (HTMX, or a refresh without JavaScript) until the public worker
    has checked the upload, then shows the report as the verify page did: 422 when it FAILs, like the POST
    used to (a fragment is always 200, so HTMX swaps it in)."""
    job = get_object_or_404(VerifyJob, pk=token)
    report = verify_jobs.verify_job_report(job)
    ctx = _verify_context(VerifyForm(), report, job=job, pending=job.status in ("queued", "running"))
    if request.htmx:
        return render(request, "tally/verify.html#verify-report", ctx)
    return render(
        request, "tally/verify.html", ctx, status=422 if report is not None and not report.ok else 200
    )
