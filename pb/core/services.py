"""Election state changes. Each is atomic, permission-checked, and audited."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from pb.core.audit import audit_record
from pb.core.exceptions import PhaseError
from pb.core.models import PHASE_ORDER, Election, Phase
from pb.core.permissions import require

# Hooks other apps register to run inside the phase-change transaction (e.g. ballots snapshots the roll and
# tally freezes the definition when voting opens). Signature: hook(*, election, actor, to_phase) -> None.
PHASE_HOOKS: list = []

# Which MATRIX action a step into a phase needs: certifying and publishing belong to the council.
ADVANCE_ACTION: dict[str, str] = {
    Phase.CERTIFIED: "tally.certify",
    Phase.PUBLISHED: "election.publish",
}


def next_phase(election: Election) -> str | None:
    idx = PHASE_ORDER.index(election.phase)
    return PHASE_ORDER[idx + 1] if idx + 1 < len(PHASE_ORDER) else None


@transaction.atomic
def election_advance(*, actor, election: Election, to_phase: str) -> Election:
    """Move the election exactly one phase forward."""
    # Lock the row: two officials clicking at once must not both advance (or skip a phase).
    election = Election.objects.select_for_update().get(pk=election.pk)
    require(actor, ADVANCE_ACTION.get(to_phase, "election.advance"), election)
    current = PHASE_ORDER.index(election.phase)
    if to_phase not in PHASE_ORDER or PHASE_ORDER.index(to_phase) != current + 1:
        raise PhaseError(
            _("Cannot go from “%(from)s” to “%(to)s”: phases change one step at a time, in order.")
            % {
                "from": Phase(election.phase).label,
                "to": Phase(to_phase).label if to_phase in PHASE_ORDER else to_phase,
            }
        )
    for hook in PHASE_HOOKS:
        hook(election=election, actor=actor, to_phase=to_phase)
    previous = election.phase
    election.phase = to_phase
    election.save(update_fields=["phase"])
    audit_record(
        actor=actor,
        action="election.phase",
        election=election,
        obj=election,
        data={"from": previous, "to": to_phase},
    )
    return election
