"""The tally side's guard on phase changes (registered in pb.core.services.PHASE_HOOKS by tally.apps):
closing the vote needs a confirmed close request (tally.closing) and seals what is still pending; the
tallied phase needs an official count (tally.counting); the certified phase is reached only through
certification (tally.certification)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from ballots.ballotbox.sealing import ballots_seal_pending
from ballots.reconciliation.services import reconciliation_require_resolved
from pb.core.exceptions import PhaseError
from pb.core.models import Election, Phase
from tally.counting import official_run
from tally.models import (
    Certification,
    CloseRequest,
)


def tally_phase_hook(*, election: Election, actor, to_phase: str) -> None:
    """Runs inside election_advance (pb.core.services.PHASE_HOOKS)."""
    if to_phase == Phase.VOTING_CLOSED:
        confirmed = CloseRequest.objects.filter(
            election=election, cancelled=False, confirmed_by__isnull=False
        ).exists()
        if not confirmed:
            raise PhaseError(_("Closing the vote needs two officials: one asks, another confirms."))
        ballots_seal_pending(election_id=election.pk, final=True, hold_for_paper=True)
        # After the final seal, so every ballot is counted (issue 9: reconciliation that binds).
        reconciliation_require_resolved(election, closing=True)
    elif to_phase == Phase.TALLIED:
        if official_run(election) is None:
            raise PhaseError(_("Run the official count first."))
    elif to_phase == Phase.CERTIFIED and not Certification.objects.filter(election=election).exists():
        raise PhaseError(_("Use the certification page: the council signs the result manifest."))
