"""Stage 4, counting: the official count and what-if counts. `tally_start` records a `TallyRun` and enqueues
`tally_run_task` (django.tasks, "default" queue); the worker runs `tally_run_execute`, which checks the
ballot log, builds the .pb files from the sealed ballots and counts each pot with the frozen rule
(tally.engine.registry)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.tasks import TaskContext, task
from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.ballotbox.sealing import ballot_lines_by_pot, ballots_seal_pending, log_problems
from ballots.definition import frozen_definition
from ballots.exceptions import CountMismatch
from ballots.reconciliation.services import reconciliation_require_resolved
from pb.core.audit import audit_record
from pb.core.exceptions import DomainError, PhaseError
from pb.core.models import BallotType, Election, Phase
from pb.core.permissions import require
from pb.core.services import election_advance
from tally.engine import ENGINE_NAME, ENGINE_VERSION, metrics, pabulib, registry
from tally.engine import manifest as mf
from tally.engine.canonical import canonical_hash
from tally.engine.ties import TieBreak
from tally.filestore import build_files, files_store, stored_file
from tally.models import (
    ExportFile,
    ExportKind,
    RunStatus,
    TallyRun,
)


def count_pot(definition: dict, pb_bytes: bytes, *, rule: str | None = None, with_metrics: bool = False):
    """(outcome JSON, ballots[, metrics]) of one pot's .pb file, counted with the frozen tie-break."""
    counting = definition["counting"]
    election = pabulib.read(pb_bytes)
    tb = TieBreak.parse(counting["tie_break"], list(election.instance.projects), counting["seed"] or None)
    outcome = registry.run(
        rule or counting["rule"], election, tie_break=tb, options=counting.get("options") or {}
    )
    if with_metrics:
        return outcome.to_json(), len(election.profile.ballots), metrics.compute(election, outcome)
    return outcome.to_json(), len(election.profile.ballots)


@transaction.atomic
def tally_start(*, actor, election: Election, rule: str | None = None) -> TallyRun:
    """Start the official run (no `rule`: the frozen rule) or a "what if" run with another rule."""
    require(actor, "tally.run", election)
    election = Election.objects.select_for_update().get(pk=election.pk)
    definition, _sha = frozen_definition(election)
    counting = definition["counting"]
    official = rule is None or (rule == counting["rule"] and election.phase == Phase.VOTING_CLOSED)
    if official and election.phase != Phase.VOTING_CLOSED:
        raise PhaseError(_("The official count has already been done."))
    if not official and not TallyRun.objects.filter(election=election, official=True, status=RunStatus.DONE):
        raise PhaseError(_("Run the official count first; “what if” runs use its exported files."))
    if official:
        reconciliation_require_resolved(election)
    if TallyRun.objects.filter(election=election, status__in=[RunStatus.PENDING, RunStatus.RUNNING]).exists():
        raise DomainError(_("A count is already running."))
    try:
        registry.get(rule or counting["rule"])
    except registry.UnknownRule as exc:
        raise DomainError(str(exc)) from None
    run = TallyRun.objects.create(
        election=election,
        official=official,
        rule=rule or counting["rule"],
        tie_break=counting["tie_break"],
        seed=counting["seed"],
        options=counting.get("options") or {},
        started_by=actor,
        created_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="tally.run_started",
        election=election,
        obj=run,
        data={"rule": run.rule, "official": official},
    )
    transaction.on_commit(lambda: tally_run_task.enqueue(run_id=run.pk))
    return run


@task(queue_name="default", takes_context=True)
def tally_run_task(context: TaskContext, run_id: int) -> None:
    if context.attempt > 1:
        # The worker that claimed the run died (pb.worker.lease queued this task again): take the run back.
        # Only a later attempt does, so a run is never counted by two live workers; the final write (DONE and
        # the phase change) is one transaction, and files already exported are exported again from the same
        # sealed log (the count reads the files as written).
        TallyRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(status=RunStatus.PENDING)
    tally_run_execute(run_id=run_id)


def _progress(run: TallyRun, text: str) -> None:
    TallyRun.objects.filter(pk=run.pk).update(progress=text)


def ballots_noun(ballot_type: str) -> str:
    """A pot's ballots by their type, as a sentence names them ("ranked ballots")."""
    return {
        BallotType.RANKED: _("ranked ballots"),
        BallotType.POINTS: _("points ballots"),
        BallotType.APPROVAL: _("approval ballots"),
        BallotType.KNAPSACK: _("knapsack ballots"),
    }.get(ballot_type, ballot_type)


def whatif_skip_reason(rule: str, pot_def: dict[str, Any]) -> str | None:
    """Why `rule` cannot count this pot (its registry entry does not list the pot's vote type), or None."""
    if mf.VOTE_TYPE[pot_def["ballot_type"]] in registry.get(rule).vote_types:
        return None
    return _("%(rule)s cannot count %(ballots)s: %(pot)s not counted") % {
        "rule": rule,
        "ballots": ballots_noun(pot_def["ballot_type"]),
        "pot": pot_def["name"],
    }


def tally_run_execute(*, run_id: int) -> TallyRun:
    """Count. The official run first seals the last batch and exports the files, then counts from the files
    as written (exactly what officials and the public re-count)."""
    run = TallyRun.objects.select_related("election", "started_by").get(pk=run_id)
    election = run.election
    # Claim the run: a task delivered twice (or a manual re-run) must not count again.
    if not TallyRun.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, progress=_("Preparing")
    ):
        return run
    try:
        definition, _sha = frozen_definition(election)
        if run.official:
            _progress(run, _("Sealing the last batch and exporting the ballot files"))
            with transaction.atomic():
                ballots_seal_pending(election_id=election.pk, final=True)
                lines = ballot_lines_by_pot(election)
                problems = log_problems(election, lines)
                if problems:
                    raise CountMismatch("; ".join(problems))
                hashes = files_store(election, build_files(election, lines=lines))
        else:
            hashes = {
                f.name: f.sha256
                for f in ExportFile.objects.filter(election=election)
                if f.kind in (ExportKind.PABULIB, ExportKind.JSONL, ExportKind.LOG, ExportKind.RECEIPTS)
            }
        results, summary, mets = {}, {}, {}
        pots = definition["pots"]
        for k, pot_def in enumerate(pots, start=1):
            slug = pot_def["slug"]
            _progress(
                run, _("Counting %(pot)s (%(k)s of %(n)s)") % {"pot": pot_def["name"], "k": k, "n": len(pots)}
            )
            skipped = None if run.official else whatif_skip_reason(run.rule, pot_def)
            if skipped:
                # A "what if" rule that cannot count this pot's ballots says so for this pot and counts the
                # others; the official count never gets here (its rule counts every pot, or it fails loudly).
                results[slug], summary[slug] = {"skipped": skipped}, {"skipped": skipped}
                continue
            data = stored_file(election, mf.pb_file(slug))
            out, n, met = count_pot(definition, data, rule=run.rule, with_metrics=True)
            results[slug], summary[slug], mets[slug] = out, mf.pot_result(out, n), met
        with transaction.atomic():
            run.results, run.summary, run.metrics, run.input_hashes = results, summary, mets, hashes
            run.engine_name, run.engine_version = ENGINE_NAME, ENGINE_VERSION
            run.status, run.progress, run.finished_at = RunStatus.DONE, "", timezone.now()
            run.save()
            audit_record(
                actor=run.started_by,
                action="tally.run_done",
                election=election,
                obj=run,
                data={"rule": run.rule, "official": run.official, "summary_sha256": canonical_hash(summary)},
            )
            if run.official:
                election_advance(actor=run.started_by, election=election, to_phase=Phase.TALLIED)
    except Exception as exc:
        TallyRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED,
            error=f"{type(exc).__name__}: {getattr(exc, 'message', exc)}",
            finished_at=timezone.now(),
        )
        if not isinstance(exc, DomainError | ValueError):
            raise
    run.refresh_from_db()
    return run


def official_run(election: Election) -> TallyRun | None:
    return TallyRun.objects.filter(election=election, official=True, status=RunStatus.DONE).first()
