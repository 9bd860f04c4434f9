"""The tally page's long steps as jobs (pb.core.jobs): a sign-off re-count, the certification (manifest, PDF,
PAdES signature, files) and the publication (the signed publication record and the files). Registered by
TallyConfig.ready; the manage page's buttons start them (tally.views) and send the official to the job page.

Each `run` re-checks under the election's row lock whether its work is already there and, if so, finishes
as a no-op pointing at it: a task delivered twice, or run again after its worker died, never certifies,
signs off or publishes twice (the services' own locks and unique constraints are the last word)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pb.core.exceptions import DomainError
from pb.core.jobs.services import JobKind, job_kind_register
from pb.core.models import Election, Job, Phase
from pb.core.permissions import require
from tally.certification.services import certify_precheck, election_certify
from tally.counting import official_run
from tally.models import Certification, SignOff
from tally.publication import election_publish
from tally.signoff import signoff_recount, signoff_recount_precheck

CERTIFY, SIGNOFF_RECOUNT, PUBLISH = "tally.certify", "tally.signoff_recount", "tally.publish"


def _actor(job: Job):
    if job.started_by is None:
        raise DomainError(_("The account that started this job no longer exists: start it again."))
    return job.started_by


def _locked(job: Job) -> Election:
    return Election.objects.select_for_update().get(pk=job.election_id)


def _certify(job: Job, progress) -> dict[str, Any]:
    election = _locked(job)
    done = Certification.objects.filter(election=election).first()
    if done is not None:  # an earlier delivery of this job committed it
        return {"certification": done.pk}
    cert = election_certify(actor=_actor(job), election=election, progress=progress)
    return {"certification": cert.pk}


def _signoff_recount(job: Job, progress) -> dict[str, Any]:
    election = _locked(job)
    run = official_run(election)
    mine = SignOff.objects.filter(
        run=run,
        official_id=job.started_by_id,
        method=SignOff.Method.SERVER,
        withdrawn_at__isnull=True,
        created_at__gte=job.created_at,
    ).first()
    if run is not None and mine is not None:  # this job's sign-off, committed by an earlier delivery
        return {"signoff": mine.pk, "matched": mine.matched}
    s = signoff_recount(actor=_actor(job), election=election, progress=progress)
    return {"signoff": s.pk, "matched": s.matched}


def _publish_precheck(*, actor, election: Election) -> None:
    require(actor, "election.publish", election)
    if not Certification.objects.filter(election=election).exists():
        raise DomainError(_("There is no certified result to publish."))


def _publish(job: Job, progress) -> dict[str, Any]:
    election = _locked(job)
    if election.phase == Phase.PUBLISHED:
        return {"published": True}
    progress(phase=_("Signing the publication record and writing the published files"), done=0, total=1)
    election_publish(actor=_actor(job), election=election)
    return {"published": True}


def _manage(job: Job, section: str) -> str:
    return reverse("tally:manage", args=[job.election.slug]) + "#" + section


def _signoff_text(job: Job) -> str:
    if job.result.get("matched"):
        return _("Your re-count matches the official count.")
    return _("Your re-count does NOT match the official count.")


def register() -> None:
    job_kind_register(
        JobKind(
            kind=CERTIFY,
            label=gettext_lazy("Certification of the result"),
            permission="tally.certify",
            precheck=certify_precheck,
            run=_certify,
            result_url=lambda job: _manage(job, "h-cert"),
            result_text=lambda job: _("Certified and signed. Check the PDF before publishing."),
        )
    )
    job_kind_register(
        JobKind(
            kind=SIGNOFF_RECOUNT,
            label=gettext_lazy("Re-count on the server and sign-off"),
            permission="tally.signoff",
            precheck=signoff_recount_precheck,
            run=_signoff_recount,
            result_url=lambda job: _manage(job, "h-signoff"),
            result_text=_signoff_text,
            personal=True,
        )
    )
    job_kind_register(
        JobKind(
            kind=PUBLISH,
            label=gettext_lazy("Publication of the results"),
            permission="election.publish",
            precheck=_publish_precheck,
            run=_publish,
            result_url=lambda job: reverse("tally:results", args=[job.election.slug]),
            result_text=lambda job: _("The results are published."),
        )
    )
