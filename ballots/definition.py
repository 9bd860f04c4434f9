"""Stage 1, the definition: what the election is (pots, budgets, projects, rules, the roll's hash, the
anonymity set K), frozen as canonical JSON when voting opens (`definition_freeze`, run by the phase hook
below after the roll snapshot) and never edited after. Every later stage reads the frozen bytes
(`frozen_definition`); docs/verification.md section 2 gives the format."""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from ballots.ballotbox import pending as pending_ballots
from ballots.models import (
    BallotLog,
    DefinitionFreeze,
    RollSnapshot,
    VoterRollEntry,
)
from pb.core.audit import audit_record
from pb.core.exceptions import PhaseError
from pb.core.models import Election, Phase, Pot
from proposals.models import Proposal, ProposalStatus
from tally.engine import registry
from tally.engine.canonical import canonical_json, sha256_hex


class DefinitionFrozen(PhaseError):
    pass


def _roll(election: Election) -> dict[str, Any] | None:
    snap = RollSnapshot.objects.filter(election=election).first()
    if snap is not None:
        return {"entries": snap.entries, "sha256": snap.sha256}
    # The roll helper's hook takes the snapshot when voting opens; should it not have run (yet), record our
    # own hash of the roll (sorted keyed reference hashes, one per line) so the freeze never lacks one.
    refs = sorted(VoterRollEntry.objects.filter(election=election).values_list("ref_hash", flat=True))
    if not refs:
        return None
    return {"entries": len(refs), "sha256": sha256_hex("".join(r + "\n" for r in refs).encode())}


def definition_build(election: Election) -> dict[str, Any]:
    """The definition as it stands in the database now (what the freeze records)."""
    pots = []
    for pot in Pot.objects.filter(election=election).order_by("slug"):
        projects = Proposal.objects.filter(pot=pot, status=ProposalStatus.FEASIBLE).select_related("category")
        pots.append(
            {
                "slug": pot.slug,
                "name": pot.name,
                "budget": pot.budget,
                "citywide": pot.is_citywide,
                "ballot_type": pot.ballot_type,
                "ballot_rules": {
                    "min_selections": pot.min_selections,
                    "max_selections": pot.max_selections,
                    "points_total": pot.points_total,
                    "points_max_per_project": pot.points_max_per_project,
                    "min_spend_percent": pot.min_spend_percent,
                },
                "projects": [
                    {
                        "id": p.code,
                        "name": p.title,
                        "cost": p.final_cost,
                        "category": p.category.slug if p.category else "",
                    }
                    for p in sorted(projects, key=lambda p: p.code)
                ],
            }
        )
    return {
        "format": "pb-definition/1",
        "election": {
            "slug": election.slug,
            "name": election.name,
            "city": election.city,
            "currency": election.currency,
        },
        "eligibility": {
            "min_age": election.min_age,
            "age_reference_date": election.age_reference_date.isoformat()
            if election.age_reference_date
            else None,
        },
        "counting": {
            "rule": election.rule,
            "tie_break": election.tie_break,
            "seed": election.tie_break_seed,
            # Stated even at its default, so the definition says what happens to projects nobody voted for.
            "options": {"unsupported": "fund_if_money_left" if election.fund_unsupported else "never"},
        },
        "pots": pots,
        "roll": _roll(election),
        # docs/secrecy.md: no published or stored ballot can be narrowed to fewer than K voters.
        "secrecy": {"anonymity_k": pending_ballots.anonymity_k_setting()},
    }


def definition_freeze(*, election: Election) -> DefinitionFreeze:
    """Called inside the phase change to voting_open (PHASE_HOOKS). Idempotent."""
    existing = DefinitionFreeze.objects.filter(election=election).first()
    if existing is not None:
        return existing
    definition = definition_build(election)
    if not any(p["projects"] for p in definition["pots"]):
        raise PhaseError(_("There is no feasible project on the ballot: voting cannot open."))
    registry.get(definition["counting"]["rule"])  # an unknown rule must stop the vote from opening
    data = canonical_json(definition)
    freeze = DefinitionFreeze.objects.create(
        election=election,
        canonical=data.decode(),
        sha256=sha256_hex(data),
        frozen_at=timezone.now().replace(microsecond=0),
    )
    BallotLog.objects.create(election=election, head=freeze.sha256)
    audit_record(
        actor=None,
        action="tally.definition_frozen",
        election=election,
        obj=freeze,
        data={"sha256": freeze.sha256},
    )
    return freeze


def definition_is_frozen(election: Election) -> bool:
    return DefinitionFreeze.objects.filter(election_id=election.pk).exists()


def definition_assert_editable(election: Election) -> None:
    """Guard for services that edit pots, projects, costs or election rules: refuse once frozen."""
    if definition_is_frozen(election):
        raise DefinitionFrozen(
            _("The election definition was frozen when voting opened; it can no longer be changed.")
        )


def frozen_definition(election: Election) -> tuple[dict[str, Any], str]:
    freeze = DefinitionFreeze.objects.filter(election=election).first()
    if freeze is None:
        raise PhaseError(_("This election has no frozen definition (voting never opened)."))
    return json.loads(freeze.canonical), freeze.sha256


def definition_changed(election: Election) -> bool:
    """True if the database no longer matches the frozen definition (only the roll may be added later)."""
    frozen, _sha = frozen_definition(election)
    now = definition_build(election)
    now["roll"] = frozen["roll"]
    # K is the server's setting at the freeze, not part of what officials edit (and absent from definitions
    # frozen before it existed).
    if "secrecy" in frozen:
        now["secrecy"] = frozen["secrecy"]
    else:
        now.pop("secrecy", None)
    return canonical_json(now) != canonical_json(frozen)


def definition_phase_hook(*, election: Election, actor, to_phase: str) -> None:
    """PHASE_HOOK (ballots.apps, after the roll snapshot): freeze the definition when voting opens."""
    if to_phase == Phase.VOTING_OPEN:
        definition_freeze(election=election)
