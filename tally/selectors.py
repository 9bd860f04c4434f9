"""Reads for the results pages."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404

from pb.core.models import Election, Phase
from tally.models import BallotLog, Certification, ExportFile, LogBatch, RunStatus, TallyRun


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
