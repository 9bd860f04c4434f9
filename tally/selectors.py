"""Reads for the results pages."""

from __future__ import annotations

import json
import shlex
from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404

from ballots.models import BallotLog, LogBatch
from pb.core.models import Election, Phase
from tally.engine import manifest as mf
from tally.models import Certification, ExportFile, RunStatus, TallyRun


def published_election(slug: str) -> Election:
    """The election, once its results are published; before that nothing about results is public."""
    election = get_object_or_404(Election, slug=slug)
    if election.phase != Phase.PUBLISHED:
        raise Http404("results are not published")
    return election


def log_summary(election: Election) -> dict[str, Any]:
    log = BallotLog.objects.filter(election=election).first()
    return {
        "head": log.head if log else None,
        "batches": log.seq if log else 0,
        "ballots": log.ballots if log else 0,
    }


def log_batches(election: Election):
    return LogBatch.objects.filter(election=election).order_by("seq")


def official_run(election: Election) -> TallyRun | None:
    return TallyRun.objects.filter(election=election, official=True, status=RunStatus.DONE).first()


def certified_funded_codes(election: Election) -> list[str]:
    """The project ids the certified count funded, pot by pot in funding order ([] before certification)."""
    cert = Certification.objects.select_related("run").filter(election=election).first()
    if cert is None:
        return []
    return [code for pot in sorted(cert.run.summary) for code in cert.run.summary[pot].get("selected", [])]


def funded_codes(election: Election) -> set[str] | None:
    """The project ids funded once the results are published (None before): the proposals map and list offer
    "funded projects only" (registered in proposals.selectors.FUNDED_HOOKS)."""
    if election.phase != Phase.PUBLISHED:
        return None
    return set(certified_funded_codes(election))


def whatif_runs(election: Election) -> list[TallyRun]:
    return list(TallyRun.objects.filter(election=election, official=False, status=RunStatus.DONE))


def latest_run(election: Election) -> TallyRun | None:
    return TallyRun.objects.filter(election=election).first()


def certification(election: Election) -> Certification | None:
    return Certification.objects.filter(election=election).select_related("run").first()


def export_files(election: Election):
    return ExportFile.objects.filter(election=election).order_by("kind", "name")


def comparison(election: Election, official: TallyRun, others: list[TallyRun]) -> list[dict[str, Any]]:
    """Per pot: the official selection next to each "what if" rule's."""
    rows = []
    for slug, summary in official.summary.items():
        rows.append(
            {
                "pot": slug,
                "official": summary["selected"],
                "others": [(r.rule, r.summary.get(slug, {}).get("selected", [])) for r in others],
            }
        )
    return rows


def manifest_of(cert: Certification) -> dict[str, Any]:
    return json.loads(cert.manifest)


def reconciliation_resolutions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The signed manifest's resolved differences between ballots and voters, each with its pot's name: the
    results page and the PDF list them, or say there were none."""
    return [
        {"pot": rec.get("name", slug), **r}
        for slug, rec in (manifest.get("reconciliation") or {}).items()
        for r in rec.get("resolutions", [])
    ]


def offline_count_options(counting: dict[str, Any]) -> str:
    """What `python -m tally run` needs besides the file to count as the server did: the .pb file names the
    rule, not the tie-break, its seed or rule options. Empty when those are the engine's defaults."""
    from tally.engine.ties import TieBreak

    parts = []
    spec = counting.get("tie_break") or ""
    if spec and TieBreak.parse(spec, []).chain != TieBreak.parse(None, []).chain:
        parts += ["--tie-break", shlex.quote(spec)]
    if counting.get("seed"):
        parts += ["--seed", shlex.quote(counting["seed"])]
    for key, value in sorted((counting.get("options") or {}).items()):
        if (key, value) == ("unsupported", "never"):  # the engine's default, stated in every definition
            continue
        parts += ["--option", shlex.quote(f"{key}={value}")]
    return " ".join(parts)


def offline_commands(counting: dict[str, Any], slugs: list[str]) -> list[str]:
    """Per pot, the command that counts its downloaded file offline into <slug>.json."""
    opts = offline_count_options(counting)
    return [
        f"python -m tally run {mf.pb_file(slug)} --json{' ' + opts if opts else ''} > {slug}.json"
        for slug in slugs
    ]


def signoff_one_step_command(counting: dict[str, Any], slugs: list[str]) -> str:
    """The same in one step, with the engine's own command (no shell redirection or joining)."""
    opts = offline_count_options(counting)
    files = " ".join(mf.pb_file(slug) for slug in slugs)
    return f"python -m tally signoff-bundle {files}{' ' + opts if opts else ''} -o signoff.json"


def signoff_bundle_command(slugs: list[str]) -> str:
    """One command that joins the per-pot outputs (<slug>.json) into the upload the sign-off expects:
    {"<slug>": <python -m tally run ballots-<slug>.pb --json output>, ...}. Plain Python, any system."""
    return (
        "python -c \"import json, sys; json.dump({s: json.load(open(s + '.json')) for s in sys.argv[1:]}, "
        f'sys.stdout)" {" ".join(slugs)} > signoff.json'
    )


def todo_for(user, election: Election) -> list[dict[str, Any]]:
    """What awaits this official or council member in the results stages of `election`, each with a link to
    the page where it is done; only what their role allows in the current phase (pb.core.permissions)."""
    from django.urls import reverse
    from django.utils.translation import gettext as _

    from pb.core.permissions import allowed
    from tally.signoff import signoff_status

    manage = reverse("tally:manage", args=[election.slug])
    items: list[dict[str, Any]] = []
    if allowed(user, "tally.close", election):
        items.append({"id": "close", "text": _("Close the vote (two officials)"), "url": manage + "#h-close"})
    if allowed(user, "tally.run", election) and election.phase == Phase.VOTING_CLOSED:
        items.append({"id": "count", "text": _("Run the official count"), "url": manage + "#h-count"})
    if election.phase == Phase.TALLIED and (
        allowed(user, "tally.signoff", election) or allowed(user, "tally.certify", election)
    ):
        status = signoff_status(election)
        text = _("Sign-off: %(m)s of %(q)s matching re-counts") % {
            "m": status["matched"],
            "q": status["quorum"],
        }
        if status["mismatched"]:
            text += " · " + _("a mismatch to resolve")
        items.append({"id": "signoff", "text": text, "url": manage + "#h-signoff"})
        if allowed(user, "tally.certify", election) and status["reached"]:
            items.append(
                {"id": "certify", "text": _("Certify and sign the result"), "url": manage + "#h-cert"}
            )
    if allowed(user, "election.publish", election):
        items.append(
            {"id": "publish", "text": _("Check the certified PDF and publish"), "url": manage + "#h-cert"}
        )
    return items
